"""A team's weekly on-call report: the figures of one ISO week against targets and the week before.

The same report is a printable page and an HTML email (with a plain-text alternative) to the
team's engineering managers. Beat runs hourly; once a team's local time has passed the
configured weekday and hour of a new week, last week's report goes out once: the WeeklyReport
row is written in the same transaction as the send, so a duplicate run sends nothing.
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from incidents.models import Team
from portal.links import absolute_url
from portal.mail import mail_deliver, mail_message

from .charts import ChartPoint, chart_svg
from .checklist import CHECKLIST_KEYS, LABELS, checklist_summary
from .forms import iso_week_text, week_bounds
from .metrics import (
    ACTIONABLE_PAGES_PER_WEEK_TARGET,
    FALSE_POSITIVE_TARGET,
    MTTA_TARGET,
    AlertQuality,
    NoisyAlert,
    ResponseTimes,
    RotationWeek,
    false_positive_total,
    false_positives,
    noisy_alerts,
    pages_per_rotation,
    response_times,
    weekly_trend,
)
from .models import WeeklyReport
from .selectors import Window
from .templatetags.health_pages import health_duration

logger = logging.getLogger(__name__)

TREND_WEEKS = 8
WORST_ALERTS_SHOWN = 5
MINUS = "\u2212"  # a true minus sign lines up with "+" in a table


@dataclass(frozen=True)
class WeekFigures:
    """One ISO week of a team: the window and its figures."""

    iso_year: int
    iso_week: int
    window: Window
    times: ResponseTimes
    alerts: AlertQuality
    rotations: list[RotationWeek]
    checklist: dict[str, tuple[int, int]]

    @property
    def label(self) -> str:
        return iso_week_text(self.iso_year, self.iso_week)

    @property
    def busiest_rotation(self) -> RotationWeek | None:
        """The rotation, or person paged directly, with the most actionable pages."""
        return max(self.rotations, key=lambda week: (week.actionable, week.pages), default=None)

    @property
    def pages(self) -> int:
        return sum(week.pages for week in self.rotations)

    @property
    def actionable_pages(self) -> int:
        return sum(week.actionable for week in self.rotations)

    @property
    def manual_action_pages(self) -> int:
        return sum(week.manual_action for week in self.rotations)

    @property
    def incidents(self) -> int:
        return self.times.time_to_detect.count

    @property
    def checklist_missing(self) -> int:
        return sum(missing for _, missing in self.checklist.values())


@dataclass(frozen=True)
class ReportLine:
    """One line of the report: a figure this week, last week, the change and the target."""

    name: str
    this_week: str
    last_week: str
    change: str
    trend: str  # "better", "worse" or "" (no direction, or no change)
    target: str
    verdict: str  # "met", "missed" or "" (tracked, no target)
    path: str  # the rows behind this week's figure


@dataclass(frozen=True)
class WeeklyReportData:
    """Everything the page and the email show for one team and one ISO week."""

    team: Team
    this: WeekFigures
    last: WeekFigures
    lines: list[ReportLine]
    first_day: date
    last_day: date
    worst_alerts: list[AlertQuality]
    noisy: list[NoisyAlert]
    checklist: list[tuple[str, int, int]]
    charts: list[tuple[str, str]]
    previous_week: tuple[int, int]
    next_week: tuple[int, int]

    @property
    def label(self) -> str:
        return self.this.label

    @property
    def path(self) -> str:
        return report_path(team=self.team, iso_year=self.this.iso_year, iso_week=self.this.iso_week)

    @property
    def missed(self) -> int:
        return sum(1 for line in self.lines if line.verdict == "missed")


def report_path(*, team: Team, iso_year: int, iso_week: int) -> str:
    """Return the address of a team's weekly report page."""
    return reverse(
        "health:report", kwargs={"team": team.slug, "week": iso_week_text(iso_year, iso_week)}
    )


def _shift(iso_year: int, iso_week: int, weeks: int) -> tuple[int, int]:
    iso = (date.fromisocalendar(iso_year, iso_week, 1) + timedelta(weeks=weeks)).isocalendar()
    return iso.year, iso.week


def week_window(*, team: Team, iso_year: int, iso_week: int) -> Window:
    """Return the team's local ISO week [Monday 00:00, next Monday 00:00) as a window."""
    zone = ZoneInfo(team.time_zone)
    start, end = week_bounds(iso_year, iso_week, zone)
    return Window(start=start, end=end, zone=zone, team_id=team.pk)


def _week(team: Team, iso_year: int, iso_week: int) -> WeekFigures:
    window = week_window(team=team, iso_year=iso_year, iso_week=iso_week)
    return WeekFigures(
        iso_year=iso_year,
        iso_week=iso_week,
        window=window,
        times=response_times(window=window),
        alerts=false_positive_total(window=window),
        rotations=pages_per_rotation(window=window),
        checklist=checklist_summary(window=window),
    )


def _text(value: timedelta | None) -> str:
    return "—" if value is None else health_duration(value)


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f} %"


def _signed_duration(delta: timedelta) -> str:
    if not delta:
        return "±0"
    sign = "+" if delta > timedelta(0) else MINUS
    return sign + health_duration(abs(delta))


def _signed(number: float, suffix: str = "") -> str:
    if not number:
        return "±0"
    text = f"{abs(number):.1f}" if isinstance(number, float) else str(abs(number))
    return ("+" if number > 0 else MINUS) + text + suffix


def _trend(delta: float) -> str:
    # Every figure of the report is better lower (faster, fewer, less noise).
    if not delta:
        return ""
    return "worse" if delta > 0 else "better"


def _duration_line(
    name: str,
    this: timedelta | None,
    last: timedelta | None,
    *,
    path: str,
    target: timedelta | None = None,
    target_text: str = "tracked",
) -> ReportLine:
    change, trend = "", ""
    if this is not None and last is not None:
        change, trend = _signed_duration(this - last), _trend((this - last).total_seconds())
    verdict = ""
    if target is not None and this is not None:
        verdict = "met" if this < target else "missed"
    return ReportLine(name, _text(this), _text(last), change, trend, target_text, verdict, path)


def _pages_of(week: RotationWeek) -> str:
    """Return the page list's filter for a rotation, or for a person paged directly."""
    if not week.is_direct:
        return f"schedule={week.schedule_id}"
    return "schedule=none" + (f"&person={week.user_id}" if week.user_id is not None else "")


def _count_line(
    name: str,
    this: int,
    last: int,
    *,
    path: str,
    target: int | None = None,
    target_text: str = "tracked",
) -> ReportLine:
    verdict = "" if target is None else ("met" if this < target else "missed")
    return ReportLine(
        name,
        str(this),
        str(last),
        _signed(this - last),
        _trend(this - last),
        target_text,
        verdict,
        path,
    )


def _lines(team: Team, this: WeekFigures, last: WeekFigures) -> list[ReportLine]:
    week = this.label

    def incidents(figure: str) -> str:
        return reverse("health:incidents") + f"?team={team.slug}&week={week}&figure={figure}"

    def alerts(verdict: str) -> str:
        return reverse("health:alerts") + f"?team={team.slug}&week={week}&verdict={verdict}"

    def pages(extra: str = "") -> str:
        return reverse("health:pages") + f"?team={team.slug}&week={week}{extra}"

    busiest, busiest_before = this.busiest_rotation, last.busiest_rotation
    rate, rate_before = this.alerts.rate, last.alerts.rate
    rate_change, rate_trend = "", ""
    if rate is not None and rate_before is not None:
        rate_change = _signed((rate - rate_before) * 100, " pt")
        rate_trend = _trend(rate - rate_before)
    lines = [
        _count_line("Incidents", this.incidents, last.incidents, path=incidents("incidents")),
        _duration_line(
            "Mean time to acknowledge (MTTA)",
            this.times.mtta.mean,
            last.times.mtta.mean,
            path=incidents("mtta"),
            target=MTTA_TARGET,
            target_text="< 5 min",
        ),
        _duration_line(
            "Median time to acknowledge",
            this.times.mtta.median,
            last.times.mtta.median,
            path=incidents("mtta"),
        ),
        _count_line(
            "Never acknowledged",
            this.times.never_acknowledged,
            last.times.never_acknowledged,
            path=incidents("never_acknowledged"),
        ),
        _duration_line(
            "Mean time to resolve (MTTR)",
            this.times.mttr.mean,
            last.times.mttr.mean,
            path=incidents("mttr"),
            target_text="tracked by severity",
        ),
        _duration_line(
            "Median time to detect",
            this.times.time_to_detect.median,
            last.times.time_to_detect.median,
            path=incidents("detect"),
        ),
        _count_line(
            "Slow detections",
            this.times.slow_detections,
            last.times.slow_detections,
            path=incidents("slow_detection"),
            target_text=f"slow: > {settings.FIREBREAK_SLOW_DETECTION_MINUTES:g} min",
        ),
        ReportLine(
            "False-positive rate",
            _percent(rate),
            _percent(rate_before),
            rate_change,
            rate_trend,
            "< 5 %",
            "" if rate is None else ("met" if rate < FALSE_POSITIVE_TARGET else "missed"),
            alerts("not_actionable"),
        ),
        _count_line(
            "Alert episodes not reviewed",
            this.alerts.unreviewed,
            last.alerts.unreviewed,
            path=alerts("unreviewed"),
        ),
        _count_line(
            "Actionable pages, busiest rotation" + (f" ({busiest.name})" if busiest else ""),
            busiest.actionable if busiest else 0,
            busiest_before.actionable if busiest_before else 0,
            path=pages(f"&{_pages_of(busiest)}&actionable=1") if busiest else pages(),
            target=ACTIONABLE_PAGES_PER_WEEK_TARGET,
            target_text="< 5 per rotation",
        ),
        _count_line("Pages", this.pages, last.pages, path=pages()),
        _count_line(
            "Pages that needed manual action",
            this.manual_action_pages,
            last.manual_action_pages,
            path=pages("&manual=1"),
        ),
        _count_line(
            "After-incident checklist items missing",
            this.checklist_missing,
            last.checklist_missing,
            path=reverse("health:dashboard") + f"?team={team.slug}&week={week}#checklist",
        ),
    ]
    for code, durations in this.times.mttr_by_severity.items():
        before = last.times.mttr_by_severity.get(code)
        lines.append(
            _duration_line(
                f"MTTR {code}",
                durations.mean,
                before.mean if before else None,
                path=reverse("health:incidents")
                + f"?team={team.slug}&week={week}&severity={code}&figure=mttr",
            )
        )
    return lines


def _charts(team: Team, iso_year: int, iso_week: int) -> list[tuple[str, str]]:
    """Return the last weeks' MTTA and actionable-pages trend as (title, svg) pairs."""
    first = _shift(iso_year, iso_week, -(TREND_WEEKS - 1))
    start = week_window(team=team, iso_year=first[0], iso_week=first[1]).start
    end = week_window(team=team, iso_year=iso_year, iso_week=iso_week).end
    points = weekly_trend(
        window=Window(start=start, end=end, zone=ZoneInfo(team.time_zone), team_id=team.pk)
    )

    def label(iso_year: int, iso_week: int) -> str:
        return iso_week_text(iso_year, iso_week)

    mtta = [
        ChartPoint(
            label=label(p.iso_year, p.iso_week),
            value=None if p.mtta is None else p.mtta.total_seconds() / 60,
            text=_text(p.mtta),
            axis_label=f"W{p.iso_week:02d}",
        )
        for p in points
    ]
    pages = [
        ChartPoint(
            label=label(p.iso_year, p.iso_week),
            value=float(p.actionable_pages),
            text=f"{p.actionable_pages} of {p.pages} pages",
            axis_label=f"W{p.iso_week:02d}",
        )
        for p in points
    ]
    return [
        (
            "Mean time to acknowledge",
            chart_svg(
                kind="line",
                title="Mean time to acknowledge",
                points=mtta,
                unit="min",
                target=MTTA_TARGET.total_seconds() / 60,
                target_text="target < 5 min",
            ),
        ),
        (
            "Actionable pages (all rotations)",
            chart_svg(kind="bars", title="Actionable pages, all rotations", points=pages),
        ),
    ]


def weekly_report_build(*, team: Team, iso_year: int, iso_week: int) -> WeeklyReportData:
    """Return the team's report of one ISO week, compared with the week before."""
    this = _week(team, iso_year, iso_week)
    last = _week(team, *_shift(iso_year, iso_week, -1))
    monday = date.fromisocalendar(iso_year, iso_week, 1)
    return WeeklyReportData(
        team=team,
        this=this,
        last=last,
        lines=_lines(team, this, last),
        first_day=monday,
        last_day=monday + timedelta(days=6),
        worst_alerts=[
            quality for quality in false_positives(window=this.window) if quality.not_actionable
        ][:WORST_ALERTS_SHOWN],
        noisy=noisy_alerts(month=monday.replace(day=1), team=team),
        checklist=[(LABELS[key], *this.checklist[key]) for key in CHECKLIST_KEYS],
        charts=_charts(team, iso_year, iso_week),
        previous_week=_shift(iso_year, iso_week, -1),
        next_week=_shift(iso_year, iso_week, 1),
    )


# --- Sending -----------------------------------------------------------------------------------


def report_week_due(*, team: Team, now: datetime) -> tuple[int, int] | None:
    """Return last week (ISO year, week) once the team's local time passed the sending time."""
    local = now.astimezone(ZoneInfo(team.time_zone))
    weekday, hour = settings.FIREBREAK_WEEKLY_REPORT_WEEKDAY, settings.FIREBREAK_WEEKLY_REPORT_HOUR
    if (local.isoweekday(), local.hour) < (weekday, hour):
        return None
    last = (local.date() - timedelta(days=7)).isocalendar()
    return last.year, last.week


def weekly_reports_due(*, now: datetime | None = None) -> list[tuple[int, int, int]]:
    """Return (team id, ISO year, ISO week) of every report due now and not sent yet."""
    now = now or timezone.now()
    teams = Team.objects.filter(
        engineering_managers__is_active=True, engineering_managers__email__gt=""
    ).distinct()
    due = []
    for team in teams:
        week = report_week_due(team=team, now=now)
        if week is not None:
            due.append((team.pk, *week))
    if not due:
        return []
    sent = set(
        WeeklyReport.objects.filter(team_id__in=[team_id for team_id, _, _ in due]).values_list(
            "team_id", "iso_year", "iso_week"
        )
    )
    return [entry for entry in due if entry not in sent]


def _recipients(team: Team) -> list[str]:
    return sorted(
        {
            manager.email
            for manager in team.engineering_managers.all()
            if manager.is_active and manager.email
        }
    )


def weekly_report_email(*, report: WeeklyReportData, to: list[str]) -> EmailMultiAlternatives:
    """Return the report as an email: plain text with an HTML alternative."""
    context: dict[str, Any] = {
        "report": report,
        "base_url": absolute_url(""),
        "report_url": absolute_url(report.path),
    }
    subject = f"{report.team.name} on-call health, week {report.label}"
    if report.missed:
        subject += f": {report.missed} target{'s' if report.missed != 1 else ''} missed"
    text = render_to_string("health/email/weekly_report.txt", context)
    html = render_to_string("health/email/weekly_report.html", context)
    return mail_message(subject=subject, body=text, html=html, to=to)


def weekly_report_send(*, team_id: int, iso_year: int, iso_week: int) -> WeeklyReport | None:
    """Mail a team's weekly report to its engineering managers once; a repeat sends nothing.

    The record and the email happen in one transaction: a failed send leaves no record (and the
    task retries); a crash after the mail server accepted the message may send it once more.
    """
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        logger.info("weekly report skipped: team %s no longer exists", team_id)
        return None
    if WeeklyReport.objects.filter(team=team, iso_year=iso_year, iso_week=iso_week).exists():
        logger.info("weekly report skipped: %s %s-W%02d was sent", team, iso_year, iso_week)
        return None
    recipients = _recipients(team)
    if not recipients:
        logger.info("weekly report skipped: %s has no engineering manager with an email", team)
        return None
    message = weekly_report_email(
        report=weekly_report_build(team=team, iso_year=iso_year, iso_week=iso_week), to=recipients
    )
    try:
        with transaction.atomic():
            report = WeeklyReport.objects.create(
                team=team,
                iso_year=iso_year,
                iso_week=iso_week,
                recipients=recipients,
                sent_at=timezone.now(),
            )
            mail_deliver(message)
    except IntegrityError:
        logger.info("weekly report skipped: %s %s-W%02d was sent", team, iso_year, iso_week)
        return None
    return report
