"""The weekly report per team: the printable page, and the email its managers get once a week
at their team's local time."""

import re
from datetime import datetime

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.utils import timezone

from incidents.health import reports
from incidents.health.models import WeeklyReport
from incidents.health.tasks import weekly_reports_task
from tests import factories
from tests.incidents.health.builders import UTC, freeze, team

pytestmark = pytest.mark.django_db

MINUS = "\u2212"


@pytest.fixture
def reader(client):
    client.force_login(factories.viewer("vera"))
    return client


def clock(monkeypatch, text: str) -> datetime:
    """Set the portal's clock to a UTC time, "2026-11-23 08:30"."""
    return freeze(monkeypatch, datetime.fromisoformat(text).replace(tzinfo=UTC))


# --- The printable page -------------------------------------------------------------------------


def test_the_report_shows_the_week_against_targets_and_against_last_week(reader, week):
    response = reader.get("/health/report/payments/2026-W47/")

    assert response.status_code == 200
    report = response.context["report"]
    lines = {line.name: line for line in report.lines}
    mtta = lines["Mean time to acknowledge (MTTA)"]
    assert (mtta.this_week, mtta.last_week, mtta.target, mtta.verdict) == (
        "6 min",
        "—",
        "< 5 min",
        "missed",
    )
    never = lines["Never acknowledged"]
    assert (never.this_week, never.last_week, never.change, never.trend) == (
        "0",
        "1",
        MINUS + "1",
        "better",
    )
    busiest = lines["Actionable pages, busiest rotation (Payments primary)"]
    assert (busiest.this_week, busiest.last_week, busiest.verdict) == ("5", "1", "missed")
    rate = lines["False-positive rate"]
    assert (rate.this_week, rate.last_week, rate.change, rate.verdict) == (
        "50.0 %",
        "0.0 %",
        "+50.0 pt",
        "missed",
    )
    assert lines["MTTR P2"].this_week == "2 h"
    assert report.missed == 3
    html = response.content.decode()
    assert "Payments: week 2026-W47" in html
    assert "Mon 16 Nov 2026 to Sun 22 Nov 2026, Europe/Berlin" in html
    assert 'href="/health/report/payments/2026-W46/"' in html
    assert 'href="/health/report/payments/2026-W48/"' in html


def test_each_figure_of_the_report_links_to_its_rows_in_that_week(reader, week):
    report = reader.get("/health/report/payments/2026-W47/").context["report"]
    lines = {line.name: line for line in report.lines}

    rows = reader.get(lines["Mean time to acknowledge (MTTA)"].path)
    assert [i.title for i in rows.context["page"].object_list] == [
        "Checkout down",
        "Card payments slow",
    ]
    pages = reader.get(lines["Pages"].path)
    assert pages.context["page"].paginator.count == 7


def test_the_report_prints_without_the_portals_navigation(reader, week):
    html = reader.get("/health/report/payments/2026-W47/").content.decode()

    assert '<link rel="stylesheet" href="/static/css/health.css">' in html
    with open(finders.find("css/health.css"), encoding="utf-8") as stylesheet:
        css = stylesheet.read()
    print_rules = css[css.index("@media print") :]
    hidden = re.search(r"\{\s*([^{}]*)\{ display: none !important; \}", print_rules)
    assert hidden is not None
    selectors = {selector.strip() for selector in hidden[1].split(",")}
    assert {".site-header", ".report-nav", ".site-footer", ".filters"} <= selectors


@pytest.mark.parametrize(
    "url", ["/health/report/nobody/2026-W47/", "/health/report/payments/2025-W53/"]
)
def test_an_unknown_team_or_week_is_not_found(reader, week, url):
    assert reader.get(url).status_code == 404


# --- The weekly email ---------------------------------------------------------------------------


@pytest.fixture
def managers(week):
    """Max manages Payments (Berlin), Nina manages Search (New York); Erin has left."""
    max_ = factories.manager("max")
    erin = factories.manager("erin")
    erin.is_active = False
    erin.save()
    nina = factories.manager("nina")
    week.payments.engineering_managers.set([max_, erin])
    week.payments.members.set([week.alice])
    week.search.engineering_managers.set([nina])
    return week


def test_the_beat_runs_the_weekly_reports_every_hour():
    entry = settings.CELERY_BEAT_SCHEDULE["health-weekly-reports"]

    assert entry["task"] == "incidents.health.tasks.weekly_reports_task"
    assert entry["schedule"] == 3600.0


def test_each_team_gets_last_weeks_report_once_at_its_own_local_monday_nine(
    monkeypatch, managers, mailoutbox
):
    # Monday 23 Nov 08:30 UTC: 09:30 in Berlin (due), 03:30 in New York (not yet).
    clock(monkeypatch, "2026-11-23 08:30")
    assert weekly_reports_task.delay().get() == 1
    assert [(m.to, m.subject) for m in mailoutbox] == [
        (["max@example.com"], "Payments on-call health, week 2026-W47: 3 targets missed")
    ]

    # The next hourly run sends nothing new.
    clock(monkeypatch, "2026-11-23 09:30")
    assert weekly_reports_task.delay().get() == 0
    assert len(mailoutbox) == 1

    # 14:00 UTC is 09:00 in New York.
    clock(monkeypatch, "2026-11-23 14:00")
    weekly_reports_task.delay()
    assert [m.to for m in mailoutbox] == [["max@example.com"], ["nina@example.com"]]
    assert mailoutbox[1].subject.startswith("Search on-call health, week 2026-W47")
    sent = WeeklyReport.objects.order_by("sent_at")
    assert [(r.team.slug, r.iso_year, r.iso_week, r.recipients) for r in sent] == [
        ("payments", 2026, 47, ["max@example.com"]),
        ("search", 2026, 47, ["nina@example.com"]),
    ]


def test_nothing_goes_out_before_the_local_sending_time(monkeypatch, managers, mailoutbox):
    # Monday 07:59 in Berlin; Sunday evening in New York.
    clock(monkeypatch, "2026-11-23 06:59")
    weekly_reports_task.delay()

    assert mailoutbox == []
    assert not WeeklyReport.objects.exists()


def test_a_missed_monday_still_sends_last_weeks_report_once(monkeypatch, managers, mailoutbox):
    clock(monkeypatch, "2026-11-25 20:00")  # Wednesday: beat was down on Monday
    weekly_reports_task.delay()
    weekly_reports_task.delay()

    assert sorted(m.to[0] for m in mailoutbox) == ["max@example.com", "nina@example.com"]
    assert {r.iso_week for r in WeeklyReport.objects.all()} == {47}


def test_the_weekday_and_hour_are_settings(monkeypatch, managers, mailoutbox, settings):
    settings.FIREBREAK_WEEKLY_REPORT_WEEKDAY = 5  # Friday
    settings.FIREBREAK_WEEKLY_REPORT_HOUR = 16
    clock(monkeypatch, "2026-11-27 14:59")  # Friday 15:59 in Berlin
    weekly_reports_task.delay()
    assert mailoutbox == []

    clock(monkeypatch, "2026-11-27 15:00")
    weekly_reports_task.delay()
    # Friday of W48 is past the sending time: the report is of the week before, W47.
    assert [(m.to, m.subject.split(":")[0]) for m in mailoutbox] == [
        (["max@example.com"], "Payments on-call health, week 2026-W47")
    ]


def test_a_team_without_a_manager_to_mail_gets_no_report(monkeypatch, week, mailoutbox):
    member = factories.responder("rita")
    week.payments.members.set([member])
    clock(monkeypatch, "2026-11-23 20:00")

    weekly_reports_task.delay()

    assert mailoutbox == []
    assert not WeeklyReport.objects.exists()


def test_the_email_is_html_with_a_plain_text_alternative_and_links_to_the_page(
    monkeypatch, managers, mailoutbox
):
    clock(monkeypatch, "2026-11-23 08:30")
    weekly_reports_task.delay()

    [message] = mailoutbox
    assert "Mean time to acknowledge (MTTA): 6 min (last week —); target < 5 min: missed" in (
        message.body
    )
    assert "- Payments primary: 5 actionable of 6 pages, 1 needed manual action" in message.body
    assert f"{settings.FIREBREAK_BASE_URL}/health/report/payments/2026-W47/" in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert "<h1" in html and "week 2026-W47" in html
    assert f'href="{settings.FIREBREAK_BASE_URL}/health/incidents/?team=payments' in html
    assert "✗ missed" in html
    assert "<script" not in html and "<svg" not in html


def test_a_failed_send_records_nothing_so_the_retry_sends(monkeypatch, managers, mailoutbox):
    def refuse(self, fail_silently=False):
        raise ConnectionRefusedError("mail server down")

    clock(monkeypatch, "2026-11-23 08:30")
    payments = managers.payments.pk
    with monkeypatch.context() as patched:
        patched.setattr("django.core.mail.EmailMultiAlternatives.send", refuse)
        with pytest.raises(ConnectionRefusedError):
            reports.weekly_report_send(team_id=payments, iso_year=2026, iso_week=47)
    assert not WeeklyReport.objects.exists()

    assert reports.weekly_report_send(team_id=payments, iso_year=2026, iso_week=47) is not None
    assert len(mailoutbox) == 1


def test_a_run_that_loses_the_race_to_record_the_report_sends_nothing(
    monkeypatch, managers, mailoutbox
):
    clock(monkeypatch, "2026-11-23 08:30")
    build = reports.weekly_report_build

    def meanwhile_another_worker_sent_it(**kwargs):
        WeeklyReport.objects.create(
            team=managers.payments, iso_year=2026, iso_week=47, sent_at=timezone.now()
        )
        return build(**kwargs)

    monkeypatch.setattr(reports, "weekly_report_build", meanwhile_another_worker_sent_it)

    assert reports.weekly_report_send(team_id=managers.payments.pk, iso_year=2026, iso_week=47) is (
        None
    )
    assert mailoutbox == []
    assert WeeklyReport.objects.count() == 1


def test_the_report_week_is_read_in_the_teams_zone_across_new_year(monkeypatch, db):
    tokyo = team("Tokyo", "Asia/Tokyo")
    # Sunday 3 Jan 2027 23:30 UTC is Monday 4 Jan 08:30 in Tokyo (not yet 09:00) …
    assert reports.report_week_due(team=tokyo, now=clock(monkeypatch, "2027-01-03 23:30")) is None
    # … and at 00:00 UTC it is 09:00 there: last week is 2026-W53 (2026 has 53 ISO weeks).
    assert reports.report_week_due(team=tokyo, now=clock(monkeypatch, "2027-01-04 00:00")) == (
        2026,
        53,
    )
