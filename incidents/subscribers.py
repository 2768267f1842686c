"""What the incident core itself does about its events (registered in IncidentsConfig.ready)."""

from portal.events import subscribe

from .events import TimelineRecorded
from .models import TimelineEvent
from .services.notifications import incident_notify_team

# Events the owning team hears about by email (the team channel, until Slack is connected).
TEAM_NOTIFIED_KINDS = frozenset(
    {
        TimelineEvent.Kind.DECLARED,
        TimelineEvent.Kind.TRIGGERED,
        TimelineEvent.Kind.SEVERITY_CHANGED,
        TimelineEvent.Kind.RESOLVED,
        TimelineEvent.Kind.REOPENED,
    }
)


def _team_hears_of(event: TimelineRecorded) -> bool:
    incident = event.incident
    has_team = incident.team_id is not None if incident is not None else True
    return event.kind in TEAM_NOTIFIED_KINDS and has_team


# Ranked by the incident's severity: on the default queue a P1's team mail goes before P3 news.
@subscribe(
    TimelineRecorded,
    name="incidents.notify_team",
    durable=True,
    when=_team_hears_of,
    priority=TimelineRecorded.severity_rank,
)
def notify_team(event: TimelineRecorded) -> str:
    """Mail the owning team about the event, or hold it for the team's digest (once each)."""
    notification = incident_notify_team(event_id=event.event_id)
    if notification is None:
        return "not sent"
    return "sent" if notification.sent_at is not None else "held for the team's digest"
