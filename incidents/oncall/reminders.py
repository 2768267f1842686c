"""Status update reminders for the IC and the Communicator, on the same timer rows as paging.

For a severity with an update cadence (P1 every 15, P2 every 30 minutes): five minutes after the
incident is declared or acknowledged without an internal status update, one reminder; then one
reminder per missed update interval while the incident is open. Each interval's timer is keyed by
the instant the update was due (`inc-<id>:remind-<generation>-at-<unix time>`), so an interval is
reminded of at most once whatever the wake-ups do.
"""

import logging
from datetime import datetime, timedelta

from django.utils import timezone

from incidents.models import Incident, IncidentRole, IncidentStatus, TimelineEvent
from incidents.selectors import incident_current_roles, incident_next_update_due
from portal.links import absolute_url
from portal.mail import mail_send
from portal.models import Timer
from portal.timers import timer_cancel, timer_handler, timer_schedule

logger = logging.getLogger(__name__)

REMIND_KIND = "oncall.update_reminder"
FIRST_REMINDER_AFTER = timedelta(minutes=5)


def _prefix(incident: Incident) -> str:
    return f"inc-{incident.pk}:remind-"


def _schedule_interval(incident: Incident, generation: int, due: datetime) -> None:
    timer_schedule(
        kind=REMIND_KIND,
        key=f"{_prefix(incident)}{generation}-at-{int(due.timestamp())}",
        due_at=due,
        payload={"incident_id": incident.pk, "generation": generation, "due": due.isoformat()},
        priority=incident.severity.rank,
    )


def _has_cadence(incident: Incident) -> bool:
    return (
        incident.severity.update_interval is not None
        and incident.is_open
        and incident.status != IncidentStatus.TRIGGERED
    )


def reminders_start(*, incident: Incident, generation: int) -> None:
    """Schedule the first reminder and the next update interval's, if the severity has a cadence."""
    if not _has_cadence(incident):
        return
    started = incident.acknowledged_at or incident.detected_at
    if generation:
        reopened = (
            incident.timeline.filter(kind=TimelineEvent.Kind.REOPENED)
            .order_by("-occurred_at")
            .first()
        )
        started = reopened.occurred_at if reopened else timezone.now()
    timer_schedule(
        kind=REMIND_KIND,
        key=f"{_prefix(incident)}{generation}-first",
        due_at=started + FIRST_REMINDER_AFTER,
        payload={
            "incident_id": incident.pk,
            "generation": generation,
            "first": True,
            "since": started.isoformat(),
        },
        priority=incident.severity.rank,
    )
    due = incident_next_update_due(incident)
    if due is not None:
        _schedule_interval(incident, generation, max(due, started + FIRST_REMINDER_AFTER))


def reminders_replan(*, incident: Incident, generation: int) -> None:
    """Move the pending interval reminder to the cadence of the incident's current severity."""
    timer_cancel(key_prefix=f"{_prefix(incident)}{generation}-at-")
    if not _has_cadence(incident):
        return
    due = incident_next_update_due(incident)
    if due is not None:
        _schedule_interval(incident, generation, max(due, timezone.now()))


def reminders_stop(*, incident: Incident) -> int:
    """Cancel the incident's pending reminders; return how many."""
    return timer_cancel(key_prefix=_prefix(incident))


def _remind(incident: Incident, why: str) -> int:
    roles = incident_current_roles(incident=incident)
    people = {
        assignment.user.email
        for role, assignment in roles.items()
        if role in (IncidentRole.COMMANDER, IncidentRole.COMMUNICATOR) and assignment.user.email
    }
    if not people:
        return 0
    link = absolute_url(f"/incidents/{incident.pk}/")
    mail_send(
        subject=f"[{incident.severity.code}] {incident.reference}: status update due",
        body=f"{incident.title}\n\n{why}\nPost an internal status update: {link}\n",
        to=sorted(people),
    )
    return len(people)


@timer_handler(REMIND_KIND, queue="paging")
def fire_update_reminder(timer: Timer) -> str:
    """Remind the IC and Communicator once if this interval passed without a status update."""
    from .paging import _generation

    payload = timer.payload
    incident = Incident.objects.select_related("severity").filter(pk=payload["incident_id"]).first()
    if incident is None:
        return "incident gone"
    if not _has_cadence(incident):
        return f"stopped: {incident.reference} is {incident.status} at {incident.severity.code}"
    generation = payload["generation"]
    if generation != _generation(incident):
        return "stopped: superseded by a reopening"
    if payload.get("first"):
        since = datetime.fromisoformat(payload["since"])
        if incident.status_updates.filter(posted_at__gte=since).exists():
            return "status update posted"
        sent = _remind(incident, "No internal status update has been posted yet.")
        return f"first reminder to {sent}"
    interval = incident.severity.update_interval
    planned = datetime.fromisoformat(payload["due"])
    due = incident_next_update_due(incident)
    if due is None or interval is None:
        return "no cadence"
    if due > planned:
        _schedule_interval(incident, generation, due)
        return f"update posted; next due {due:%H:%M}"
    sent = _remind(incident, f"The update due at {timezone.localtime(planned):%H:%M} is missing.")
    _schedule_interval(incident, generation, planned + interval)
    return f"reminded {sent}"
