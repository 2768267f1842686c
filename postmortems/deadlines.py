"""When a postmortem is due: N business days after resolution, end of that day, team's calendar.

The owning team's calendar decides (its time zone, working days, public holidays of its country
and subdivision, company holidays): incidents/oncall/business_hours.py. An incident without a
team follows the company calendar: the site's time zone (FIREBREAK_TIME_ZONE), Monday to Friday,
skipping the company holidays kept for every team and the public holidays the whole company has
off, those in every calendar (country and subdivision) its teams keep. A company whose teams
keep one country skips that country's public holidays; teams without a country are not asked.
"""

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from django.conf import settings

from incidents.models import CompanyHoliday, Incident, Team
from incidents.oncall.business_hours import SEARCH_LIMIT_DAYS, add_business_days

# The last instant of a day: a postmortem due "on Friday" is on time until Friday ends locally.
END_OF_DAY = time.max
DEFAULT_WEEKDAYS = frozenset({0, 1, 2, 3, 4})


def due_business_days() -> int:
    """Return how many business days after resolution a postmortem is due."""
    return int(settings.FIREBREAK_POSTMORTEM_DUE_BUSINESS_DAYS)


def _zone(team: Team | None) -> ZoneInfo:
    return ZoneInfo(team.time_zone if team is not None else settings.TIME_ZONE)


@lru_cache(maxsize=64)
def _public_holidays(country: str, subdivision: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, subdiv=subdivision or None, years=year)


def _company_calendars() -> list[tuple[str, str]]:
    """Return the (country, subdivision) public holiday calendars the company's teams keep."""
    return sorted(
        set(
            Team.objects.exclude(holiday_country="").values_list(
                "holiday_country", "holiday_subdivision"
            )
        )
    )


def is_company_holiday(day: date, calendars: list[tuple[str, str]] | None = None) -> bool:
    """Return whether the whole company is off on the day.

    A company holiday of every team, or a public holiday in every calendar its teams keep
    (`calendars`: _company_calendars(), read once by callers that ask about many days).
    """
    calendars = _company_calendars() if calendars is None else calendars
    if calendars and all(
        day in _public_holidays(country, sub, day.year) for country, sub in calendars
    ):
        return True
    return CompanyHoliday.objects.filter(date=day, teams__isnull=True).exists()


def _add_site_business_days(day: date, days: int) -> date:
    """Count the company's business days: Monday to Friday that are not company holidays."""
    calendars = _company_calendars()
    remaining = days
    for _ in range(SEARCH_LIMIT_DAYS + 7 * days):
        day += timedelta(days=1)
        if day.weekday() in DEFAULT_WEEKDAYS and not is_company_holiday(day, calendars):
            remaining -= 1
            if remaining == 0:
                return day
    raise ValueError(f"No business day within {SEARCH_LIMIT_DAYS} days.")


def due_date_after(*, team: Team | None, resolved_at: datetime, days: int | None = None) -> date:
    """Return the local date the postmortem is due: `days` business days after resolution."""
    if resolved_at.tzinfo is None:
        raise ValueError("Pass an aware datetime.")
    days = due_business_days() if days is None else days
    # The resolution's date is the team's local date, not UTC's: late Friday in California is
    # already Saturday in UTC.
    local_day = resolved_at.astimezone(_zone(team)).date()
    if team is None:
        return _add_site_business_days(local_day, days)
    return add_business_days(team=team, day=local_day, days=days)


def end_of_local_day(*, team: Team | None, day: date) -> datetime:
    """Return the last instant of the local day (23:59:59.999999), aware in the team's zone."""
    return datetime.combine(day, END_OF_DAY, tzinfo=_zone(team))


def postmortem_due_at(*, incident: Incident) -> datetime | None:
    """Return when the incident's postmortem is due; None while the incident is not resolved."""
    if incident.resolved_at is None:
        return None
    team = incident.team
    day = due_date_after(team=team, resolved_at=incident.resolved_at)
    return end_of_local_day(team=team, day=day)
