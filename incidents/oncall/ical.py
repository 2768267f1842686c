"""A person's shifts as an iCalendar feed (RFC 5545), for subscribing from any calendar app."""

from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from django.contrib.auth.models import User
from icalendar import Calendar, Event

from portal.people import display_name

from .selectors import Shift

PRODUCT_ID = "-//Firebreak//On-call shifts//EN"


def shift_uid(shift: Shift, domain: str) -> str:
    """Return the event UID of a shift: the same shift keeps it from one download to the next."""
    start = shift.start.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"oncall-{shift.schedule.pk}-{shift.user.pk}-{start}@{domain}"


def shifts_calendar(
    *,
    user: User,
    shifts: Iterable[Shift],
    domain: str,
    schedule_url: Callable[[Shift], str],
    now: datetime,
) -> bytes:
    """Return the person's shifts as an iCalendar document, times in UTC."""
    calendar = Calendar()
    calendar.add("prodid", PRODUCT_ID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"On call: {display_name(user)}")
    for shift in shifts:
        event = Event()
        event.add("uid", shift_uid(shift, domain))
        event.add("dtstamp", now.astimezone(UTC))
        event.add("dtstart", shift.start.astimezone(UTC))
        event.add("dtend", shift.end.astimezone(UTC))
        event.add("summary", f"On call: {shift.schedule.name}")
        if shift.override is not None:
            detail = "Override" + (f": {shift.override.reason}" if shift.override.reason else "")
        else:
            detail = f"Rotation: {shift.rotation.name}" if shift.rotation else "Rotation"
        event.add("description", f"{detail}\n{schedule_url(shift)}")
        event.add("url", schedule_url(shift))
        event.add("transp", "TRANSPARENT")
        calendar.add_component(event)
    return calendar.to_ical()
