"""The review meeting: invitations as iCalendar; a reschedule sends the next version."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.utils import timezone
from icalendar import Calendar

from portal.errors import InvalidInputError, PermissionDeniedError
from postmortems.models import Postmortem
from postmortems.services import PostmortemReadOnly, review_meeting_schedule
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def postmortem(incident_of, alice):
    return Postmortem.objects.get(incident=incident_of(alice, "P1"))


def invitation(message) -> Calendar:
    """Return the message's calendar attachment, parsed, checking it is a text/calendar part."""
    parts = [
        part for part in message.message().walk() if part.get_content_type() == "text/calendar"
    ]
    assert len(parts) == 1, "one invitation per email"
    part = parts[0]
    assert part.get_filename() == "invite.ics"
    calendar = Calendar.from_ical(part.get_payload(decode=True))
    assert part.get_param("method") == str(calendar["method"])
    return calendar


def event_of(calendar: Calendar):
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return events[0]


def schedule(postmortem, actor, at, attendees, capture):
    with capture(execute=True):
        return review_meeting_schedule(
            postmortem=postmortem, actor=actor, at=at, attendees=attendees
        )


def test_each_attendee_gets_an_invitation_they_can_add_to_their_calendar(
    postmortem, alice, bob, carol, django_capture_on_commit_callbacks
):
    at = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    schedule(postmortem, alice, at, [bob, carol], django_capture_on_commit_callbacks)

    postmortem.refresh_from_db()
    assert postmortem.review_meeting_at == at
    assert postmortem.review_meeting_scheduled_at is not None
    assert set(postmortem.review_meeting_attendees.all()) == {bob, carol}
    assert sorted(message.to[0] for message in mail.outbox) == [
        "bob@example.com",
        "carol@example.com",
    ]
    message = next(m for m in mail.outbox if m.to == ["bob@example.com"])
    assert "Postmortem review of INC-" in message.subject
    assert f"/postmortems/{postmortem.pk}/" in message.body

    calendar = invitation(message)
    assert calendar["method"] == "REQUEST"
    assert calendar.walk("VTIMEZONE"), "the zone of DTSTART travels with the invitation"
    event = event_of(calendar)
    assert str(event["uid"]).startswith(f"postmortem-review-{postmortem.pk}@")
    assert int(event["sequence"]) == 0
    start = event.decoded("dtstart")
    assert start == at
    assert str(start.tzinfo) == "Europe/Berlin"  # the owning team's zone
    assert event.decoded("dtend") - start == timedelta(hours=1)
    assert event["organizer"] == "mailto:firebreak@localhost"
    attendees = sorted(str(address) for address in event["attendee"])
    assert attendees == ["mailto:bob@example.com", "mailto:carol@example.com"]
    assert postmortem.incident.reference in str(event["summary"])
    assert f"/postmortems/{postmortem.pk}/" in str(event["description"])


def test_rescheduling_sends_the_next_version_of_the_same_invitation(
    postmortem, alice, bob, carol, django_capture_on_commit_callbacks
):
    first_at = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    schedule(postmortem, alice, first_at, [bob, carol], django_capture_on_commit_callbacks)
    first = event_of(invitation(mail.outbox[0]))
    mail.outbox.clear()

    later = first_at + timedelta(hours=3)
    schedule(postmortem, alice, later, [bob], django_capture_on_commit_callbacks)
    postmortem.refresh_from_db()
    assert postmortem.review_meeting_sequence == 1

    by_address = {message.to[0]: invitation(message) for message in mail.outbox}
    update = event_of(by_address["bob@example.com"])
    assert by_address["bob@example.com"]["method"] == "REQUEST"
    assert update["uid"] == first["uid"]
    assert int(update["sequence"]) == 1
    assert update.decoded("dtstart") == later
    # Carol was taken off the list: her calendar is told the meeting is off for her.
    cancel = by_address["carol@example.com"]
    assert cancel["method"] == "CANCEL"
    assert event_of(cancel)["uid"] == first["uid"]
    assert int(event_of(cancel)["sequence"]) == 1
    assert str(event_of(cancel)["status"]) == "CANCELLED"


def test_the_same_time_and_people_again_send_nothing(
    postmortem, alice, bob, django_capture_on_commit_callbacks
):
    at = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    schedule(postmortem, alice, at, [bob], django_capture_on_commit_callbacks)
    mail.outbox.clear()
    schedule(postmortem, alice, at, [bob], django_capture_on_commit_callbacks)
    assert mail.outbox == []
    postmortem.refresh_from_db()
    assert postmortem.review_meeting_sequence == 0


def test_an_outdated_version_is_not_sent(
    postmortem, alice, bob, django_capture_on_commit_callbacks
):
    from postmortems.mail import review_meeting_invites_send

    at = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    schedule(postmortem, alice, at, [bob], django_capture_on_commit_callbacks)
    schedule(postmortem, alice, at + timedelta(hours=1), [bob], django_capture_on_commit_callbacks)
    mail.outbox.clear()
    # A late retry of the first version's task must not undo the reschedule.
    assert review_meeting_invites_send(postmortem_id=postmortem.pk, sequence=0) == 0
    assert mail.outbox == []


@pytest.mark.parametrize(
    "change, field",
    [
        ({"at": datetime(2020, 1, 1, 10, 0, tzinfo=UTC)}, "at"),
        ({"at": datetime(2099, 1, 1, 10, 0)}, "at"),  # no time zone
        ({"attendees": []}, "attendees"),
    ],
)
def test_bad_input_is_refused(postmortem, alice, bob, change, field):
    arguments = {"at": timezone.now() + timedelta(days=1), "attendees": [bob], **change}
    with pytest.raises(InvalidInputError) as refused:
        review_meeting_schedule(postmortem=postmortem, actor=alice, **arguments)
    assert refused.value.field == field
    assert Postmortem.objects.get(pk=postmortem.pk).review_meeting_at is None


def test_an_attendee_needs_an_email_address(postmortem, alice):
    no_address = factories.responder("noah", email="")
    with pytest.raises(InvalidInputError, match="no email address"):
        review_meeting_schedule(
            postmortem=postmortem,
            actor=alice,
            at=timezone.now() + timedelta(days=1),
            attendees=[no_address],
        )


@pytest.mark.parametrize("who", ["carol", "viewer_user"])
def test_only_editors_schedule(request, postmortem, bob, who):
    with pytest.raises(PermissionDeniedError):
        review_meeting_schedule(
            postmortem=postmortem,
            actor=request.getfixturevalue(who),
            at=timezone.now() + timedelta(days=1),
            attendees=[bob],
        )


def test_a_published_postmortem_has_no_meeting_to_move(postmortem, alice, bob):
    Postmortem.objects.filter(pk=postmortem.pk).update(status=Postmortem.Status.PUBLISHED)
    with pytest.raises(PostmortemReadOnly):
        review_meeting_schedule(
            postmortem=postmortem,
            actor=alice,
            at=timezone.now() + timedelta(days=1),
            attendees=[bob],
        )
