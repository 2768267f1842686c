"""Second-pass checks of on-call health (issue 8): what the first pass left untested."""

import re
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from . import builders as b

pytestmark = pytest.mark.django_db


def test_the_incident_page_with_its_checklist_keeps_its_query_count_as_items_grow(
    client, viewer_user, alice, bob
):
    incident = b.incident_at(code="P1", impact_started="2026-11-02 09:00")
    b.postmortem(incident, scheduled="2026-11-02 12:00")
    b.flag(incident, b.runbook(), resolved="2026-11-03 10:00")
    client.force_login(viewer_user)
    url = reverse("incidents:detail", kwargs={"pk": incident.pk})

    def queries() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        assert response.status_code == 200
        return len(captured), response.content.decode()

    b.action_item(incident, "Alert on 503 rate", owner=alice, due_date=date(2026, 12, 1))
    few, _ = queries()
    for number in range(8):
        b.action_item(
            incident,
            f"Follow-up {number}",
            owner=[alice, bob][number % 2],
            tracker_url=f"https://linear.app/x/ISS-{number}",
        )
        b.flag(incident, b.runbook(f"Runbook {number}"), resolved="2026-11-03 10:00")
    many, html = queries()

    assert "9 action items, each with an owner" in html
    assert many == few, (few, many)


# --- MTTA per team and service (the issue: "Both per peak severity, team and service") ------------


def test_mtta_per_team_and_service_counts_alert_opened_acknowledged_incidents_only(build):
    from incidents.health.metrics import Durations, response_times
    from incidents.models import Source

    from .builders import at, minutes

    payments, search = build.team("Payments"), build.team("Search", zone="UTC")
    api, checkout = build.service("Payments API", payments), build.service("Checkout", payments)
    search_api = build.service("Search API", search)
    day = at("2026-11-03 10:00")
    build.incident(day, team=payments, services=(api, checkout), acknowledged=minutes(2))
    build.incident(day, team=payments, services=(api,), acknowledged=minutes(6))
    # A declaration acknowledges itself; a never-acknowledged one is counted apart.
    build.incident(
        day, team=payments, services=(checkout,), source=Source.WEB, acknowledged=minutes(0)
    )
    build.incident(day, team=payments, services=(api,))
    build.incident(day, team=search, services=(search_api,), acknowledged=minutes(1))

    times = response_times(window=build.window(at("2026-11-02"), at("2026-11-09")))

    def durations(count, median, p90, mean):
        return Durations(count, minutes(median), minutes(p90), minutes(mean))

    # Payments: 2 and 6 min: median 4, p90 2 + 0.9·4 = 5.6, mean 4.
    assert times.mtta_by_team == {
        "Payments": durations(2, 4, 5.6, 4),
        "Search": durations(1, 1, 1, 1),
    }
    assert times.mtta_by_service == {
        "Checkout": durations(1, 2, 2, 2),
        "Payments API": durations(2, 4, 5.6, 4),
        "Search API": durations(1, 1, 1, 1),
    }
    assert times.never_acknowledged == 1


# --- As a manager reads the dashboard -----------------------------------------------------------


def test_the_dashboard_shows_mtta_and_mttr_per_team_and_links_each_count(as_manager, week):
    response = as_manager.get("/health/?days=30")

    teams = {row.name: row for row in dict(response.context["mttr_groups"])["team"]}
    # Payments in 30 days: acknowledged after 3, 9 and 20 min: mean 32/3 min = 10 min 40 s.
    payments = teams["Payments"]
    assert (payments.mtta.count, payments.mtta_verdict) == (3, "missed")
    assert "10 min 40 s" in response.content.decode()
    listed = as_manager.get(payments.mtta_url).context["page"]
    assert listed.paginator.count == 3
    assert teams["Search"].mtta.count == 1
    services = {row.name: row for row in dict(response.context["mttr_groups"])["service"]}
    assert services["Payments API"].mtta.count == 3


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (45, "45 s"),
        (270, "4 min 30 s"),
        (299.9, "4 min 59 s"),  # cut, never rounded up to the 5 min target
        (300, "5 min"),
        (3900, "1 h 5 min"),
        (7200, "2 h"),
        (2 * 86400 + 3 * 3600 + 59, "2 d 3 h"),
    ],
)
def test_response_times_are_written_with_seconds_under_an_hour(seconds, text):
    from datetime import timedelta

    from incidents.health.templatetags.health_pages import health_duration

    assert health_duration(timedelta(seconds=seconds)) == text


def test_an_mtta_under_the_target_reads_in_minutes_and_seconds(as_manager, frozen_now):
    from datetime import timedelta

    from .builders import NOW, incident, minutes, team

    payments = team("Payments")
    incident(
        NOW - timedelta(days=1), acknowledged=minutes(4.5), resolved=minutes(95), team=payments
    )

    html = as_manager.get("/health/?team=payments").content.decode()
    report = as_manager.get("/health/report/payments/2026-W47/").content.decode()

    assert "4 min 30 s" in html and "Target &lt; 5 min: met" in html
    assert "1 h 35 min" in html
    assert "4 min 30 s" in report


def test_an_empty_period_says_what_is_missing_instead_of_zeros_and_dashes(as_manager, frozen_now):
    response = as_manager.get("/health/")
    html = response.content.decode()

    assert response.status_code == 200
    assert "No alert-opened incidents in this period" in html
    assert "No alert fired in this period" in html
    assert "No incidents in this period" in html
    assert "Nobody was paged in this period" in html
    assert "over 0 alert-opened" not in html


def test_an_unreviewed_period_says_nothing_has_a_verdict_yet(as_manager, frozen_now):
    from datetime import timedelta

    from .builders import NOW, episode, source

    episode(source(), "HighLatency", NOW - timedelta(hours=2))

    html = as_manager.get("/health/").content.decode()

    assert "No verdict yet on the" in html
    assert "1 unreviewed" in html


# --- Invalid filters: a message and a safe fallback, never a 500 -------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("days=abc", "Choose 7, 30 or 90 days; “abc” was ignored."),
        ("days=14", "Choose 7, 30 or 90 days; “14” was ignored."),
        ("team=nope", "There is no team “nope”; showing every team."),
        ("service=nope", "There is no service “nope”; showing every service."),
        ("severity=P9", "There is no peak severity “P9”; showing every severity."),
        ("week=2026-W99", "Write the week as 2026-W05; “2026-W99” was ignored."),
    ],
)
def test_an_invalid_filter_is_named_and_the_page_falls_back(as_manager, week, query, message):
    plain = as_manager.get("/health/")
    response = as_manager.get(f"/health/?{query}")

    assert response.status_code == 200
    assert message in response.content.decode()
    scope = response.context["scope"]
    assert (scope.days, scope.team, scope.service, scope.severity) == (7, None, None, None)
    assert response.context["times"] == plain.context["times"]
    drill = as_manager.get(f"/health/incidents/?figure=mtta&{query}")
    assert drill.status_code == 200 and message in drill.content.decode()
    export = as_manager.get(f"/health/export.csv?kind=incidents&{query}")
    assert export.status_code == 200


def test_a_valid_filter_beside_an_invalid_one_still_applies(as_manager, week):
    response = as_manager.get("/health/?team=payments&service=nope")

    assert response.context["scope"].team.slug == "payments"
    assert response.context["times"].mtta.count == 2


def test_a_filter_value_is_escaped_in_its_message(as_manager, week):
    html = as_manager.get("/health/?team=<script>x</script>").content.decode()

    assert "<script>x</script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html


@pytest.mark.parametrize(
    "url",
    ["/health/pages/?person=abc", "/health/pages/?schedule=xyz", "/health/alerts/?source=abc"],
)
def test_a_drill_down_id_that_is_not_a_number_is_a_400_not_every_row(as_manager, week, url):
    response = as_manager.get(url)

    assert response.status_code == 400
    assert b"Write " in response.content


def test_pages_that_reached_no_rotation_are_still_listed(as_manager, week):
    assert as_manager.get("/health/pages/?schedule=none").status_code == 200


def test_a_week_outside_the_period_says_so_instead_of_a_backwards_range(as_manager, week):
    html = as_manager.get("/health/?days=7&week=2026-W40").content.decode()

    assert "Week 2026-W40 is not within the last 7 days: nothing to show" in html


# --- Filters keep each other ---------------------------------------------------------------------


def test_period_filters_and_figure_ride_along_every_link(as_manager, week):
    from urllib.parse import parse_qs, urlsplit

    def query(url: str) -> dict[str, list[str]]:
        return parse_qs(urlsplit(url.replace("&amp;", "&")).query)

    dashboard = as_manager.get("/health/?days=30&team=payments&severity=P2")
    html = dashboard.content.decode()

    periods = {p["days"]: p["url"] for p in dashboard.context["periods"]}
    assert query(periods[90]) == {"days": ["90"], "team": ["payments"], "severity": ["P2"]}
    assert '<input type="hidden" name="days" value="30">' in html
    assert dashboard.context["clear_url"] == "/health/?days=30"
    exports = {export["kind"]: export["url"] for export in dashboard.context["exports"]}
    assert query(exports["alerts"]) == {
        "days": ["30"],
        "team": ["payments"],
        "severity": ["P2"],
        "kind": ["alerts"],
    }

    drill = as_manager.get("/health/pages/?days=30&team=payments&actionable=1&page=1")
    drill_html = drill.content.decode()
    assert '<input type="hidden" name="actionable" value="1">' in drill_html
    assert '<input type="hidden" name="days" value="30">' in drill_html
    assert drill.context["dashboard_url"] == "/health/?days=30&team=payments"
    assert query(drill.context["clear_url"]) == {"days": ["30"], "actionable": ["1"]}


# --- Toil per rotation on the dashboard ----------------------------------------------------------


def test_toil_lists_each_rotations_pages_that_needed_manual_action(as_manager, week):
    response = as_manager.get("/health/?team=payments")

    toil = [(row.name, row.total.manual_action) for row in response.context["toil_rows"]]
    assert toil == [("Payments primary", 2)]
    manual = as_manager.get(response.context["toil_rows"][0].manual_url)
    assert manual.context["page"].paginator.count == 2


# --- Windows in the team's zone for alert episodes and pages --------------------------------------


def test_alert_episodes_and_pages_are_windowed_at_the_teams_local_midnight(build, alice):
    from incidents.health.metrics import false_positive_total, pages_per_rotation, window_for

    from .builders import at

    team = build.team("Payments")  # Europe/Berlin: 3 Nov 00:00 there is 2 Nov 23:00 UTC
    api = build.service("Payments API", team)
    primary = build.rotation("Payments primary", team)
    source = build.source("prod-alertmanager")
    incident = build.incident(at("2026-11-04 10:00"), team=team, services=(api,))
    for moment in ("2026-11-02 22:59:59", "2026-11-02 23:00:00"):
        build.episode(source, "HighLatency", at(moment), service=api, actionable=False)
        build.page(incident, alice, at(moment), schedule=primary, actionable=True)

    window = window_for(days=7, team=team, service=None, severity=None, now=at("2026-11-10 12:00"))

    assert false_positive_total(window=window).episodes == 1
    assert [(row.iso_week, row.pages) for row in pages_per_rotation(window=window)] == [(45, 1)]


# --- Demo data, as a manager opens it ------------------------------------------------------------


def test_the_demo_data_renders_the_dashboard_report_and_csv(client):
    import csv
    import io

    from django.contrib.auth.models import User
    from django.core.management import call_command

    from incidents.models import Team

    call_command("demo_data", stdout=io.StringIO())
    client.force_login(User.objects.get(username="maria"))

    for days in (7, 30, 90):
        response = client.get(f"/health/?days={days}")
        html = response.content.decode()
        assert response.status_code == 200
        assert ">None<" not in html and not re.search(r">\s*(nan|NaN|inf)\b", html)
    incidents_in_90_days = response.context["times"].time_to_detect.count
    assert incidents_in_90_days > 0

    for kind in ("incidents", "pages", "alerts"):
        download = client.get(f"/health/export.csv?days=90&kind={kind}")
        assert download.status_code == 200
        rows = list(csv.reader(io.StringIO(b"".join(download.streaming_content).decode())))
        if kind == "incidents":
            assert len(rows) == 1 + incidents_in_90_days

    for team in Team.objects.all():
        dashboard = client.get(f"/health/?team={team.slug}")
        report = client.get(dashboard.context["report_url"])
        assert report.status_code == 200
        assert "Weekly on-call report" in report.content.decode()
