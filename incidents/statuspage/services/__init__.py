"""Writes of the status page; the incident page, the admin and timers call these."""

from .components import component_status_set
from .maintenance import (
    MaintenanceTransitionNotAllowed,
    maintenance_reschedule,
    maintenance_schedule,
    maintenance_transition,
    maintenance_update,
)
from .notify import subscribers_notify_on_commit
from .publishing import NotPublished, public_postmortem_publish, public_update_publish

__all__ = [
    "MaintenanceTransitionNotAllowed",
    "NotPublished",
    "component_status_set",
    "maintenance_reschedule",
    "maintenance_schedule",
    "maintenance_transition",
    "maintenance_update",
    "public_postmortem_publish",
    "public_update_publish",
    "subscribers_notify_on_commit",
]
