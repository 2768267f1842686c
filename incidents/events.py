"""The incident core's domain events, published by its services inside their transactions.

Apps that follow the core (on-call, status page, chat, postmortems…) subscribe to them in their
`AppConfig.ready()`; the core imports none of them. See portal.events for the two kinds of
subscriber, and docs/ARCHITECTURE.md for who subscribes to what.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from portal.events import Event, event_type, transient

if TYPE_CHECKING:
    from .models import Incident, TimelineEvent


@dataclass(frozen=True, kw_only=True)
class IncidentEvent(Event):
    """Something happened to one incident; `at` is an ISO 8601 time."""

    incident_id: int
    at: str
    actor_id: int | None = None
    source: str = ""
    # The incident as the service left it, locked, and who acted: for in-transaction subscribers.
    incident: "Incident | None" = transient()
    actor: Any = transient()

    def locked_incident(self) -> "Incident":
        """Return the incident the publisher holds (in the transaction), else read it."""
        if self.incident is not None:
            return self.incident
        from .models import Incident

        return Incident.objects.select_related("severity", "team").get(pk=self.incident_id)

    def severity_rank(self) -> int:
        """Return the rank of the incident's severity (1 for P1), a durable subscriber's priority.

        Asked at publishing time, it reads the incident the publisher holds: no query.
        """
        return self.locked_incident().severity.rank


@event_type
@dataclass(frozen=True, kw_only=True)
class IncidentOpened(IncidentEvent):
    """An incident was declared by a person or triggered by an alert (`how`)."""

    name = "incident.opened"
    how: str  # "declared" or "triggered"
    severity: str


@event_type
@dataclass(frozen=True, kw_only=True)
class IncidentAcknowledged(IncidentEvent):
    name = "incident.acknowledged"


@event_type
@dataclass(frozen=True, kw_only=True)
class IncidentWorkStarted(IncidentEvent):
    """Investigation started (or resumed after a mitigation that did not hold)."""

    name = "incident.work_started"


@event_type
@dataclass(frozen=True, kw_only=True)
class IncidentMitigated(IncidentEvent):
    name = "incident.mitigated"


@event_type
@dataclass(frozen=True, kw_only=True)
class IncidentSeverityChanged(IncidentEvent):
    name = "incident.severity_changed"
    from_severity: str
    to_severity: str
    raised: bool


@event_type
@dataclass(frozen=True, kw_only=True)
class IncidentResolved(IncidentEvent):
    name = "incident.resolved"


@event_type
@dataclass(frozen=True, kw_only=True)
class IncidentReopened(IncidentEvent):
    name = "incident.reopened"


@event_type
@dataclass(frozen=True, kw_only=True)
class IncidentClosed(IncidentEvent):
    name = "incident.closed"


@event_type
@dataclass(frozen=True, kw_only=True)
class TimelineRecorded(IncidentEvent):
    """An event was appended to an incident's timeline (every service records through it)."""

    name = "incident.timeline_recorded"
    event_id: int
    kind: str
    timeline_event: "TimelineEvent | None" = transient()

    def recorded(self) -> "TimelineEvent":
        if self.timeline_event is not None:
            return self.timeline_event
        from .models import TimelineEvent

        return TimelineEvent.objects.select_related("incident").get(pk=self.event_id)


def incident_event_fields(
    incident: "Incident", *, at: Any, actor: Any = None, source: str = ""
) -> dict[str, Any]:
    """Return the fields every incident event carries, from the service's arguments."""
    actor_id = actor.pk if actor is not None and getattr(actor, "is_authenticated", False) else None
    return {
        "incident_id": incident.pk,
        "at": at.isoformat(),
        "actor_id": actor_id,
        "source": source,
        "incident": incident,
        "actor": actor,
    }
