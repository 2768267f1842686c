"""Writes of postmortems and action items; pages, the admin and tasks call these."""

from .meetings import review_meeting_schedule
from .postmortems import (
    EDITABLE_SECTIONS,
    PostmortemReadOnly,
    postmortem_author_add,
    postmortem_create,
    postmortem_incident_reopened,
    postmortem_incident_resolved,
    postmortem_row_update,
    postmortem_sync_timeline,
    postmortem_update,
    summary_prefill,
)
from .reviews import (
    ALLOWED_TRANSITIONS,
    PostmortemTransitionNotAllowed,
    approvals_required,
    postmortem_public_summary_post,
    postmortem_publish,
    postmortem_submit,
    publish_blocker,
    review_decide,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "EDITABLE_SECTIONS",
    "PostmortemReadOnly",
    "PostmortemTransitionNotAllowed",
    "approvals_required",
    "postmortem_author_add",
    "postmortem_create",
    "postmortem_incident_reopened",
    "postmortem_incident_resolved",
    "postmortem_public_summary_post",
    "postmortem_publish",
    "postmortem_row_update",
    "postmortem_submit",
    "postmortem_sync_timeline",
    "postmortem_update",
    "publish_blocker",
    "review_decide",
    "review_meeting_schedule",
    "summary_prefill",
]
# Action items (helper F) add their line below.
from .action_items import *  # noqa: F403
