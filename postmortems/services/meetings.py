"""The postmortem review meeting: a time and attendees, who get an iCalendar invitation."""

from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from portal.auth import AnyUser
from portal.errors import InvalidInputError
from portal.people import display_name

from .. import policies
from ..models import Postmortem
from .mail_outbox import meeting_invites_schedule
from .postmortems import _lock, require_not_published

__all__ = ["review_meeting_schedule"]


def review_meeting_schedule(
    *,
    postmortem: Postmortem,
    actor: AnyUser,
    at: datetime,
    attendees: Iterable[User],
    now: datetime | None = None,
) -> Postmortem:
    """Schedule (or move) the review meeting and email each attendee an invitation.

    Rescheduling sends the new version of the same invitation (same UID, higher SEQUENCE);
    people taken off the list get a cancellation. The same time and people again change nothing.
    """
    policies.require_edit(actor, postmortem)
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidInputError("Give the meeting time with its time zone.", field="at")
    now = now or timezone.now()
    if at <= now:
        raise InvalidInputError("Choose a meeting time in the future.", field="at")
    people = list(dict.fromkeys(attendees))
    if not people:
        raise InvalidInputError("Invite at least one person.", field="attendees")
    for person in people:
        if not person.is_active or not policies.can_read_postmortems(person):
            raise InvalidInputError(
                f"{display_name(person)} can't sign in to read the postmortem; "
                "invite someone who can.",
                field="attendees",
            )
        if not person.email:
            raise InvalidInputError(
                f"{display_name(person)} has no email address for the invitation; add one first.",
                field="attendees",
            )
    with transaction.atomic():
        postmortem = _lock(postmortem)
        require_not_published(postmortem)
        before = set(postmortem.review_meeting_attendees.values_list("pk", flat=True))
        after = {person.pk for person in people}
        if postmortem.review_meeting_at == at and before == after:
            return postmortem
        if postmortem.review_meeting_scheduled_at is not None:
            postmortem.review_meeting_sequence += 1
        postmortem.review_meeting_at = at
        postmortem.review_meeting_scheduled_at = now
        postmortem.save(
            update_fields=[
                "review_meeting_at",
                "review_meeting_scheduled_at",
                "review_meeting_sequence",
                "updated_at",
            ]
        )
        postmortem.review_meeting_attendees.set(people)
        meeting_invites_schedule(
            postmortem_id=postmortem.pk,
            sequence=postmortem.review_meeting_sequence,
            cancelled_user_ids=sorted(before - after),
        )
    return postmortem
