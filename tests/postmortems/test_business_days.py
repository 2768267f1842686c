"""When a postmortem is due: 5 business days after resolution, end of that day, team's calendar."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.test import override_settings

from incidents.models import CompanyHoliday, Incident
from postmortems.deadlines import due_date_after, postmortem_due_at
from postmortems.models import Postmortem
from tests import factories

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
TOKYO = ZoneInfo("Asia/Tokyo")


def due(team, resolved_at: datetime) -> datetime:
    return postmortem_due_at(incident=Incident(team=team, resolved_at=resolved_at))


def end_of(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, 23, 59, 59, 999999, tzinfo=zone)


@pytest.fixture
def berlin(team_of):
    return team_of("berlin", time_zone="Europe/Berlin")


@pytest.fixture
def germany(team_of):
    return team_of("germany", time_zone="Europe/Berlin", country="DE")


@pytest.fixture
def usa(team_of):
    return team_of("usa", time_zone="America/New_York", country="US")


class TestWeekends:
    def test_five_business_days_skip_the_weekend(self, berlin):
        thursday = datetime(2025, 2, 6, 15, 0, tzinfo=BERLIN)
        # Fri, Mon, Tue, Wed, Thu.
        assert due(berlin, thursday) == end_of(date(2025, 2, 13), BERLIN)

    def test_a_resolution_on_saturday_counts_from_monday(self, berlin):
        saturday = datetime(2025, 2, 8, 11, 0, tzinfo=BERLIN)
        assert due(berlin, saturday) == end_of(date(2025, 2, 14), BERLIN)

    def test_the_team_s_working_days_decide(self, berlin):
        berlin.business_days = [6, 0, 1, 2, 3]  # Sunday to Thursday
        berlin.save()
        thursday = datetime(2025, 2, 6, 15, 0, tzinfo=BERLIN)
        # Sun, Mon, Tue, Wed, Thu.
        assert due(berlin, thursday) == end_of(date(2025, 2, 13), BERLIN)
        wednesday = datetime(2025, 2, 5, 15, 0, tzinfo=BERLIN)
        # Thu, Sun, Mon, Tue, Wed.
        assert due(berlin, wednesday) == end_of(date(2025, 2, 12), BERLIN)

    @override_settings(FIREBREAK_POSTMORTEM_DUE_BUSINESS_DAYS=2)
    def test_the_number_of_days_is_a_setting(self, berlin):
        friday = datetime(2025, 2, 7, 9, 0, tzinfo=BERLIN)
        assert due(berlin, friday) == end_of(date(2025, 2, 11), BERLIN)


class TestPublicHolidays:
    def test_german_unity_day_counts_in_germany_only(self, germany, usa):
        # Friday 3 October 2025 is a public holiday in Germany, a working day in the US.
        germany_monday = datetime(2025, 9, 29, 12, 0, tzinfo=BERLIN)
        usa_monday = datetime(2025, 9, 29, 12, 0, tzinfo=NEW_YORK)
        assert due(germany, germany_monday) == end_of(date(2025, 10, 7), BERLIN)
        assert due(usa, usa_monday) == end_of(date(2025, 10, 6), NEW_YORK)

    def test_independence_day_counts_in_the_us_only(self, germany, usa):
        # Friday 4 July 2025.
        germany_monday = datetime(2025, 6, 30, 12, 0, tzinfo=BERLIN)
        usa_monday = datetime(2025, 6, 30, 12, 0, tzinfo=NEW_YORK)
        assert due(germany, germany_monday) == end_of(date(2025, 7, 7), BERLIN)
        assert due(usa, usa_monday) == end_of(date(2025, 7, 8), NEW_YORK)

    def test_a_subdivision_s_holidays_count(self, team_of):
        # Corpus Christi (Thursday 19 June 2025) is a holiday in Bavaria, not in Berlin.
        bavaria = team_of("munich", country="DE", subdivision="BY")
        berlin_state = team_of("berlin-state", country="DE", subdivision="BE")
        monday = datetime(2025, 6, 16, 12, 0, tzinfo=BERLIN)
        assert due(bavaria, monday) == end_of(date(2025, 6, 24), BERLIN)
        assert due(berlin_state, monday) == end_of(date(2025, 6, 23), BERLIN)


class TestCompanyHolidays:
    def test_a_company_holiday_for_every_team_counts(self, berlin):
        CompanyHoliday.objects.create(date=date(2025, 2, 12), name="Offsite")
        thursday = datetime(2025, 2, 6, 15, 0, tzinfo=BERLIN)
        assert due(berlin, thursday) == end_of(date(2025, 2, 14), BERLIN)

    def test_a_company_holiday_counts_only_for_its_teams(self, berlin, germany):
        offsite = CompanyHoliday.objects.create(date=date(2025, 2, 12), name="Berlin offsite")
        offsite.teams.add(berlin)
        thursday = datetime(2025, 2, 6, 15, 0, tzinfo=BERLIN)
        assert due(berlin, thursday) == end_of(date(2025, 2, 14), BERLIN)
        assert due(germany, thursday) == end_of(date(2025, 2, 13), BERLIN)


class TestLocalDate:
    def test_late_friday_local_is_already_saturday_in_utc(self, team_of):
        california = team_of("california", time_zone="America/Los_Angeles")
        friday_evening = datetime(2025, 2, 7, 20, 30, tzinfo=LOS_ANGELES)
        assert friday_evening.astimezone(UTC).weekday() == 5  # Saturday in UTC
        due_at = due(california, friday_evening)
        # Due at the end of the next Friday in California, which is Saturday morning in UTC.
        assert due_at == end_of(date(2025, 2, 14), LOS_ANGELES)
        assert due_at.astimezone(UTC) == datetime(2025, 2, 15, 7, 59, 59, 999999, tzinfo=UTC)

    def test_late_sunday_local_is_monday_in_utc_and_counts_as_sunday(self, team_of):
        california = team_of("california", time_zone="America/Los_Angeles")
        sunday_evening = datetime(2025, 2, 9, 20, 0, tzinfo=LOS_ANGELES)
        assert sunday_evening.astimezone(UTC).weekday() == 0  # Monday in UTC
        # Mon to Fri of the same week; counting from Monday would give the next Monday.
        assert due(california, sunday_evening) == end_of(date(2025, 2, 14), LOS_ANGELES)

    def test_early_monday_local_is_still_sunday_in_utc_and_counts_as_monday(self, team_of):
        tokyo = team_of("tokyo", time_zone="Asia/Tokyo")
        monday_morning = datetime(2025, 2, 10, 7, 0, tzinfo=TOKYO)
        assert monday_morning.astimezone(UTC).weekday() == 6  # Sunday in UTC
        # Tue to Fri and the next Monday; counting from Sunday would give Friday.
        assert due(tokyo, monday_morning) == end_of(date(2025, 2, 17), TOKYO)


class TestDaylightSavingTime:
    def test_due_in_summer_time_after_a_resolution_in_winter_time(self, berlin):
        # Clocks go forward on Sunday 30 March 2025.
        wednesday = datetime(2025, 3, 26, 10, 0, tzinfo=BERLIN)
        due_at = due(berlin, wednesday)
        assert due_at == end_of(date(2025, 4, 2), BERLIN)
        assert due_at.utcoffset() == timedelta(hours=2)
        assert due_at.astimezone(UTC) == datetime(2025, 4, 2, 21, 59, 59, 999999, tzinfo=UTC)

    def test_due_in_winter_time_after_a_resolution_in_summer_time(self, usa):
        # Clocks go back on Sunday 2 November 2025 in New York.
        thursday = datetime(2025, 10, 30, 16, 0, tzinfo=NEW_YORK)
        due_at = due(usa, thursday)
        assert due_at == end_of(date(2025, 11, 6), NEW_YORK)
        assert due_at.astimezone(UTC) == datetime(2025, 11, 7, 4, 59, 59, 999999, tzinfo=UTC)

    def test_the_week_of_the_change_is_still_five_days(self, berlin):
        # Resolved the Friday before the change: Mon to Fri of the week after it.
        friday = datetime(2025, 3, 28, 23, 30, tzinfo=BERLIN)
        assert due(berlin, friday) == end_of(date(2025, 4, 4), BERLIN)


class TestWithoutATeam:
    def test_the_site_s_zone_and_monday_to_friday(self):
        zone = ZoneInfo(settings.TIME_ZONE)
        friday = datetime(2025, 2, 7, 12, 0, tzinfo=zone)
        assert due(None, friday) == end_of(date(2025, 2, 14), zone)

    def test_company_holidays_of_every_team_count(self, berlin):
        zone = ZoneInfo(settings.TIME_ZONE)
        CompanyHoliday.objects.create(date=date(2025, 2, 11), name="Company day")
        only_berlin = CompanyHoliday.objects.create(date=date(2025, 2, 12), name="Berlin day")
        only_berlin.teams.add(berlin)
        friday = datetime(2025, 2, 7, 12, 0, tzinfo=zone)
        assert due_date_after(team=None, resolved_at=friday) == date(2025, 2, 17)

    def test_the_company_s_public_holidays_count(self, alice, germany, berlin):
        from incidents.services import incident_resolve

        zone = ZoneInfo(settings.TIME_ZONE)
        # A company in Germany (its other team keeps no country): 3 October is German Unity Day.
        incident = factories.declared(alice, "P1", at=datetime(2025, 10, 2, 9, 0, tzinfo=zone))
        assert incident.team is None
        incident_resolve(
            incident=incident, actor=alice, at=datetime(2025, 10, 2, 12, 0, tzinfo=zone)
        )

        postmortem = Postmortem.objects.get(incident=incident)
        # (Fri 3), Mon 6, Tue 7, Wed 8, Thu 9, Fri 10.
        assert postmortem.due_at == end_of(date(2025, 10, 10), zone)

    def test_only_public_holidays_every_team_has_off_count(self, germany, usa):
        zone = ZoneInfo(settings.TIME_ZONE)
        # Teams in Germany and the USA: 3 October is a working day in New York ...
        thursday = datetime(2025, 10, 2, 12, 0, tzinfo=zone)
        assert due_date_after(team=None, resolved_at=thursday) == date(2025, 10, 9)
        # ... Christmas Day is off in both; 26 December only in Germany.
        tuesday = datetime(2025, 12, 23, 12, 0, tzinfo=zone)
        # Wed 24, (Thu 25), Fri 26, Mon 29, Tue 30, Wed 31.
        assert due_date_after(team=None, resolved_at=tuesday) == date(2025, 12, 31)


def test_resolving_sets_the_due_date_and_a_re_resolution_moves_it(alice, germany):
    from incidents.services import incident_reopen, incident_resolve

    declared_at = datetime(2025, 9, 26, 9, 0, tzinfo=BERLIN)  # a Friday
    incident = factories.declared(alice, "P1", team=germany, at=declared_at)
    incident = incident_resolve(
        incident=incident, actor=alice, at=datetime(2025, 9, 26, 18, 0, tzinfo=BERLIN)
    )
    postmortem = Postmortem.objects.get(incident=incident)
    assert postmortem.due_at == end_of(date(2025, 10, 6), BERLIN)  # 3 October is a holiday

    incident = incident_reopen(incident=incident, actor=alice, reason="Errors are back")
    postmortem.refresh_from_db()
    assert postmortem.due_at is None  # nothing to count from while it is open

    incident_resolve(incident=incident, actor=alice, at=datetime(2025, 9, 30, 10, 0, tzinfo=BERLIN))
    postmortem.refresh_from_db()
    assert Postmortem.objects.filter(incident=incident).count() == 1
    # Wed 1, Thu 2, (Fri 3), Mon 6, Tue 7, Wed 8.
    assert postmortem.due_at == end_of(date(2025, 10, 8), BERLIN)
