"""Telling the owning team about its incidents, once per event."""

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.links import absolute_url
from portal.mail import mail_send

from ..models import IncidentStatus, TeamNotification, TimelineEvent

logger = logging.getLogger(__name__)

# Events older than this when their notification runs are not sent.
STALE_AFTER = timedelta(hours=1)


def _status_line(event: TimelineEvent) -> str:
    """Return the incident's status as of the event (not as of sending), if the event moved it."""
    if event.to_value in IncidentStatus.values:
        return f"Status: {IncidentStatus(event.to_value).label}\n"
    return ""


def incident_notify_team(*, event_id: int) -> TeamNotification | None:
    """Email the owning team about one timeline event; a repeat of the same event sends nothing.

    The record and the email happen in one transaction: a failed send leaves no record (and the
    task retries); a crash after the mail server accepted the message may send it once more.
    """
    event = (
        TimelineEvent.objects.select_related("incident__team", "incident__severity")
        .filter(pk=event_id)
        .first()
    )
    if event is None:
        logger.info("notify skipped: timeline event %s no longer exists", event_id)
        return None
    if timezone.now() - event.occurred_at > STALE_AFTER:
        # Backfilled history (imports, demo data) or a queue that was down for long: news that
        # old would mislead more than inform.
        logger.info("notify skipped: event %s happened over %s ago", event_id, STALE_AFTER)
        return None
    team = event.incident.team
    if team is None or not team.email:
        logger.info("notify skipped: %s has no team address", event.incident.reference)
        return None
    incident = event.incident
    try:
        with transaction.atomic():
            notification = TeamNotification.objects.create(
                event=event, recipients=[team.email], sent_at=timezone.now()
            )
            link = absolute_url(f"/incidents/{incident.pk}/")
            mail_send(
                subject=f"[{incident.severity.code}] {incident.reference} "
                f"{event.get_kind_display().lower()}: {incident.title}",
                body=f"{event.message}\n\n{_status_line(event)}{link}\n",
                to=[team.email],
            )
    except IntegrityError:
        logger.info("notify skipped: event %s was already sent", event_id)
        return None
    return notification
