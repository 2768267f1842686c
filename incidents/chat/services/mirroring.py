"""Mirroring the portal into incident channels: what is worth a message, and when to open one.

Mirrored: transitions (acknowledged, investigating, mitigated, resolved, reopened, closed),
severity changes, role assignments and releases, internal status updates (in the runbook's
template) and pages ("📟 Paged @olga (step 1)"). Not mirrored: the declaration itself (the
announcement and the welcome say it), scribe notes (too chatty for a war room, and pins from
the channel come back as notes: mirroring them would echo the channel to itself), detail edits
and alerts.
"""

from collections.abc import Sequence

from incidents.models import Incident, TimelineEvent
from incidents.oncall.models import Page

from ..models import ChatPost, IncidentChannel
from ..platform import chat_platform
from .channels import (
    channel_archive_cancel,
    channel_archive_schedule,
    channel_auto_opens,
    channel_open_schedule,
)
from .outbox import chat_post_enqueue

K = TimelineEvent.Kind
MIRRORED_KINDS = frozenset(
    {
        K.ACKNOWLEDGED,
        K.INVESTIGATING,
        K.MITIGATED,
        K.RESOLVED,
        K.REOPENED,
        K.CLOSED,
        K.SEVERITY_CHANGED,
        K.ROLE_ASSIGNED,
        K.ROLE_RELEASED,
        K.STATUS_UPDATE,
    }
)


def _wants_channel(event: TimelineEvent) -> bool:
    """Return whether the event makes a P1/P2 incident (declared, triggered, raised) need one."""
    incident = event.incident
    if event.kind in (K.DECLARED, K.TRIGGERED):
        return channel_auto_opens(incident.severity)
    if event.kind == K.SEVERITY_CHANGED:
        return incident.is_open and channel_auto_opens(incident.severity)
    return False


def _names_the_declared_commander(event: TimelineEvent) -> bool:
    """Return whether the event is the declaration naming its IC (recorded right after it)."""
    if not (
        event.kind == K.ROLE_ASSIGNED
        and event.data.get("role") == "commander"
        and not event.data.get("previous")
    ):
        return False
    before = event.incident.timeline.filter(pk__lt=event.pk).order_by("-pk").first()
    return before is not None and before.kind == K.DECLARED


def chat_timeline_event_mirror(*, event: TimelineEvent) -> ChatPost | None:
    """Queue a timeline event for the incident's channel, opening or archiving it as it asks.

    Runs inside the transaction that recorded the event, so the post commits (or not) with it.
    """
    platform = chat_platform()
    if platform is None:
        return None
    incident = event.incident
    if _wants_channel(event):
        channel_open_schedule(incident=incident, requested_by=None)
    channel = IncidentChannel.objects.filter(incident=incident, platform=platform.name).first()
    if channel is None:
        return None
    if event.kind == K.REOPENED:
        channel_archive_cancel(incident=incident)
        if channel.archived_at is not None:
            channel_open_schedule(incident=incident, requested_by=None)
            channel.refresh_from_db()
    elif event.kind == K.CLOSED and channel.archived_at is None:
        channel_archive_schedule(incident=incident, closed_event_id=event.pk)
    if channel.archived_at is not None or event.kind not in MIRRORED_KINDS:
        return None
    if _names_the_declared_commander(event):
        return None  # the welcome and the announcement name the IC already
    if event.kind == K.STATUS_UPDATE:
        update_id = event.data.get("status_update")
        if not update_id:
            return None
        return chat_post_enqueue(
            incident=incident,
            platform=platform.name,
            key=f"inc-{incident.pk}:update-{update_id}",
            kind=ChatPost.Kind.STATUS_UPDATE,
            status_update_id=update_id,
        )
    return chat_post_enqueue(
        incident=incident,
        platform=platform.name,
        key=f"inc-{incident.pk}:event-{event.pk}",
        kind=ChatPost.Kind.EVENT,
        event=event,
    )


def chat_pages_mirror(*, incident: Incident, pages: Sequence[Page]) -> ChatPost | None:
    """Queue "📟 Paged @olga (step 1)" for pages just written (one step's, in one transaction)."""
    platform = chat_platform()
    if platform is None or not pages:
        return None
    channel = IncidentChannel.objects.filter(incident=incident, platform=platform.name).first()
    if channel is None or channel.archived_at is not None:
        return None
    first = pages[0]
    return chat_post_enqueue(
        incident=incident,
        platform=platform.name,
        key=f"inc-{incident.pk}:pages-{first.step}",
        kind=ChatPost.Kind.PAGES,
        data={
            "kind": first.kind,
            "step": first.step,
            "step_number": first.step_number,
            "user_ids": list(dict.fromkeys(page.recipient_id for page in pages)),
            "requested_by": first.requested_by_id,
        },
    )
