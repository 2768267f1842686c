"""What the health dashboard shows, assembled from the metrics; a fixed number of queries.

Every figure comes with the address of the rows behind it (a drill-down list with the same
scope plus the figure's own filter), built here so templates only print them.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.models import User
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from incidents.models import Service, Team
from portal.auth import AnyUser
from portal.templatetags.portal_tags import person
from postmortems.action_item_selectors import action_item_owner_choices

from .charts import ChartKind, ChartPoint, chart_svg
from .checklist import CHECKLIST_KEYS, LABELS, checklist_summary
from .forms import PERIODS, Scope, iso_week_text
from .metrics import (
    ACTIONABLE_PAGES_PER_WEEK_TARGET,
    FALSE_POSITIVE_TARGET,
    MTTA_TARGET,
    NO_DURATIONS,
    AlertQuality,
    Durations,
    NoisyAlert,
    PersonWeek,
    RotationWeek,
    TrendPoint,
    false_positive_total,
    false_positives,
    noisy_alerts,
    pages_per_person,
    pages_per_rotation,
    response_times,
    weekly_trend,
)
from .reports import report_path
from .services import can_create_toil_follow_up
from .templatetags.health_pages import health_duration, percent

# The worst alert names shown at once; the rest fold away (the count still links to them all).
ALERT_NAMES_SHOWN = 15
FOLLOW_UP_DUE_IN = timedelta(days=14)
EMPTY_CELL = mark_safe('<td><span class="muted">—</span></td>')
OVER_TARGET_CELL = (
    ' class="over" title="At or over the target of fewer than 5 actionable pages a week"'
)


@lru_cache(maxsize=64)
def _path(view: str, script_prefix: str) -> str:
    # Big tables link every cell: reverse() once per page name (and deployment prefix).
    return reverse(f"health:{view}")


def health_url(view: str, scope: Scope, /, **extra: Any) -> str:
    """Return the address of a health page with the scope's filters and `extra` ones."""
    query = scope.query(**extra)
    return _path(view, get_script_prefix()) + (f"?{query}" if query else "")


def duration_text(value: timedelta | None) -> str:
    """Return a response time as the health pages write it ("4 min 30 s"), or an em dash."""
    return "—" if value is None else health_duration(value)


def under(value: float | timedelta | None, target: float | timedelta) -> str:
    """Return "met" when the value is below the target, "missed" when not, "" without a value."""
    if value is None:
        return ""
    return "met" if value < target else "missed"  # type: ignore[operator]


# --- Tables of figures -------------------------------------------------------------------------


@dataclass(frozen=True)
class DurationsRow:
    """One team's or service's response times, each count linking to the incidents measured."""

    name: str
    durations: Durations  # MTTR
    url: str
    mtta: Durations = NO_DURATIONS
    mtta_url: str = ""
    mtta_verdict: str = ""


@dataclass(frozen=True)
class SeverityRow:
    code: str
    mtta: Durations
    mttr: Durations
    mtta_url: str
    mttr_url: str
    mtta_verdict: str


@dataclass(frozen=True)
class AlertRow:
    quality: AlertQuality
    episodes_url: str
    not_actionable_url: str
    reviewed_url: str
    unreviewed_url: str
    verdict: str


@dataclass(frozen=True)
class WeekCell:
    """One person's or rotation's pages in one ISO week, with links to each count's pages."""

    pages: int
    actionable: int
    manual_action: int
    pages_url: str
    actionable_url: str
    over_target: bool


@dataclass(frozen=True)
class PagesRow:
    """A rotation's (or person's) pages per ISO week of the period, and in total."""

    name: str
    cells: list[WeekCell | None]
    cells_html: SafeString  # the week cells, built in Python: a big table renders fast
    total: WeekCell
    manual_url: str


@dataclass(frozen=True)
class NoisyRow:
    alert: NoisyAlert
    episodes_url: str
    action_item_url: str
    month_text: str


@dataclass(frozen=True)
class NoisyMonth:
    month: date
    title: str
    rows: list[NoisyRow]

    @property
    def key(self) -> str:
        return f"{self.month:%Y-%m}"

    @property
    def label(self) -> str:
        return f"{self.month:%B %Y}"


@dataclass(frozen=True)
class ChecklistRow:
    key: str
    label: str
    done: int
    missing: int
    done_url: str
    missing_url: str


@dataclass(frozen=True)
class TrendRow:
    label: str
    text: str
    url: str


@dataclass(frozen=True)
class TrendChart:
    title: str
    svg: str
    rows: list[TrendRow]
    note: str = ""


@dataclass(frozen=True)
class Busiest:
    """The rotation-week (or week of a person paged directly) with the most actionable pages.

    The runbook's target is per week.
    """

    rotation: RotationWeek | None = None
    over_target: int = 0
    url: str = ""


# --- Builders ----------------------------------------------------------------------------------


def _severity_rows(
    scope: Scope, mtta: dict[str, Durations], mttr: dict[str, Durations]
) -> list[SeverityRow]:
    empty = Durations(count=0, median=None, p90=None, mean=None)
    codes = list(dict.fromkeys([*mtta, *mttr]))
    return [
        SeverityRow(
            code=code,
            mtta=mtta.get(code, empty),
            mttr=mttr.get(code, empty),
            mtta_url=health_url("incidents", scope, severity=code, figure="mtta"),
            mttr_url=health_url("incidents", scope, severity=code, figure="mttr"),
            mtta_verdict=under(mtta.get(code, empty).mean, MTTA_TARGET),
        )
        for code in codes
    ]


def _named_rows(
    scope: Scope,
    by_name: dict[str, Durations],
    slugs: dict[str, str],
    param: str,
    mtta_by_name: dict[str, Durations] | None = None,
) -> list[DurationsRow]:
    def url(name: str, figure: str) -> str:
        if name not in slugs:
            return ""
        return health_url("incidents", scope, **{param: slugs[name], "figure": figure})

    mtta_by_name = mtta_by_name or {}
    return [
        DurationsRow(
            name=name,
            durations=durations,
            url=url(name, "mttr"),
            mtta=mtta_by_name.get(name, NO_DURATIONS),
            mtta_url=url(name, "mtta"),
            mtta_verdict=under(mtta_by_name.get(name, NO_DURATIONS).mean, MTTA_TARGET),
        )
        for name, durations in by_name.items()
    ]


def _alert_rows(scope: Scope, qualities: Sequence[AlertQuality]) -> list[AlertRow]:
    rows = []
    for quality in qualities:

        def url(verdict: str, quality: AlertQuality = quality) -> str:
            return health_url(
                "alerts", scope, source=quality.source_id, name=quality.alert_name, verdict=verdict
            )

        rows.append(
            AlertRow(
                quality=quality,
                episodes_url=url(""),
                not_actionable_url=url("not_actionable"),
                reviewed_url=url("reviewed"),
                unreviewed_url=url("unreviewed"),
                verdict=under(quality.rate, FALSE_POSITIVE_TARGET),
            )
        )
    return rows


def _week_cell_html(cell: WeekCell | None) -> SafeString:
    """Return a rotation's or person's week as a table cell ("3 of 7", each number a link)."""
    if cell is None:
        return EMPTY_CELL
    return format_html(
        '<td{}><a href="{}" aria-label="{} actionable">{}</a> of '
        '<a href="{}" aria-label="{} pages">{}</a></td>',
        mark_safe(OVER_TARGET_CELL) if cell.over_target else "",  # noqa: S308 - a constant
        cell.actionable_url,
        cell.actionable,
        cell.actionable,
        cell.pages_url,
        cell.pages,
        cell.pages,
    )


def _pages_rows(
    scope: Scope,
    weeks: Sequence[tuple[int, int]],
    entries: Sequence[RotationWeek] | Sequence[PersonWeek],
    key_of: Callable[[Any], tuple[Any, str]],
    params_of: Callable[[Any], dict[str, Any]],
) -> list[PagesRow]:
    """Return one row per rotation or person with a cell per ISO week (None: no pages)."""
    grouped: dict[Any, tuple[str, dict[tuple[int, int], Any]]] = {}
    for entry in entries:
        key, name = key_of(entry)
        grouped.setdefault(key, (name, {}))[1][(entry.iso_year, entry.iso_week)] = entry
    # A person-by-week table can hold thousands of links: build them without a reverse() each.
    path = _path("pages", get_script_prefix())
    base = scope.params()

    def url(**extra: Any) -> str:
        return path + "?" + urlencode({**base, **{k: str(v) for k, v in extra.items()}})

    week_texts = [
        (iso_year, iso_week, iso_week_text(iso_year, iso_week)) for iso_year, iso_week in weeks
    ]
    rows = []
    for key, (name, by_week) in grouped.items():
        params = params_of(key)
        cells: list[WeekCell | None] = []
        for iso_year, iso_week, week in week_texts:
            found = by_week.get((iso_year, iso_week))
            if found is None:
                cells.append(None)
                continue
            cells.append(
                WeekCell(
                    pages=found.pages,
                    actionable=found.actionable,
                    manual_action=found.manual_action,
                    pages_url=url(week=week, **params),
                    actionable_url=url(week=week, actionable=1, **params),
                    over_target=found.actionable >= ACTIONABLE_PAGES_PER_WEEK_TARGET,
                )
            )
        entries_of_row = list(by_week.values())
        rows.append(
            PagesRow(
                name=name,
                cells=cells,
                cells_html=mark_safe("".join(_week_cell_html(cell) for cell in cells)),  # noqa: S308
                total=WeekCell(
                    pages=sum(e.pages for e in entries_of_row),
                    actionable=sum(e.actionable for e in entries_of_row),
                    manual_action=sum(e.manual_action for e in entries_of_row),
                    pages_url=url(**params),
                    actionable_url=url(actionable=1, **params),
                    over_target=False,
                ),
                manual_url=url(manual=1, **params),
            )
        )
    return rows


def _rotation_key(entry: RotationWeek) -> tuple[Any, str]:
    # A rotation, or a person paged directly (through no rotation): each its own row.
    return (entry.schedule_id, entry.user_id), entry.name


def _rotation_params(key: tuple[int | None, int | None]) -> dict[str, Any]:
    schedule_id, user_id = key
    if schedule_id is not None:
        return {"schedule": schedule_id}
    return {"schedule": "none", **({"person": user_id} if user_id is not None else {})}


def _person_key(entry: PersonWeek) -> tuple[Any, str]:
    return entry.user_id, entry.person


def _person_params(user_id: int) -> dict[str, Any]:
    return {"person": user_id}


def _busiest(scope: Scope, rotations: Sequence[RotationWeek]) -> Busiest:
    # People paged directly carry the same load as a rotation's on-call: the same target.
    if not rotations:
        return Busiest()
    busiest = max(rotations, key=lambda week: (week.actionable, week.pages))
    return Busiest(
        rotation=busiest,
        over_target=sum(
            1 for week in rotations if week.actionable >= ACTIONABLE_PAGES_PER_WEEK_TARGET
        ),
        url=health_url(
            "pages",
            scope,
            **_rotation_params((busiest.schedule_id, busiest.user_id)),
            week=iso_week_text(busiest.iso_year, busiest.iso_week),
            actionable=1,
        ),
    )


def month_start(day: date, months_back: int = 0) -> date:
    """Return the first day of the month `months_back` months before `day`'s."""
    index = day.year * 12 + day.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1)


def _noisy_months(scope: Scope, today: date) -> list[NoisyMonth]:
    months = []
    for back, title in ((0, "This month"), (1, "Last month")):
        month = month_start(today, back)
        month_text = f"{month:%Y-%m}"
        rows = [
            NoisyRow(
                alert=alert,
                # noisy_alerts reads the calendar month with the team filter only.
                episodes_url=reverse("health:alerts")
                + "?"
                + urlencode(
                    {
                        **({"team": scope.team.slug} if scope.team else {}),
                        "month": month_text,
                        "source": alert.source_id,
                        "name": alert.alert_name,
                    }
                ),
                action_item_url=reverse(
                    "postmortems:action_item_edit", kwargs={"pk": alert.follow_up_id}
                )
                if alert.follow_up_id
                else "",
                month_text=month_text,
            )
            for alert in noisy_alerts(month=month, team=scope.team)
        ]
        months.append(NoisyMonth(month=month, title=f"{title} ({month:%B %Y})", rows=rows))
    return months


def _owner_options(owners: Sequence[User], *, selected: int | None) -> SafeString:
    """Return the owner <option>s once; every noisy alert's form shows the same list."""
    return format_html_join(
        "",
        '<option value="{}"{}>{}</option>',
        (
            (owner.pk, " selected" if owner.pk == selected else "", person(owner))
            for owner in owners
        ),
    )


def _checklist_rows(scope: Scope) -> list[ChecklistRow]:
    summary = checklist_summary(window=scope.window)
    return [
        ChecklistRow(
            key=key,
            label=LABELS[key],
            done=summary[key][0],
            missing=summary[key][1],
            done_url=health_url("incidents", scope, figure="checklist", item=key, state="done"),
            missing_url=health_url(
                "incidents", scope, figure="checklist", item=key, state="missing"
            ),
        )
        for key in CHECKLIST_KEYS
    ]


def _minutes(value: timedelta | None) -> float | None:
    return None if value is None else value.total_seconds() / 60


def trend_charts(scope: Scope, points: Sequence[TrendPoint]) -> list[TrendChart]:
    """Return the weekly trend charts (incidents, MTTA, MTTR, actionable pages, false positives)."""

    def week(point: TrendPoint) -> str:
        return iso_week_text(point.iso_year, point.iso_week)

    def chart(
        kind: ChartKind,
        title: str,
        values: list[tuple[TrendPoint, float | None, str]],
        url: Callable[[TrendPoint], str],
        *,
        unit: str = "",
        target: float | None = None,
        target_text: str = "",
        note: str = "",
    ) -> TrendChart:
        chart_points = [
            ChartPoint(label=week(p), value=v, text=t, axis_label=f"W{p.iso_week:02d}")
            for p, v, t in values
        ]
        return TrendChart(
            title=title,
            svg=chart_svg(
                kind=kind,
                title=title,
                points=chart_points,
                unit=unit,
                target=target,
                target_text=target_text,
            ),
            rows=[TrendRow(label=week(p), text=t, url=url(p)) for p, _, t in values],
            note=note,
        )

    mttr_hours = max((p.mttr or timedelta(0) for p in points), default=timedelta(0)) >= timedelta(
        hours=2
    )
    mttr_scale = 60.0 if mttr_hours else 1.0
    return [
        chart(
            "bars",
            "Incidents per week",
            [
                (p, float(p.incidents), f"{p.incidents} incident{'s' if p.incidents != 1 else ''}")
                for p in points
            ],
            lambda p: health_url("incidents", scope, week=week(p), figure="incidents"),
        ),
        chart(
            "line",
            "Mean time to acknowledge",
            [(p, _minutes(p.mtta), duration_text(p.mtta)) for p in points],
            lambda p: health_url("incidents", scope, week=week(p), figure="mtta"),
            unit="min",
            target=MTTA_TARGET.total_seconds() / 60,
            target_text="target < 5 min",
        ),
        chart(
            "line",
            "Mean time to resolve",
            [
                (
                    p,
                    None if p.mttr is None else (_minutes(p.mttr) or 0.0) / mttr_scale,
                    duration_text(p.mttr),
                )
                for p in points
            ],
            lambda p: health_url("incidents", scope, week=week(p), figure="mttr"),
            unit="h" if mttr_hours else "min",
        ),
        chart(
            "bars",
            "Actionable pages per week",
            [
                (p, float(p.actionable_pages), f"{p.actionable_pages} of {p.pages} pages")
                for p in points
            ],
            lambda p: health_url("pages", scope, week=week(p), actionable=1),
            note="All pages together; the target (< 5 a week) is per rotation, and per person "
            "for pages sent directly, below.",
        ),
        chart(
            "line",
            "False-positive rate",
            [
                (
                    p,
                    None if p.false_positive_rate is None else p.false_positive_rate * 100,
                    percent(p.false_positive_rate),
                )
                for p in points
            ],
            lambda p: health_url("alerts", scope, week=week(p), verdict="not_actionable"),
            unit="%",
            target=FALSE_POSITIVE_TARGET * 100,
            target_text="target < 5 %",
        ),
    ]


def _team_slugs(teams: Sequence[Team]) -> dict[str, str]:
    return {team.name: team.slug for team in teams}


def _service_slugs(services: Sequence[Service]) -> dict[str, str]:
    return {service.name: service.slug for service in services}


def dashboard_context(
    *,
    scope: Scope,
    user: AnyUser,
    teams: Sequence[Team],
    services: Sequence[Service],
    next_url: str,
) -> dict[str, Any]:
    """Return everything the dashboard shows for the scope, each figure with its rows' address."""
    window = scope.window
    times = response_times(window=window)
    alert_total = false_positive_total(window=window)
    rotations = pages_per_rotation(window=window)
    people = pages_per_person(window=window)
    points = weekly_trend(window=window)
    weeks = [(p.iso_year, p.iso_week) for p in points]
    qualities = false_positives(window=window)
    alert_rows = _alert_rows(scope, qualities)
    rotation_rows = _pages_rows(scope, weeks, rotations, _rotation_key, _rotation_params)
    today = timezone.now().astimezone(window.zone).date()
    noisy = _noisy_months(scope, today)
    may_follow_up = can_create_toil_follow_up(user)
    # Loaded whether or not an alert is noisy this time: the query count must not vary with data.
    owners: list[User] = list(action_item_owner_choices()) if may_follow_up else []
    # The last complete week is the one a team reviews.
    last_week = (today - timedelta(days=7)).isocalendar()

    def incidents(figure: str, **extra: Any) -> str:
        return health_url("incidents", scope, figure=figure, **extra)

    def alerts(verdict: str) -> str:
        return health_url("alerts", scope, verdict=verdict)

    return {
        "scope": scope,
        "periods": [
            {
                "days": days,
                "url": reverse("health:dashboard") + "?" + scope.query(days=days, week=""),
                "current": scope.days == days and scope.week is None,
            }
            for days in PERIODS
        ],
        "first_day": window.start.astimezone(window.zone).date(),
        "last_day": (window.end - timedelta(microseconds=1)).astimezone(window.zone).date(),
        "times": times,
        "mtta_verdict": under(times.mtta.mean, MTTA_TARGET),
        "alert_total": alert_total,
        "alert_total_verdict": under(alert_total.rate, FALSE_POSITIVE_TARGET),
        "busiest": _busiest(scope, rotations),
        "severity_rows": _severity_rows(scope, times.mtta_by_severity, times.mttr_by_severity),
        "mttr_groups": [
            (
                "team",
                _named_rows(
                    scope, times.mttr_by_team, _team_slugs(teams), "team", times.mtta_by_team
                ),
            ),
            (
                "service",
                _named_rows(
                    scope,
                    times.mttr_by_service,
                    _service_slugs(services),
                    "service",
                    times.mtta_by_service,
                ),
            ),
        ],
        "alert_rows": alert_rows[:ALERT_NAMES_SHOWN],
        "more_alert_rows": alert_rows[ALERT_NAMES_SHOWN:],
        "weeks": [iso_week_text(*week) for week in weeks],
        "rotation_rows": rotation_rows,
        "page_groups": [
            ("Per rotation", rotation_rows),
            ("Per person", _pages_rows(scope, weeks, people, _person_key, _person_params)),
        ],
        "toil_rows": [row for row in rotation_rows if row.total.manual_action],
        "noisy_months": noisy,
        "may_follow_up": may_follow_up,
        "owner_options": _owner_options(owners, selected=user.pk),
        "default_due": f"{today + FOLLOW_UP_DUE_IN:%Y-%m-%d}",
        "follow_up_url": reverse("health:toil_follow_up"),
        "next_url": next_url,
        "checklist_rows": _checklist_rows(scope),
        "slow_minutes": f"{settings.FIREBREAK_SLOW_DETECTION_MINUTES:g}",
        "clear_url": reverse("health:dashboard")
        + "?"
        + scope.query(team="", service="", severity=""),
        "report_url": report_path(team=scope.team, iso_year=last_week.year, iso_week=last_week.week)
        if scope.team
        else "",
        "charts": trend_charts(scope, points),
        "targets": {
            "mtta": MTTA_TARGET,
            "false_positive": FALSE_POSITIVE_TARGET,
            "actionable_pages": ACTIONABLE_PAGES_PER_WEEK_TARGET,
        },
        "links": {
            "incidents": incidents("incidents"),
            "mtta": incidents("mtta"),
            "never_acknowledged": incidents("never_acknowledged"),
            "mttr": incidents("mttr"),
            "unresolved": incidents("unresolved"),
            "detect": incidents("detect"),
            "slow_detection": incidents("slow_detection"),
            "alerts": alerts(""),
            "not_actionable": alerts("not_actionable"),
            "reviewed": alerts("reviewed"),
            "unreviewed": alerts("unreviewed"),
            "pages": health_url("pages", scope),
            "actionable_pages": health_url("pages", scope, actionable=1),
            "manual_pages": health_url("pages", scope, manual=1),
        },
        "exports": [
            {"kind": kind, "label": label, "url": health_url("export", scope, kind=kind)}
            for kind, label in (
                ("incidents", "Incidents"),
                ("pages", "Pages"),
                ("alerts", "Alert episodes"),
            )
        ],
    }
