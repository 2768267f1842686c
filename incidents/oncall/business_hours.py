"""A team's business hours: its time zone, working days, daily hours and public holidays.

Business time is the owning team's (docs/ARCHITECTURE.md, Incident lifecycle). Public holidays
come from the `holidays` package for the team's country and subdivision; company holidays are
kept in the admin, for every team or for some.
"""

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from django.db.models import Q

from incidents.models import CompanyHoliday, Team

# Far more than any real calendar needs to reach its next working day.
SEARCH_LIMIT_DAYS = 400


@lru_cache(maxsize=256)
def _holiday_calendar(country: str, subdivision: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, subdiv=subdivision or None, years=year)


def is_holiday(*, team: Team, day: date) -> bool:
    """Return whether the day is a public holiday where the team works, or a company holiday."""
    if team.holiday_country and day in _holiday_calendar(
        team.holiday_country, team.holiday_subdivision, day.year
    ):
        return True
    # Kept in the admin and edited at any time, so read fresh.
    return (
        CompanyHoliday.objects.filter(date=day)
        .filter(Q(teams__isnull=True) | Q(teams=team))
        .exists()
    )


def is_business_day(*, team: Team, day: date) -> bool:
    """Return whether the team works on this (local) calendar day."""
    return day.weekday() in team.business_days and not is_holiday(team=team, day=day)


def _local(team: Team, day: date, at: time) -> datetime:
    """Return the instant of a local wall-clock time of the team, in the team's zone."""
    zone = ZoneInfo(team.time_zone)
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC).astimezone(zone)


def _require_aware(at: datetime) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("Pass an aware datetime.")


def is_business_time(*, team: Team, at: datetime) -> bool:
    """Return whether the instant falls in the team's business hours on a business day."""
    _require_aware(at)
    local = at.astimezone(ZoneInfo(team.time_zone))
    if not is_business_day(team=team, day=local.date()):
        return False
    return team.business_day_start <= local.time() < team.business_day_end


def next_business_start(*, team: Team, at: datetime) -> datetime:
    """Return `at` if it is business time, else when the team's business hours next begin.

    The result is aware, in the team's time zone.
    """
    _require_aware(at)
    zone = ZoneInfo(team.time_zone)
    if is_business_time(team=team, at=at):
        return at.astimezone(zone)
    day = at.astimezone(zone).date()
    for _ in range(SEARCH_LIMIT_DAYS):
        if is_business_day(team=team, day=day):
            opens = _local(team, day, team.business_day_start)
            # Compare in UTC: aware datetimes sharing a tzinfo compare by wall clock.
            if opens.astimezone(UTC) > at.astimezone(UTC):
                return opens
        day += timedelta(days=1)
    raise ValueError(f"{team} has no business day within {SEARCH_LIMIT_DAYS} days.")


def add_business_days(*, team: Team, day: date, days: int) -> date:
    """Return the business day that comes `days` business days after `day` (for due dates)."""
    if days < 1:
        raise ValueError("Count at least one business day.")
    remaining = days
    for _ in range(SEARCH_LIMIT_DAYS + 7 * days):
        day += timedelta(days=1)
        if is_business_day(team=team, day=day):
            remaining -= 1
            if remaining == 0:
                return day
    raise ValueError(f"{team} has no business day within {SEARCH_LIMIT_DAYS} days.")
