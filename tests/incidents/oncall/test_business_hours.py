"""A team's business hours: weekends, public holidays, evenings, DST and other time zones."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from incidents.models import CompanyHoliday
from incidents.oncall.business_hours import (
    add_business_days,
    is_business_day,
    is_business_time,
    next_business_start,
)
from tests import factories

from .conftest import BERLIN, berlin

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(db):
    """Berlin office, Monday to Friday 09:00-17:00, German public holidays."""
    return factories.TeamFactory(
        slug="payments", name="Payments", time_zone="Europe/Berlin", holiday_country="DE"
    )


class TestIsBusinessTime:
    def test_weekday_hours_are_business_time_with_the_end_excluded(self, team):
        assert is_business_time(team=team, at=berlin(2026, 3, 6, 9, 0))  # Friday
        assert is_business_time(team=team, at=berlin(2026, 3, 6, 16, 59))
        assert not is_business_time(team=team, at=berlin(2026, 3, 6, 17, 0))
        assert not is_business_time(team=team, at=berlin(2026, 3, 6, 8, 59))

    def test_weekends_are_not_business_time(self, team):
        assert not is_business_time(team=team, at=berlin(2026, 3, 7, 11))  # Saturday
        assert not is_business_time(team=team, at=berlin(2026, 3, 8, 11))  # Sunday

    def test_public_holidays_are_not_business_time(self, team):
        assert not is_business_time(team=team, at=berlin(2026, 12, 25, 11))  # Friday, Christmas
        assert not is_business_time(team=team, at=berlin(2027, 1, 1, 11))  # Friday, New Year
        assert is_business_time(team=team, at=berlin(2026, 12, 24, 11))  # not a public holiday

    def test_without_a_holiday_calendar_holidays_are_working_days(self, team):
        team.holiday_country = ""
        assert is_business_time(team=team, at=berlin(2026, 12, 25, 11))

    def test_subdivision_holidays_count_only_there(self, team):
        # Epiphany (Wednesday 2027-01-06) is a holiday in Bavaria, not in Germany as a whole.
        assert is_business_time(team=team, at=berlin(2027, 1, 6, 11))
        team.holiday_subdivision = "BY"
        assert not is_business_time(team=team, at=berlin(2027, 1, 6, 11))

    def test_the_teams_zone_decides(self, team):
        instant = datetime(2026, 3, 6, 15, 30, tzinfo=UTC)  # 16:30 Berlin, 10:30 New York
        assert is_business_time(team=team, at=instant)
        team.time_zone = "Asia/Tokyo"  # 00:30 on Saturday there
        assert not is_business_time(team=team, at=instant)

    def test_custom_days_and_hours(self, team):
        team.business_days = [6, 0, 1, 2, 3]  # Sunday to Thursday
        team.business_day_start, team.business_day_end = time(8), time(16)
        team.holiday_country = ""
        assert is_business_time(team=team, at=berlin(2026, 3, 8, 8, 0))  # Sunday
        assert not is_business_time(team=team, at=berlin(2026, 3, 6, 10))  # Friday
        assert not is_business_time(team=team, at=berlin(2026, 3, 9, 16, 0))

    def test_naive_datetimes_are_refused(self, team):
        with pytest.raises(ValueError, match="aware"):
            is_business_time(team=team, at=datetime(2026, 3, 6, 10))


class TestNextBusinessStart:
    def test_inside_business_hours_it_is_now(self, team):
        at = berlin(2026, 3, 4, 11, 15)
        assert next_business_start(team=team, at=at) == at

    def test_late_evening_waits_for_the_next_morning(self, team):
        started = next_business_start(team=team, at=berlin(2026, 3, 3, 22, 30))  # Tuesday
        assert started == berlin(2026, 3, 4, 9, 0)
        assert started.tzinfo == BERLIN

    def test_early_morning_waits_for_nine_the_same_day(self, team):
        assert next_business_start(team=team, at=berlin(2026, 3, 4, 6, 0)) == berlin(2026, 3, 4, 9)

    def test_friday_evening_waits_for_monday(self, team):
        assert next_business_start(team=team, at=berlin(2026, 3, 6, 17, 0)) == berlin(2026, 3, 9, 9)
        assert next_business_start(team=team, at=berlin(2026, 3, 7, 12)) == berlin(2026, 3, 9, 9)

    def test_christmas_waits_until_after_the_holidays_and_the_weekend(self, team):
        # Thursday evening; Friday 25 and Saturday 26 are holidays, then Sunday.
        assert next_business_start(team=team, at=berlin(2026, 12, 24, 18)) == berlin(
            2026, 12, 28, 9
        )

    def test_new_years_eve_evening_waits_until_monday(self, team):
        assert next_business_start(team=team, at=berlin(2026, 12, 31, 18)) == berlin(2027, 1, 4, 9)

    def test_over_the_spring_forward_weekend_nine_is_summer_time(self, team):
        started = next_business_start(team=team, at=berlin(2026, 3, 27, 18))
        assert started == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)  # 09:00 CEST
        # The Friday before, 09:00 was 08:00 UTC.
        assert next_business_start(team=team, at=berlin(2026, 3, 26, 18)) == datetime(
            2026, 3, 27, 8, 0, tzinfo=UTC
        )

    def test_in_another_zone(self, team):
        team.time_zone, team.holiday_country = "America/New_York", "US"
        new_york = ZoneInfo("America/New_York")
        # 22:00 UTC Friday is 17:00 in New York: the next start is Monday 09:00 there.
        at = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
        assert next_business_start(team=team, at=at) == datetime(2026, 11, 30, 9, tzinfo=new_york)


class TestBusinessDays:
    def test_holidays_and_weekends_are_not_business_days(self, team):
        assert is_business_day(team=team, day=date(2026, 12, 24))
        assert not is_business_day(team=team, day=date(2026, 12, 25))
        assert not is_business_day(team=team, day=date(2026, 12, 27))

    def test_the_next_business_day_skips_holidays(self, team):
        assert add_business_days(team=team, day=date(2026, 12, 24), days=1) == date(2026, 12, 28)
        assert add_business_days(team=team, day=date(2026, 12, 31), days=1) == date(2027, 1, 4)

    def test_five_business_days_later(self, team):
        assert add_business_days(team=team, day=date(2026, 3, 2), days=5) == date(2026, 3, 9)
        assert add_business_days(team=team, day=date(2026, 12, 21), days=5) == date(2026, 12, 29)


class TestCompanyHolidays:
    def test_a_company_holiday_for_every_team_is_not_a_business_day(self, team):
        CompanyHoliday.objects.create(date=date(2026, 12, 24), name="Christmas Eve")
        assert not is_business_day(team=team, day=date(2026, 12, 24))
        assert add_business_days(team=team, day=date(2026, 12, 23), days=1) == date(2026, 12, 28)

    def test_a_company_holiday_of_another_team_is_a_working_day_here(self, team):
        other = factories.TeamFactory(slug="platform", name="Platform")
        holiday = CompanyHoliday.objects.create(date=date(2026, 12, 24), name="Offsite")
        holiday.teams.add(other)
        assert is_business_day(team=team, day=date(2026, 12, 24))
        assert not is_business_day(team=other, day=date(2026, 12, 24))
