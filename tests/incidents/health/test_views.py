"""The on-call health pages: figures from known data, filters, periods, the rows behind each
number, CSV export, permissions, and a query count that does not grow with the data."""

import csv
import io
import re
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.health.models import ToilFollowUp
from postmortems.models import ActionItem
from tests import factories
from tests.incidents.health.builders import (
    NOW,
    episode,
    incident,
    known_week,
    minutes,
    page,
    rotation,
    source,
)

pytestmark = pytest.mark.django_db

PAGES = [
    "/health/",
    "/health/incidents/?figure=mtta",
    "/health/pages/?actionable=1",
    "/health/alerts/?verdict=unreviewed",
    "/health/export.csv?kind=incidents",
    "/health/report/payments/2026-W47/",
]


class Links(HTMLParser):
    """Collect every link's address and visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href = dict(attrs).get("href")
            self._text = []

    def handle_data(self, data):
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links.append((self._href, " ".join("".join(self._text).split())))
            self._href = None


def links_of(response) -> list[tuple[str, str]]:
    parser = Links()
    parser.feed(response.content.decode())
    return parser.links


# A count: "3", "4 resolved", "12 unreviewed", "2 incidents" (not "6 min", "50.0 %").
COUNT = re.compile(r"^(\d+)(?: (?!min\b|h\b|s\b|d\b)[a-z][a-z-]*)*$")
ROWS = re.compile(r"^/health/(incidents|pages|alerts)/")


def counted_links(response) -> list[tuple[str, int]]:
    """Return the dashboard's numbers that link to rows, as (address, number)."""
    found = []
    for href, text in links_of(response):
        match = COUNT.match(text)
        if match and ROWS.match(href):
            found.append((href.replace("&amp;", "&"), int(match[1])))
    return found


# --- Permissions --------------------------------------------------------------------------------


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_people_are_sent_to_log_in(client, week, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/health/")


@pytest.mark.parametrize("url", PAGES)
def test_people_in_no_group_are_refused(client, week, outsider, url):
    client.force_login(outsider)

    response = client.get(url)

    assert response.status_code == 403
    assert b"may read on-call metrics" in response.content


@pytest.mark.parametrize("who", ["viewer", "responder", "manager", "staff"])
def test_viewers_responders_managers_and_staff_read_every_health_page(client, week, who):
    client.force_login(getattr(factories, who)(f"reader-{who}"))

    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 200, url


def test_the_main_navigation_links_to_health(as_manager, week):
    response = as_manager.get("/incidents/")

    assert ("/health/", "Health") in links_of(response)


# --- The dashboard's figures --------------------------------------------------------------------


def test_the_dashboard_shows_the_weeks_figures_beside_the_runbooks_targets(as_manager, week):
    response = as_manager.get("/health/?team=payments")

    context = response.context
    times = context["times"]
    # Alert-opened and acknowledged: P1 in 3 min, P2 in 9 min; the declaration does not count.
    assert times.mtta.count == 2
    assert times.mtta.mean == minutes(6)
    assert context["mtta_verdict"] == "missed"
    assert times.never_acknowledged == 1
    assert times.slow_detections == 1
    # HighLatency: 1 not actionable of 2 reviewed, 1 unreviewed; DiskFull 1 actionable.
    assert context["alert_total"].rate == pytest.approx(1 / 3)
    assert context["alert_total"].unreviewed == 1
    assert context["alert_total_verdict"] == "missed"
    busiest = context["busiest"]
    assert (busiest.rotation.schedule, busiest.rotation.iso_week) == ("Payments primary", 47)
    assert busiest.rotation.actionable == 5
    assert busiest.over_target == 1
    html = response.content.decode()
    assert "Target &lt; 5 min: missed" in html
    assert "Target &lt; 5 %: missed" in html
    assert "Target &lt; 5 a week: missed" in html
    assert "Last 7 days (2026-11-11 to 2026-11-18, Europe/Berlin) · team Payments" in html


def test_pages_per_rotation_and_person_are_counted_per_iso_week(as_manager, week):
    response = as_manager.get("/health/?team=payments")

    assert response.context["weeks"] == ["2026-W46", "2026-W47"]
    rows = {row.name: row for row in response.context["page_groups"][0][1]}
    primary = rows["Payments primary"]
    assert [(c.actionable, c.pages, c.over_target) for c in primary.cells] == [
        (1, 2, False),
        (5, 6, True),
    ]
    assert primary.total.manual_action == 2
    # The notify and the failed page are not pages.
    assert [(c and (c.actionable, c.pages)) for c in rows["Payments secondary"].cells] == [
        None,
        (1, 1),
    ]
    people = {row.name: row for row in response.context["page_groups"][1][1]}
    assert people["Alice"].total.pages == 8
    assert people["Bob"].total.pages == 1


def test_noisy_alerts_of_this_and_last_month_are_listed_for_automate_or_fix(as_manager, week):
    response = as_manager.get("/health/?team=payments")

    months = response.context["noisy_months"]
    assert [month.month.isoformat() for month in months] == ["2026-11-01", "2026-10-01"]
    assert [(r.alert.alert_name, r.alert.episodes) for r in months[0].rows] == [
        ("CPUThrottling", 6)
    ]
    # MemoryPressure fired exactly 5 times: not over the line.
    assert [(r.alert.alert_name, r.alert.episodes) for r in months[1].rows] == [("QueueDepth", 7)]


def test_the_trend_charts_are_inline_svg_with_a_data_table(as_manager, week):
    response = as_manager.get("/health/?days=30&team=payments")
    html = response.content.decode()

    charts = response.context["charts"]
    assert [chart.title for chart in charts] == [
        "Incidents per week",
        "Mean time to acknowledge",
        "Mean time to resolve",
        "Actionable pages per week",
        "False-positive rate",
    ]
    assert html.count('<svg class="chart') == 5
    assert html.count('role="img"') == 5
    assert html.count("<summary>Data table</summary>") == 5
    incidents_per_week = {row.label: row.text for row in charts[0].rows}
    assert incidents_per_week == {
        "2026-W43": "0 incidents",
        "2026-W44": "1 incident",
        "2026-W45": "0 incidents",
        "2026-W46": "2 incidents",
        "2026-W47": "2 incidents",
    }
    assert "<title>2026-W47: 6 min</title>" in html
    assert "cdn" not in html.lower() and '<script src="http' not in html


def test_filters_narrow_the_figures(as_manager, week):
    def mtta(query: str) -> int:
        return as_manager.get(f"/health/?{query}").context["times"].mtta.count

    assert mtta("") == 3  # both teams
    assert mtta("team=search") == 1
    assert mtta("team=payments&severity=P1") == 1
    assert mtta("service=payments-api") == 2
    assert mtta("service=search-api&team=payments") == 0


def test_the_filter_form_works_without_javascript_and_keeps_the_period(as_manager, week):
    response = as_manager.get("/health/?days=30")
    html = response.content.decode()

    assert '<form class="filters" method="get" action="/health/"' in html
    assert '<input type="hidden" name="days" value="30">' in html
    assert '<select name="team"' in html and '<option value="payments">Payments</option>' in html


def test_the_period_switch_offers_7_30_and_90_days(as_manager, week):
    seven = as_manager.get("/health/?team=payments")
    thirty = as_manager.get("/health/?team=payments&days=30")

    periods = seven.context["periods"]
    assert [(p["days"], p["current"]) for p in periods] == [(7, True), (30, False), (90, False)]
    assert periods[1]["url"] == "/health/?days=30&team=payments"
    assert '<a href="/health/?days=7&amp;team=payments" aria-current="page">7 days</a>' in (
        seven.content.decode()
    )
    # 30 days reach back to 2026-11-01: the Ledger outage, acknowledged in 20 min.
    assert seven.context["times"].mtta.count == 2
    assert thirty.context["times"].mtta.count == 3
    assert thirty.context["times"].mtta.mean == minutes(32 / 3)
    assert thirty.context["first_day"].isoformat() == "2026-10-19"


@pytest.mark.parametrize("query", ["team=payments", "days=30", "days=90&severity=P1"])
def test_every_number_links_to_exactly_the_rows_behind_it(as_manager, week, query):
    response = as_manager.get(f"/health/?{query}")

    numbers = counted_links(response)
    assert len(numbers) > 20
    for href, number in numbers:
        rows = as_manager.get(href)
        assert rows.status_code == 200, href
        assert rows.context["page"].paginator.count == number, href


def test_the_figures_lead_to_the_incidents_they_count(as_manager, week):
    def listed(query: str) -> list[str]:
        response = as_manager.get(f"/health/incidents/?{query}")
        return [incident.title for incident in response.context["page"].object_list]

    made = week.incidents
    assert listed("team=payments&figure=mtta") == ["Checkout down", "Card payments slow"]
    assert listed("team=payments&figure=never_acknowledged") == ["Refunds delayed"]
    assert listed("team=payments&figure=slow_detection") == ["Card payments slow"]
    assert listed("team=payments&severity=P1&figure=mtta&days=30") == [
        "Checkout down",
        "Ledger outage",
    ]
    response = as_manager.get("/health/incidents/?team=payments&figure=never_acknowledged")
    assert (f"/incidents/{made['never'].pk}/", f"INC-{made['never'].pk} Refunds delayed") in (
        links_of(response)
    )


def test_the_pages_and_alerts_behind_a_figure(as_manager, week):
    def count(path: str) -> int:
        return as_manager.get(path).context["page"].paginator.count

    primary = week.primary.pk
    assert count(f"/health/pages/?team=payments&schedule={primary}&week=2026-W47") == 6
    assert count(f"/health/pages/?team=payments&schedule={primary}&week=2026-W47&actionable=1") == 5
    assert count("/health/pages/?team=payments&manual=1") == 2
    assert count(f"/health/pages/?person={week.bob.pk}") == 1
    source = week.source.pk
    assert count(f"/health/alerts/?source={source}&name=HighLatency&verdict=not_actionable") == 1
    assert count("/health/alerts/?team=payments&verdict=unreviewed") == 1
    assert count(f"/health/alerts/?month=2026-11&source={source}&name=CPUThrottling") == 6
    assert count(f"/health/alerts/?month=2026-10&source={source}&name=QueueDepth") == 7


def test_a_week_alone_is_that_whole_local_iso_week(as_manager, week):
    response = as_manager.get("/health/incidents/?team=payments&week=2026-W46&figure=incidents")

    titles = [incident.title for incident in response.context["page"].object_list]
    assert titles == ["Refunds delayed", "Payouts stuck"]
    assert "Week 2026-W46 (2026-11-09 to 2026-11-15, Europe/Berlin)" in response.content.decode()


def test_drill_down_lists_are_paginated_and_keep_the_figure(as_manager, frozen_now):
    for hour in range(51):
        incident(NOW - timedelta(hours=hour + 1), acknowledged=minutes(2))

    first = as_manager.get("/health/incidents/?figure=mtta")
    second = as_manager.get("/health/incidents/?figure=mtta&page=2")

    assert first.context["page"].paginator.count == 51
    assert len(first.context["page"].object_list) == 50
    assert len(second.context["page"].object_list) == 1
    assert ("?figure=mtta&page=2", "Older →") in links_of(first)


@pytest.mark.parametrize(
    "url",
    [
        "/health/incidents/?figure=nonsense",
        "/health/incidents/?figure=checklist&item=runbook&state=maybe",
        "/health/alerts/?verdict=maybe",
        "/health/alerts/?month=2026-13",
        "/health/export.csv?kind=everything",
    ],
)
def test_nonsense_parameters_get_a_400_that_says_what_to_write(as_manager, week, url):
    assert as_manager.get(url).status_code == 400


# --- CSV export ---------------------------------------------------------------------------------


def test_the_csv_download_streams_the_rows_of_the_period_with_the_period_in_its_name(
    as_manager, week
):
    response = as_manager.get("/health/export.csv?kind=incidents&team=payments")

    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="health-payments-incidents-2026-11-11-2026-11-18.csv"'
    )
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "reference"
    assert sorted(row[1] for row in rows[1:]) == [
        "Card payments slow",
        "Checkout down",
        "Payouts stuck",
        "Refunds delayed",
    ]


def test_the_dashboard_offers_each_export_with_its_filters(as_manager, week):
    response = as_manager.get("/health/?days=30&team=payments")

    exports = {export["kind"]: export["url"] for export in response.context["exports"]}
    assert exports["pages"] == "/health/export.csv?days=30&team=payments&kind=pages"
    download = as_manager.get(exports["pages"])
    lines = b"".join(download.streaming_content).decode().splitlines()
    assert len(lines) == 1 + 9  # header, Alice's 8 pages and Bob's one


# --- Automate or fix ----------------------------------------------------------------------------


def test_only_people_who_may_open_action_items_get_the_automate_or_fix_form(client, week):
    for who, sees_form in (("viewer", False), ("responder", False), ("manager", True)):
        client.force_login(getattr(factories, who)(f"toil-{who}"))
        html = client.get("/health/?team=payments").content.decode()
        assert ('class="follow-up-form"' in html) is sees_form, who
        if not sees_form:
            assert "None yet; managers open it" in html


def test_the_automate_or_fix_form_opens_one_action_item_and_then_links_to_it(
    as_manager, manager_user, week
):
    html = as_manager.get("/health/?team=payments").content.decode()
    form = re.search(r'<form class="follow-up-form".*?</form>', html, re.S)
    assert form is not None
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form[0]))
    fields.update(
        owner=str(manager_user.pk),
        due_date=re.search(r'name="due_date" value="([^"]+)"', form[0])[1],
    )
    assert fields["month"] == "2026-11" and fields["alert_name"] == "CPUThrottling"
    assert fields["next"] == "/health/?team=payments"

    first = as_manager.post("/health/toil/follow-up/", fields)
    again = as_manager.post("/health/toil/follow-up/", fields)

    assert first.status_code == 302 and first["Location"] == "/health/?team=payments"
    assert again.status_code == 302
    follow_up = ToilFollowUp.objects.get()
    assert ActionItem.objects.filter(title__startswith="Automate or fix").count() == 1
    assert follow_up.action_item.due_date.isoformat() == "2026-12-02"
    after = as_manager.get("/health/?team=payments")
    row = after.context["noisy_months"][0].rows[0]
    assert row.alert.follow_up_id == follow_up.action_item_id
    assert (f"/postmortems/action-items/{follow_up.action_item_id}/", "Action item opened") in (
        links_of(after)
    )


# --- Weekly report link -------------------------------------------------------------------------


def test_a_team_filter_links_to_the_teams_last_weekly_report(as_manager, week):
    response = as_manager.get("/health/?team=payments")

    assert response.context["report_url"] == "/health/report/payments/2026-W46/"


# --- Query count --------------------------------------------------------------------------------


def more_data(size: int, week) -> None:
    """Add `size` incidents, alert names and pages spread over teams, people and rotations."""
    teams = [week.payments, week.search]
    extra = source(f"extra-{size}")
    for number in range(size):
        owner = teams[number % 2]
        made = incident(
            NOW - timedelta(hours=number * 7 + 1),
            acknowledged=minutes(number % 13),
            resolved=minutes(30 + number),
            code=f"P{number % 4 + 1}",
            team=owner,
        )
        episode(
            extra,
            f"Alert{number % 17}",
            NOW - timedelta(hours=number * 5 + 1),
            actionable=[True, False, None][number % 3],
        )
        person = factories.responder(f"oncall-{size}-{number % 9}")
        page(
            made,
            person,
            NOW - timedelta(hours=number * 3 + 1),
            schedule=rotation(f"Rotation {size}-{number}", owner) if number % 4 == 0 else None,
            actionable=number % 2 == 0,
            manual=number % 5 == 0,
        )


@pytest.mark.parametrize("query", ["days=90", "days=30&team=payments"])
def test_the_dashboards_query_count_does_not_grow_with_the_data(as_manager, week, query):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert as_manager.get(f"/health/?{query}").status_code == 200
        return len(captured)

    more_data(5, week)
    small = queries()
    more_data(60, week)
    large = queries()

    assert small == large, (small, large)
    assert small < 40


def test_a_quiet_portal_and_a_busy_one_render_the_dashboard_in_as_many_queries(
    as_manager, frozen_now
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert as_manager.get("/health/?days=90").status_code == 200
        return len(captured)

    # Quiet: one page, no alert at all, so nothing noisy to offer a follow-up for.
    quiet = incident(NOW - timedelta(days=1), acknowledged=minutes(1))
    page(quiet, factories.responder("quinn"), NOW - timedelta(days=1))
    before = queries()
    more_data(40, known_week())  # now with noisy alerts, follow-ups to offer, more people

    assert queries() == before


def test_drill_down_query_counts_do_not_grow_with_the_rows_shown(as_manager, week):
    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert as_manager.get(path).status_code == 200
        return len(captured)

    paths = ["/health/incidents/?days=90", "/health/pages/?days=90", "/health/alerts/?days=90"]
    more_data(3, week)
    small = [queries(path) for path in paths]
    more_data(30, week)
    assert [queries(path) for path in paths] == small


def test_query_strings_in_links_are_the_scope_plus_the_figure(as_manager, week):
    response = as_manager.get("/health/?days=30&team=payments&severity=P2")

    mtta = response.context["links"]["mtta"]
    assert parse_qs(urlsplit(mtta).query) == {
        "days": ["30"],
        "team": ["payments"],
        "severity": ["P2"],
        "figure": ["mtta"],
    }


# --- The checklist's rows -----------------------------------------------------------------------


def test_each_checklist_count_lists_exactly_the_incidents_the_checklist_marks(db, alice):
    """The drill-down of every checklist figure agrees with the summary and each incident's own."""
    from datetime import date

    from incidents.health.checklist import CHECKLIST_KEYS, checklist_summary, incident_checklist
    from incidents.health.drilldown import checklist_incidents
    from tests.incidents.health import builders as hb

    all_done = hb.incident_at(
        code="P1", detected="2026-11-02 10:00", impact_started="2026-11-02 09:00"
    )
    hb.action_item(all_done, "Alert on payment errors", owner=alice, due_date=date(2026, 12, 1))
    hb.flag(all_done, hb.runbook(), resolved="2026-11-03 10:00")
    hb.postmortem(all_done, scheduled="2026-11-02 12:00")
    untracked = hb.incident_at(code="P2", detected="2026-11-03 10:00", resolved="2026-11-03 11:00")
    hb.action_item(untracked, "Add a canary deployment")  # no owner, no due date
    hb.flag(untracked, hb.runbook("Node group failure"))
    hb.postmortem(untracked, scheduled="2026-11-03 12:00")
    late = hb.incident_at(
        code="P1",
        detected="2026-11-04 10:00",
        impact_started="2026-11-04 09:00",
        resolved="2026-11-04 11:00",
    )
    hb.postmortem(late, scheduled="2026-11-07 12:00")
    hb.incident_at(code="P3", detected="2026-11-05 10:00", resolved="2026-11-05 11:00")
    hb.incident_at(code="P2", detected="2026-11-05 11:00", resolved=None)
    # Detected in the window, resolved after it; resolved before it: neither counts.
    hb.incident_at(code="P1", detected="2026-11-08 10:00", resolved="2026-11-09 11:00")
    hb.incident_at(code="P1", detected="2026-10-20 10:00", resolved="2026-10-20 11:00")
    window = hb.window("2026-11-01 00:00", "2026-11-09 00:00")

    summary = checklist_summary(window=window)
    for key in CHECKLIST_KEYS:
        for index, state in enumerate(("done", "missing")):
            listed = list(checklist_incidents(window=window, key=key, state=state))
            assert len(listed) == summary[key][index], (key, state)
            for incident_ in listed:
                item = next(i for i in incident_checklist(incident=incident_) if i.key == key)
                assert item.state == state, (key, incident_.title)
    assert summary["action_items"] == (1, 3)
    assert summary["review"] == (2, 1)
