"""Emails of the postmortem workflow: review requests, decisions, review meeting invitations.

Each function re-reads what it needs and sends nothing when the news is out of date (a review
already decided, a meeting rescheduled since). A repeated invitation is harmless by design: it
carries the same UID and SEQUENCE, so calendar apps treat it as the same version.
"""

import logging
from datetime import datetime, timedelta
from email.mime.base import MIMEBase
from email.mime.text import MIMEText
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from portal.links import absolute_url
from portal.mail import mail_send
from portal.people import display_name
from portal.templatetags.portal_tags import duration

from .invites import Meeting, review_meeting_calendar
from .models import Postmortem, Review

logger = logging.getLogger(__name__)

# The model keeps when the meeting starts; a review meeting is booked for an hour.
REVIEW_MEETING_LENGTH = timedelta(hours=1)


def postmortem_url(postmortem: Postmortem) -> str:
    """Return the absolute address of the postmortem's page."""
    path = reverse("postmortems:detail", kwargs={"pk": postmortem.pk})
    return absolute_url(path)


def review_request_notify(*, review_id: int, requested_by_id: int | None = None) -> bool:
    """Email a reviewer that a postmortem waits for their review; return whether it was sent."""
    review = (
        Review.objects.select_related("reviewer", "postmortem__incident")
        .filter(pk=review_id)
        .first()
    )
    if review is None or review.decision != Review.Decision.PENDING:
        logger.info("review request %s not sent: gone or decided", review_id)
        return False
    postmortem = review.postmortem
    if postmortem.status != Postmortem.Status.IN_REVIEW or not review.reviewer.email:
        logger.info("review request %s not sent: not in review or no address", review_id)
        return False
    requested_by = User.objects.filter(pk=requested_by_id).first() if requested_by_id else None
    incident = postmortem.incident
    body = render_to_string(
        "postmortems/email/review_request.txt",
        {
            "review": review,
            "postmortem": postmortem,
            "incident": incident,
            "requested_by": display_name(requested_by, fallback="Someone"),
            "link": postmortem_url(postmortem),
        },
    )
    mail_send(
        subject=f"[{incident.reference}] Please review the postmortem: {incident.title}",
        body=body,
        to=[review.reviewer.email],
    )
    return True


def review_decision_notify(*, review_id: int) -> int:
    """Email the authors what a reviewer decided; return how many addresses were sent to."""
    review = (
        Review.objects.select_related("reviewer", "postmortem__incident")
        .filter(pk=review_id)
        .first()
    )
    if review is None or review.decision == Review.Decision.PENDING:
        return 0
    postmortem = review.postmortem
    incident = postmortem.incident
    to = sorted(
        {
            author.email
            for author in postmortem.authors.all()
            if author.is_active and author.email and author.pk != review.reviewer_id
        }
    )
    if not to:
        return 0
    approved = review.decision == Review.Decision.APPROVED
    verb = "approved" if approved else "asked for changes to"
    body = render_to_string(
        "postmortems/email/review_decision.txt",
        {
            "review": review,
            "reviewer": display_name(review.reviewer),
            "verb": verb,
            "postmortem": postmortem,
            "incident": incident,
            "link": postmortem_url(postmortem),
        },
    )
    mail_send(
        subject=f"[{incident.reference}] {display_name(review.reviewer)} {verb} the postmortem",
        body=body,
        to=to,
    )
    return len(to)


def _calendar_part(ics: bytes, method: str) -> MIMEBase:
    part = MIMEText(ics.decode("utf-8"), "calendar", "utf-8")
    part.set_param("method", method)
    part.add_header("Content-Disposition", "attachment", filename="invite.ics")
    return part


def _meeting(postmortem: Postmortem, attendees: list[User]) -> Meeting:
    incident = postmortem.incident
    assert postmortem.review_meeting_at is not None
    return Meeting(
        postmortem_id=postmortem.pk,
        incident_reference=incident.reference,
        incident_title=incident.title,
        starts_at=postmortem.review_meeting_at,
        length=REVIEW_MEETING_LENGTH,
        time_zone=incident.team.time_zone if incident.team else settings.TIME_ZONE,
        sequence=postmortem.review_meeting_sequence,
        link=postmortem_url(postmortem),
        attendees=attendees,
    )


def _send_invitation(
    *, postmortem: Postmortem, meeting: Meeting, to: User, method: str, now: datetime
) -> None:
    incident = postmortem.incident
    local = meeting.starts_at.astimezone(ZoneInfo(meeting.time_zone))
    cancelled = method == "CANCEL"
    updated = meeting.sequence > 0
    prefix = "Cancelled: " if cancelled else ("Updated: " if updated else "")
    body = render_to_string(
        "postmortems/email/review_meeting.txt",
        {
            "postmortem": postmortem,
            "incident": incident,
            "meeting": meeting,
            "local_start": f"{local:%A %-d %B %Y, %H:%M} ({meeting.time_zone})",
            "length": duration(meeting.length),
            "cancelled": cancelled,
            "updated": updated,
            "attendee": display_name(to),
            "attendees": [display_name(person) for person in meeting.attendees],
            "link": meeting.link,
        },
    )
    mail_send(
        subject=f"{prefix}Postmortem review of {incident.reference}: {incident.title}",
        body=body,
        to=[to.email],
        attachments=[
            _calendar_part(review_meeting_calendar(meeting=meeting, method=method, now=now), method)
        ],
    )


def review_meeting_invites_send(
    *, postmortem_id: int, sequence: int, cancelled_user_ids: list[int] | None = None
) -> int:
    """Email each attendee the invitation of this version; tell people left out it's off.

    A version superseded by a later reschedule sends nothing: the later one says it all.
    Return how many emails were sent.
    """
    postmortem = (
        Postmortem.objects.select_related("incident__team").filter(pk=postmortem_id).first()
    )
    if postmortem is None or postmortem.review_meeting_at is None:
        return 0
    if postmortem.review_meeting_sequence != sequence:
        logger.info("invite %s/%s not sent: rescheduled since", postmortem_id, sequence)
        return 0
    attendees = [
        person
        for person in postmortem.review_meeting_attendees.order_by("username")
        if person.is_active and person.email
    ]
    meeting = _meeting(postmortem, attendees)
    now = timezone.now()
    sent = 0
    for person in attendees:
        _send_invitation(
            postmortem=postmortem, meeting=meeting, to=person, method="REQUEST", now=now
        )
        sent += 1
    left_out = User.objects.filter(pk__in=cancelled_user_ids or [], is_active=True).exclude(
        pk__in=[person.pk for person in attendees]
    )
    for person in left_out:
        if not person.email:
            continue
        cancel = _meeting(postmortem, [person])
        _send_invitation(postmortem=postmortem, meeting=cancel, to=person, method="CANCEL", now=now)
        sent += 1
    return sent
