"""The runbook's initial status page update: within 5 minutes of a P1/P2 being declared.

When a P1 or P2 opens (or an incident is raised to one), one timer is due five minutes later.
If by then nothing was published, the Incident Commander and the Communicator are reminded,
once: the timer's key names the incident, so scheduling it again never adds a second one.
Publishing cancels it.
"""

import logging
from datetime import datetime, timedelta

from django.urls import reverse
from django.utils import timezone

from incidents.models import Incident, IncidentRole, Severity, Source, TimelineEvent
from incidents.selectors import incident_current_roles
from incidents.services import timeline_record
from portal.links import absolute_url
from portal.mail import mail_send
from portal.models import Timer
from portal.people import display_name
from portal.timers import timer_cancel, timer_handler, timer_schedule

from .models import PublicIncident

logger = logging.getLogger(__name__)

INITIAL_UPDATE_KIND = "statuspage.initial_update_due"
INITIAL_UPDATE_WITHIN = timedelta(minutes=5)
# Severity ranks (1 = P1) whose customers must hear from us within five minutes.
URGENT_RANKS = frozenset({1, 2})


def _key(incident: Incident) -> str:
    return f"inc-{incident.pk}:statuspage-initial-update"


def needs_initial_update(severity: Severity) -> bool:
    """Return whether incidents of this severity owe the public an update within 5 minutes."""
    return severity.rank in URGENT_RANKS


def initial_update_reminder_schedule(
    *, incident: Incident, since: datetime | None = None
) -> Timer | None:
    """Schedule the reminder 5 minutes after detection (or `since`, when raised to P1/P2)."""
    # Whether something was published meanwhile is checked when the timer fires (publishing
    # cancels it too): no query here, on the alert path.
    if not needs_initial_update(incident.severity) or not incident.is_open:
        return None
    start = max(since or incident.detected_at, incident.detected_at)
    return timer_schedule(
        kind=INITIAL_UPDATE_KIND,
        key=_key(incident),
        due_at=start + INITIAL_UPDATE_WITHIN,
        payload={"incident_id": incident.pk},
        precise=False,  # the sweep's few seconds do not matter to a reminder
    )


def initial_update_reminder_cancel(*, incident: Incident) -> int:
    """Cancel the incident's pending reminder (published, or resolved); return how many."""
    return timer_cancel(key=_key(incident))


def _publish_link(incident: Incident) -> str:
    path = reverse("incidents:public_update", kwargs={"pk": incident.pk})
    return absolute_url(path)


@timer_handler(INITIAL_UPDATE_KIND)
def fire_initial_update_due(timer: Timer) -> str:
    """Remind the IC and the Communicator once if a P1/P2 is still unpublished after 5 minutes."""
    incident = (
        Incident.objects.select_related("severity").filter(pk=timer.payload["incident_id"]).first()
    )
    if incident is None:
        return "incident gone"
    if not incident.is_open:
        return f"stopped: {incident.reference} is {incident.status}"
    if not needs_initial_update(incident.severity):
        return f"stopped: {incident.reference} is {incident.severity.code} now"
    if PublicIncident.objects.filter(incident=incident).exists():
        return "published"
    if not incident.customer_facing:
        return "not customer facing"
    roles = incident_current_roles(incident=incident)
    people = [
        roles[role].user
        for role in (IncidentRole.COMMANDER, IncidentRole.COMMUNICATOR)
        if role in roles
    ]
    addresses = sorted({person.email for person in people if person.email})
    names = ", ".join(dict.fromkeys(display_name(person) for person in people))
    now = timezone.now()
    if addresses:
        link = _publish_link(incident)
        subject = f"[{incident.severity.code}] {incident.reference}: publish to the status page"
        message = (
            f"{incident.title}\n\n"
            f"{incident.reference} is {incident.severity.code} and nothing has been published on "
            f"the status page yet. The runbook asks for the initial public update within "
            f"{int(INITIAL_UPDATE_WITHIN.total_seconds() // 60)} minutes.\n\n"
            f"Publish it here: {link}\n"
        )
        # Sent inside the timer's transaction: a failed send is retried, never lost.
        mail_send(subject=subject, body=message, to=addresses)
        note = f"Reminded {names} to publish the initial status page update."
    else:
        note = "No status page update yet, and no Incident Commander or Communicator to remind."
    timeline_record(
        incident=incident,
        kind=TimelineEvent.Kind.NOTE,
        actor=None,
        source=Source.SYSTEM,
        occurred_at=now,
        message=note,
        data={"reminder": INITIAL_UPDATE_KIND},
    )
    return f"reminded {len(addresses)}"
