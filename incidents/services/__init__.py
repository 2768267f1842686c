"""Writes of the incidents domain; every interface calls these."""

from .lifecycle import (
    ALLOWED_TRANSITIONS,
    TransitionNotAllowed,
    incident_acknowledge,
    incident_change_severity,
    incident_close,
    incident_declare,
    incident_mitigate,
    incident_reopen,
    incident_resolve,
    incident_start_investigating,
    incident_trigger,
    incident_update_details,
    transition_allowed,
)
from .notifications import incident_notify_team
from .roles import RoleTaken, incident_role_assign, incident_role_release
from .timeline import timeline_note_add, timeline_record
from .updates import status_update_post

__all__ = [
    "ALLOWED_TRANSITIONS",
    "RoleTaken",
    "TransitionNotAllowed",
    "incident_acknowledge",
    "incident_change_severity",
    "incident_close",
    "incident_declare",
    "incident_mitigate",
    "incident_notify_team",
    "incident_reopen",
    "incident_resolve",
    "incident_role_assign",
    "incident_role_release",
    "incident_start_investigating",
    "incident_trigger",
    "incident_update_details",
    "status_update_post",
    "timeline_note_add",
    "timeline_record",
    "transition_allowed",
]
