"""The review meeting as an iCalendar invitation (RFC 5545 with iTIP's REQUEST and CANCEL).

One postmortem has one review meeting, so its UID is stable; every reschedule raises SEQUENCE,
which is how calendar apps know an invitation replaces the one they have.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User
from icalendar import Calendar, Event, vCalAddress, vText

from portal.people import display_name

PRODUCT_ID = "-//Firebreak//Postmortem review//EN"
ORGANIZER_NAME = "Firebreak"


@dataclass(frozen=True)
class Meeting:
    """What an invitation says: the postmortem's meeting at one sequence number."""

    postmortem_id: int
    incident_reference: str
    incident_title: str
    starts_at: datetime
    length: timedelta
    time_zone: str
    sequence: int
    link: str
    attendees: Sequence[User]


def site_domain() -> str:
    """Return the portal's host name, which makes the UIDs globally unique."""
    return urlsplit(settings.FIREBREAK_BASE_URL).hostname or "localhost"


def meeting_uid(postmortem_id: int) -> str:
    """Return the review meeting's UID: the same for every version of the invitation."""
    return f"postmortem-review-{postmortem_id}@{site_domain()}"


def organizer_address() -> str:
    """Return the organizer's address: the portal's mailbox, the same on every version."""
    return str(settings.DEFAULT_FROM_EMAIL)


def _address(email: str, name: str, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    address.params["cn"] = vText(name)
    for key, value in params.items():
        address.params[key] = vText(value)
    return address


def review_meeting_calendar(*, meeting: Meeting, method: str, now: datetime) -> bytes:
    """Return the invitation (method REQUEST) or cancellation (CANCEL) as iCalendar bytes."""
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError("An invitation is a REQUEST or a CANCEL.")
    zone = ZoneInfo(meeting.time_zone)
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", method)
    event = Event()
    event.add("uid", meeting_uid(meeting.postmortem_id))
    event.add("sequence", meeting.sequence)
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", meeting.starts_at.astimezone(zone))
    event.add("dtend", (meeting.starts_at + meeting.length).astimezone(zone))
    event.add(
        "summary", f"Postmortem review: {meeting.incident_reference} {meeting.incident_title}"
    )
    event.add(
        "description",
        f"Review of the blameless postmortem of {meeting.incident_reference}.\n"
        f"Read it before the meeting: {meeting.link}",
    )
    event.add("url", meeting.link)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("organizer", _address(organizer_address(), ORGANIZER_NAME))
    for attendee in meeting.attendees:
        event.add(
            "attendee",
            _address(
                attendee.email,
                display_name(attendee),
                role="REQ-PARTICIPANT",
                partstat="NEEDS-ACTION",
                rsvp="FALSE",
            ),
            encode=False,
        )
    calendar.add_component(event)
    # DTSTART/DTEND carry TZID: ship the zone's definition so every calendar app can read it.
    calendar.add_missing_timezones()
    return calendar.to_ical()
