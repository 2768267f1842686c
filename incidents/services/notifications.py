"""Telling the owning team about its incidents, once per event."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import TeamNotification, TimelineEvent

logger = logging.getLogger(__name__)


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
            link = f"{settings.FIREBREAK_BASE_URL.rstrip('/')}/incidents/{incident.pk}/"
            send_mail(
                subject=f"[{incident.severity.code}] {incident.reference} "
                f"{event.get_kind_display().lower()}: {incident.title}",
                message=f"{event.message}\n\nStatus: {incident.get_status_display()}\n{link}\n",
                from_email=None,
                recipient_list=[team.email],
            )
    except IntegrityError:
        logger.info("notify skipped: event %s was already sent", event_id)
        return None
    return notification
