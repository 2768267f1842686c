"""The alerting app's domain events (see portal.events)."""

from dataclasses import dataclass

from portal.events import Event, event_type


@event_type
@dataclass(frozen=True, kw_only=True)
class AlertsGrouped(Event):
    """Alerts joined an open grouped incident (an alert storm, or a grouping rule's incident).

    Published in the ingestion transaction, once per delivery that added members; the opening
    of the grouped incident itself is an ordinary `IncidentOpened`. `members` is how many alerts
    the incident holds now, `joined` how many this delivery added.
    """

    name = "alerting.alerts_grouped"
    incident_id: int
    grouping_id: int
    kind: str  # "storm" or "labels"
    service_id: int | None
    joined: int
    members: int
    at: str
