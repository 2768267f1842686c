"""90-day uptime from the component status history, on hand-computed histories."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.statuspage.models import Component, ComponentStatusChange
from incidents.statuspage.selectors import component_uptime_map, page_settings_get

pytestmark = pytest.mark.usefixtures("fresh_status_version")

UTC_ZONE = ZoneInfo("UTC")
NOW = datetime(2025, 1, 20, 12, 0, tzinfo=UTC)
TODAY = NOW.date()


def at(day: date, hour: int = 0, zone: ZoneInfo = UTC_ZONE) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=zone)


@pytest.fixture
def component(make_component):
    """A component that exists since long before the 90-day window."""
    api = make_component("API")
    Component.objects.filter(pk=api.pk).update(created_at=NOW - timedelta(days=400))
    api.refresh_from_db()
    return api


def change(component, old, new, when):
    ComponentStatusChange.objects.create(
        component=component, old_status=old, new_status=new, changed_at=when
    )


def uptime_of(component, *, now=NOW):
    component.refresh_from_db()
    return component_uptime_map([component], page=page_settings_get(), now=now)[component.pk]


def test_no_history_means_fully_up_for_90_days(component):
    uptime = uptime_of(component)
    assert len(uptime.days) == 90
    assert uptime.days[0].day == TODAY - timedelta(days=89)
    assert uptime.days[-1].day == TODAY
    assert {d.status for d in uptime.days} == {"operational"}
    assert uptime.percentage == Decimal("100.00")


def test_one_day_of_major_outage_in_90_is_98_89(component):
    outage_day = TODAY - timedelta(days=10)
    change(component, "operational", "major_outage", at(outage_day))
    change(component, "major_outage", "operational", at(outage_day + timedelta(days=1)))

    uptime = uptime_of(component)

    by_day = {d.day: d for d in uptime.days}
    assert by_day[outage_day].status == "major_outage"
    assert by_day[outage_day].uptime == 0.0
    assert by_day[outage_day - timedelta(days=1)].status == "operational"
    assert by_day[outage_day + timedelta(days=1)].status == "operational"
    assert uptime.percentage == Decimal("98.89")  # 89 / 90
    assert [d.day for d in uptime.problem_days] == [outage_day]


def test_partial_outage_counts_at_the_page_weight(component):
    outage_day = TODAY - timedelta(days=3)
    change(component, "operational", "partial_outage", at(outage_day))
    change(component, "partial_outage", "operational", at(outage_day + timedelta(days=1)))

    uptime = uptime_of(component)
    day = next(d for d in uptime.days if d.day == outage_day)
    assert day.status == "partial_outage"
    assert day.uptime == pytest.approx(0.7)
    assert uptime.percentage == Decimal("99.67")  # (89 + 0.7) / 90

    page = page_settings_get()
    page.partial_outage_weight = Decimal("0.5")
    page.save()
    assert uptime_of(component).percentage == Decimal("99.44")  # (89 + 0.5) / 90


def test_half_a_day_down_and_the_worst_status_of_the_day(component):
    day = TODAY - timedelta(days=1)
    change(component, "operational", "degraded_performance", at(day, 6))
    change(component, "degraded_performance", "major_outage", at(day, 12))
    change(component, "major_outage", "operational", at(day, 18))
    # Degraded performance alone is a problem day, but not downtime.
    other = TODAY - timedelta(days=2)
    change(component, "operational", "degraded_performance", at(other, 1))
    change(component, "degraded_performance", "operational", at(other, 2))

    days = {d.day: d for d in uptime_of(component).days}
    assert days[day].status == "major_outage"
    assert days[day].uptime == pytest.approx(0.75)
    assert days[other].status == "degraded_performance"
    assert days[other].uptime == 1.0
    assert uptime_of(component).percentage == Decimal("99.72")  # (89 + 0.75) / 90


def test_maintenance_counts_as_up(component):
    day = TODAY - timedelta(days=5)
    change(component, "operational", "under_maintenance", at(day, 2))
    change(component, "under_maintenance", "operational", at(day, 4))

    uptime = uptime_of(component)
    assert next(d for d in uptime.days if d.day == day).status == "under_maintenance"
    assert uptime.percentage == Decimal("100.00")


def test_status_from_before_the_window_carries_into_it(component):
    first_day = TODAY - timedelta(days=89)
    change(component, "operational", "major_outage", at(first_day - timedelta(days=10)))
    change(component, "major_outage", "operational", at(first_day + timedelta(days=5)))
    # History older than the window is not read row by row, only its last status.
    uptime = uptime_of(component)
    assert [d.status for d in uptime.days[:6]] == ["major_outage"] * 5 + ["operational"]
    assert uptime.percentage == Decimal("94.44")  # 85 / 90


def test_an_outage_still_going_on_counts_until_now(component):
    change(component, "operational", "major_outage", at(TODAY, 6))
    uptime = uptime_of(component)  # now is 12:00: half of today's time so far was down
    assert uptime.days[-1].status == "major_outage"
    assert uptime.days[-1].uptime == pytest.approx(0.5)
    assert uptime.percentage == Decimal("99.44")  # (89 + 0.5) / 90


def test_days_before_the_component_existed_have_no_data(make_component):
    api = make_component("API")
    Component.objects.filter(pk=api.pk).update(created_at=at(TODAY - timedelta(days=10)))
    down = TODAY - timedelta(days=4)
    change(api, "operational", "major_outage", at(down))
    change(api, "major_outage", "operational", at(down + timedelta(days=1)))

    uptime = uptime_of(api)
    assert [d.status for d in uptime.days[:79]] == [None] * 79
    assert uptime.days[79].day == TODAY - timedelta(days=10)
    assert uptime.days[79].status == "operational"
    assert "no data" in uptime.days[0].label
    assert uptime.percentage == Decimal("90.91")  # 10 / 11 days with data


def test_start_date_sets_where_uptime_begins(component):
    component.start_date = TODAY - timedelta(days=4)
    component.save()
    change(component, "operational", "partial_outage", at(TODAY - timedelta(days=1)))
    change(component, "partial_outage", "operational", at(TODAY))

    uptime = uptime_of(component)
    assert sum(d.status is not None for d in uptime.days) == 5
    assert uptime.percentage == Decimal("94.00")  # (4 + 0.7) / 5


def test_a_first_status_recorded_later_leaves_the_time_before_it_without_data(make_component):
    api = make_component("API")
    Component.objects.filter(pk=api.pk).update(created_at=NOW - timedelta(days=400))
    # The first history row is the component's creation record (no old status).
    change(api, "", "operational", at(TODAY - timedelta(days=2)))
    uptime = uptime_of(api)
    assert sum(d.status is not None for d in uptime.days) == 3


def test_days_are_the_page_time_zone_calendar_days(component):
    page = page_settings_get()
    page.time_zone = "America/New_York"  # UTC-5 in January
    page.save()
    # 02:00-04:00 UTC on the 15th is 21:00-23:00 on the 14th in New York.
    change(component, "operational", "major_outage", datetime(2025, 1, 15, 2, tzinfo=UTC))
    change(component, "major_outage", "operational", datetime(2025, 1, 15, 4, tzinfo=UTC))

    days = {d.day: d for d in uptime_of(component).days}
    assert days[date(2025, 1, 14)].status == "major_outage"
    assert days[date(2025, 1, 14)].uptime == pytest.approx(1 - 2 / 24)
    assert days[date(2025, 1, 15)].status == "operational"


def test_a_short_day_at_a_clock_change_is_measured_by_its_real_length(component):
    page = page_settings_get()
    page.time_zone = "Europe/Berlin"
    page.save()
    berlin = ZoneInfo("Europe/Berlin")
    spring = date(2025, 3, 30)  # 23 hours long in Berlin
    change(component, "operational", "major_outage", at(spring, 0, berlin))
    change(component, "major_outage", "operational", at(spring + timedelta(days=1), 0, berlin))
    now = datetime(2025, 4, 2, 12, tzinfo=UTC)

    days = {d.day: d for d in uptime_of(component, now=now).days}
    assert days[spring].uptime == 0.0
    assert days[spring - timedelta(days=1)].uptime == 1.0
    assert days[spring + timedelta(days=1)].uptime == 1.0


def test_status_page_shows_the_percentage_and_each_day_in_words(
    client, make_component, set_component_status
):
    api = make_component("Public API")
    Component.objects.filter(pk=api.pk).update(created_at=timezone.now() - timedelta(days=200))
    today = timezone.localdate()
    outage_day = today - timedelta(days=10)
    change(api, "operational", "major_outage", at(outage_day))
    change(api, "major_outage", "operational", at(outage_day + timedelta(days=1)))

    html = client.get(reverse("status:page")).content.decode()

    assert "98.89 % uptime" in html
    assert html.count("<rect") == 90
    assert f"<title>{outage_day.isoformat()}: major outage, 0.00 % up</title>" in html
    assert f"<title>{today.isoformat()}: operational, 100.00 % up</title>" in html
    assert "1 day not fully operational" in html
