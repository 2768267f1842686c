"""Writing the append-only timeline; every other service records through here."""

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from portal import events
from portal.auth import AnyUser
from portal.errors import InvalidInputError

from ..events import TimelineRecorded
from ..models import Incident, Source, TimelineEvent
from ..policies import Action, require


def timeline_record(
    *,
    incident: Incident,
    kind: str,
    actor: AnyUser | None,
    source: str,
    occurred_at: datetime,
    from_value: str = "",
    to_value: str = "",
    message: str = "",
    data: dict[str, Any] | None = None,
    corrects: TimelineEvent | None = None,
) -> TimelineEvent:
    """Append one event to the incident's timeline (inside the caller's transaction).

    Publishes `TimelineRecorded`, so every event reaches the team mail and the chat mirror.
    """
    with transaction.atomic(savepoint=False):
        return _record(
            incident=incident,
            kind=kind,
            actor=actor,
            source=source,
            occurred_at=occurred_at,
            from_value=from_value,
            to_value=to_value,
            message=message,
            data=data,
            corrects=corrects,
        )


def _record(
    *,
    incident: Incident,
    kind: str,
    actor: AnyUser | None,
    source: str,
    occurred_at: datetime,
    from_value: str,
    to_value: str,
    message: str,
    data: dict[str, Any] | None,
    corrects: TimelineEvent | None,
) -> TimelineEvent:
    event = TimelineEvent.objects.create(
        incident=incident,
        kind=kind,
        occurred_at=occurred_at,
        actor=actor if actor is not None and actor.is_authenticated else None,
        source=source,
        from_value=from_value,
        to_value=to_value,
        message=message,
        data=data or {},
        corrects=corrects,
    )
    events.publish(
        TimelineRecorded(
            incident_id=incident.pk,
            at=occurred_at.isoformat(),
            actor_id=event.actor_id,
            source=source,
            incident=incident,
            event_id=event.pk,
            kind=kind,
            timeline_event=event,
        )
    )
    return event


def timeline_note_add(
    *,
    incident: Incident,
    actor: AnyUser,
    body: str,
    occurred_at: datetime | None = None,
    corrects: TimelineEvent | None = None,
    source: str = Source.WEB,
) -> TimelineEvent:
    """Add a scribe note, dated within the incident's window; a correction points at its event."""
    require(actor, Action.NOTE, incident)
    body = body.strip()
    if not body:
        raise InvalidInputError("Write the note first.", field="body")
    now = timezone.now()
    occurred_at = occurred_at or now
    window_start = incident.impact_started_at
    if occurred_at < window_start:
        local_start = timezone.localtime(window_start)  # the reader's zone in a request
        raise InvalidInputError(
            f"A note can't be dated before the incident's impact started "
            f"({local_start:%Y-%m-%d %H:%M %Z}).",
            field="occurred_at",
        )
    if occurred_at > now:
        raise InvalidInputError("A note can't be dated in the future.", field="occurred_at")
    if corrects is not None and corrects.incident_id != incident.pk:
        raise InvalidInputError("That event belongs to another incident.", field="corrects")
    with transaction.atomic():
        return timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.NOTE,
            actor=actor,
            source=source,
            occurred_at=occurred_at,
            message=body,
            corrects=corrects,
        )
