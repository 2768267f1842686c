"""Reads for the incident page's engagement panel: who was engaged, pages, the next escalation."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import QuerySet

from incidents.models import Incident, TimelineEvent
from portal.models import Timer

from .escalation import PlanTarget, describe_target
from .models import IncidentEngagement, Page


@dataclass(frozen=True)
class NextEscalation:
    due_at: datetime
    number: int
    targets: str


def incident_engagement_get(*, incident: Incident) -> IncidentEngagement | None:
    """Return how the incident engaged people, or None before it was engaged."""
    return IncidentEngagement.objects.filter(incident=incident).first()


def incident_pages(*, incident: Incident) -> QuerySet[Page]:
    """Return the incident's pages, oldest first, with their recipients."""
    return Page.objects.filter(incident=incident).select_related("recipient", "requested_by")


def incident_next_escalation(*, incident: Incident) -> NextEscalation | None:
    """Return the next pending escalation step of the incident, if any."""
    from .paging import STEP_KIND

    timer = (
        Timer.objects.filter(
            kind=STEP_KIND,
            key__startswith=f"inc-{incident.pk}:esc-",
            state__in=[Timer.State.PENDING, Timer.State.CLAIMED],
        )
        .order_by("due_at")
        .first()
    )
    if timer is None:
        return None
    targets = [PlanTarget.from_payload(t) for t in timer.payload.get("targets", [])]
    return NextEscalation(
        due_at=timer.due_at,
        number=timer.payload.get("number", 0),
        targets=", ".join(describe_target(t) for t in targets),
    )


def incident_acknowledger(*, incident: Incident) -> tuple[User | None, datetime] | None:
    """Return who acknowledged the incident (None: its alert source) and when; None if nobody."""
    event = (
        incident.timeline.filter(
            kind__in=[TimelineEvent.Kind.ACKNOWLEDGED, TimelineEvent.Kind.DECLARED]
        )
        .select_related("actor")
        .order_by("occurred_at", "pk")
        .first()
    )
    if event is None or incident.acknowledged_at is None:
        return None
    return event.actor, incident.acknowledged_at
