"""On-call health figures: MTTA, MTTR, time to detect, alert quality, pages per rotation, toil.

PostgreSQL aggregates in the database, one query per grouping (peak severity, team, service,
ISO week): `percentile_cont(…) WITHIN GROUP (ORDER BY …)` over whole microseconds, exact
bigint sums for the means and `COUNT(…) FILTER (WHERE …)`. SQLite has no `percentile_cont`:
there the same querysets return the few columns needed over the bounded window and Python
applies PostgreSQL's arithmetic (linear interpolation between the closest ranks, in doubles;
means from exact integer sums), so both databases give identical answers. Counts without
durations are plain ORM aggregation on both.

Windows are read by `detected_at` (alert episodes: `first_seen_at`; pages: `created_at`); ISO
weeks are the window zone's (the team's; no team: settings.TIME_ZONE), found by comparing with
each local Monday 00:00 as an instant. Every query is bounded by the window on an indexed
column, and the number of queries does not depend on the data.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import (
    Aggregate,
    BigIntegerField,
    Case,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast
from django.utils import timezone

from incidents.models import Incident, Service, Severity, Source, Team

from .models import ToilFollowUp
from .selectors import Window, health_alerts, health_incidents, health_pages

__all__ = [
    "ACTIONABLE_PAGES_PER_WEEK_TARGET",
    "FALSE_POSITIVE_TARGET",
    "MTTA_TARGET",
    "NO_DURATIONS",
    "TOIL_EPISODES_PER_MONTH",
    "AlertQuality",
    "Durations",
    "NoisyAlert",
    "PersonWeek",
    "ResponseTimes",
    "RotationWeek",
    "TrendPoint",
    "Window",
    "false_positive_total",
    "false_positives",
    "iso_weeks",
    "month_window",
    "noisy_alerts",
    "pages_per_person",
    "pages_per_rotation",
    "response_times",
    "weekly_trend",
    "window_for",
    "zone_of",
]

# The runbook's targets ("On-call metrics to review weekly").
MTTA_TARGET = timedelta(minutes=5)
FALSE_POSITIVE_TARGET = 0.05
ACTIONABLE_PAGES_PER_WEEK_TARGET = 5
# More firing episodes than this in a calendar month make an alert "automate or fix".
TOIL_EPISODES_PER_MONTH = 5

MICROSECOND = timedelta(microseconds=1)


# --- Windows -------------------------------------------------------------------------------------


def zone_of(team: Team | None) -> ZoneInfo:
    """Return the zone the team reads its figures in (no team: the portal's TIME_ZONE)."""
    return ZoneInfo(team.time_zone if team is not None else settings.TIME_ZONE)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """Return the moment the local day starts in the zone."""
    return datetime.combine(day, time.min, tzinfo=zone)


def window_for(
    *,
    days: int,
    team: Team | None,
    service: Service | None,
    severity: Severity | None,
    now: datetime | None = None,
) -> Window:
    """Return [start of the local day `days` ago, now) in the team's zone, with the filters."""
    zone = zone_of(team)
    now = now or timezone.now()
    first_day = now.astimezone(zone).date() - timedelta(days=days)
    return Window(
        start=local_midnight(first_day, zone),
        end=now,
        zone=zone,
        team_id=team.pk if team is not None else None,
        service_id=service.pk if service is not None else None,
        severity_code=severity.code if severity is not None else None,
    )


def iso_weeks(window: Window) -> list[tuple[int, int, date]]:
    """Return (ISO year, ISO week, its Monday) for every local ISO week the window touches."""
    if window.end <= window.start:
        return []
    first_day = window.start.astimezone(window.zone).date()
    last_day = (window.end - MICROSECOND).astimezone(window.zone).date()
    monday = first_day - timedelta(days=first_day.weekday())
    weeks = []
    while monday <= last_day:
        iso = monday.isocalendar()
        weeks.append((iso.year, iso.week, monday))
        monday += timedelta(days=7)
    return weeks


# --- Results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Durations:
    count: int
    median: timedelta | None
    p90: timedelta | None
    mean: timedelta | None


NO_DURATIONS = Durations(count=0, median=None, p90=None, mean=None)


@dataclass(frozen=True)
class ResponseTimes:
    mtta: Durations  # alert-opened incidents that were acknowledged
    never_acknowledged: int  # alert-opened incidents without acknowledged_at
    mttr: Durations  # resolved incidents, to their final resolution
    unresolved: int
    time_to_detect: Durations  # detected - impact started, all incidents
    slow_detections: int  # time to detect > FIREBREAK_SLOW_DETECTION_MINUTES
    mtta_by_severity: dict[str, Durations]  # by peak severity code, most severe first
    mttr_by_severity: dict[str, Durations]
    mttr_by_team: dict[str, Durations]  # by team name; incidents without a team left out
    mttr_by_service: dict[str, Durations]  # by service name; an incident counts for each
    # The issue asks for MTTA per team and service too; same groups, same queries.
    mtta_by_team: dict[str, Durations] = field(default_factory=dict)
    mtta_by_service: dict[str, Durations] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertQuality:
    source_id: int
    source: str
    alert_name: str
    episodes: int
    not_actionable: int
    with_verdict: int
    unreviewed: int
    rate: float | None  # not_actionable / with_verdict; None without any verdict


@dataclass(frozen=True)
class RotationWeek:
    """A rotation's pages in a week, or a person's pages that reached them through no rotation.

    Pages sent to someone directly (paged by the IC, an escalation step naming a user) count
    per person, against the same weekly target as a rotation.
    """

    schedule_id: int | None  # None: pages that reached no rotation, sent to `user_id` directly
    schedule: str  # "" when schedule_id is None
    iso_year: int
    iso_week: int
    pages: int
    actionable: int
    manual_action: int
    user_id: int | None = None  # the person paged directly, when schedule_id is None
    person: str = ""

    @property
    def is_direct(self) -> bool:
        return self.schedule_id is None

    @property
    def name(self) -> str:
        """The rotation's name, or the person's with "(paged directly)"."""
        if not self.is_direct:
            return self.schedule
        return f"{self.person or 'Nobody'} (paged directly)"


@dataclass(frozen=True)
class PersonWeek:
    user_id: int
    person: str
    iso_year: int
    iso_week: int
    pages: int
    actionable: int
    manual_action: int


@dataclass(frozen=True)
class NoisyAlert:
    source_id: int
    source: str
    alert_name: str
    month: date  # the first day of the calendar month
    episodes: int
    follow_up_id: int | None  # the ToilFollowUp's action item id, once one was opened


@dataclass(frozen=True)
class TrendPoint:
    iso_year: int
    iso_week: int
    week_start: date  # the local Monday
    incidents: int
    mtta: timedelta | None  # mean, as the runbook's "Mean Time to Acknowledge"
    mttr: timedelta | None  # mean
    pages: int
    actionable_pages: int
    false_positive_rate: float | None


# --- Durations: in PostgreSQL, or in Python over the same rows -----------------------------------


class PercentileCont(Aggregate):
    """PostgreSQL's continuous percentile: `percentile_cont(f) WITHIN GROUP (ORDER BY x)`."""

    function = "percentile_cont"
    name = "PercentileCont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, *, fraction: float, filter: Q | None = None) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError("A percentile is a fraction between 0 and 1.")
        super().__init__(expression, filter=filter, fraction=float(fraction))


class ElapsedMicroseconds(Func):
    """PostgreSQL: `later - earlier` in whole microseconds, as a double precision."""

    # date_part('epoch', interval) is a double (cheaper than EXTRACT's numeric); rounding it
    # in microseconds gives back the exact whole number for anything shorter than ~35 years,
    # and whole numbers are exact in a double, so the values equal Python's integers.
    template = "round(date_part('epoch', %(expressions)s) * 1000000)"
    arg_joiner = " - "
    arity = 2
    output_field = FloatField()


def percentile_cont(ordered: Sequence[float], fraction: float) -> float:
    """Return PostgreSQL's percentile_cont of ascending values, by its very arithmetic."""
    # orderedsetaggs.c: rows floor/ceil(f * (n - 1)), then lo + proportion * (hi - lo).
    position = fraction * (len(ordered) - 1)
    first_row, second_row = math.floor(position), math.ceil(position)
    low = ordered[first_row]
    if first_row == second_row:
        return low
    return low + (position - first_row) * (ordered[second_row] - low)


def _from_microseconds(value: float | None) -> timedelta | None:
    # timedelta rounds fractional microseconds half to even: one rule for both databases.
    return None if value is None else timedelta(microseconds=value)


def _durations(count: int, total: int, median: float | None, p90: float | None) -> Durations:
    if count == 0:
        return NO_DURATIONS
    return Durations(
        count=count,
        median=_from_microseconds(median),
        p90=_from_microseconds(p90),
        # An exact integer sum divided once: the same float on either database.
        mean=_from_microseconds(total / count),
    )


@dataclass(frozen=True)
class _Measure:
    """A duration measured on incidents: `later - earlier` over a population."""

    name: str
    later: str
    earlier: str
    alert_opened_only: bool = False
    slow_after: timedelta | None = None

    @property
    def population(self) -> Q:
        return Q(source=Source.ALERT) if self.alert_opened_only else Q()

    def in_population(self, source: str) -> bool:
        return not self.alert_opened_only or source == Source.ALERT


def _mtta() -> _Measure:
    # A human declaration acknowledges itself (acknowledged_at = detected_at): not a response.
    return _Measure("mtta", "acknowledged_at", "detected_at", alert_opened_only=True)


def _mttr() -> _Measure:
    # incident_reopen clears resolved_at and the next incident_resolve sets it again, so
    # resolved_at is the final resolution.
    return _Measure("mttr", "resolved_at", "detected_at")


def _time_to_detect() -> _Measure:
    slow_after = timedelta(minutes=settings.FIREBREAK_SLOW_DETECTION_MINUTES)
    return _Measure("ttd", "detected_at", "impact_started_at", slow_after=slow_after)


@dataclass
class _Stats:
    """One measure in one group: its durations, the unmeasured (`later` empty) and slow ones."""

    durations: Durations = NO_DURATIONS
    missing: int = 0
    slow: int = 0


@dataclass
class _Group:
    rows: int = 0
    measures: dict[str, _Stats] = field(default_factory=dict)

    def stats(self, measure: _Measure) -> _Stats:
        return self.measures.get(measure.name, _Stats())


_TIME_FIELDS = ("source", "detected_at", "acknowledged_at", "resolved_at", "impact_started_at")


def percentiles_in_database(qs: QuerySet[Any]) -> bool:
    """Return whether the queryset's database computes percentiles itself (PostgreSQL)."""
    return connections[qs.db].vendor == "postgresql"


def _database_aggregates(measures: Sequence[_Measure]) -> dict[str, Aggregate]:
    aggregates: dict[str, Aggregate] = {"group_rows": Count("*")}
    for measure in measures:
        population = measure.population
        elapsed = ElapsedMicroseconds(F(measure.later), F(measure.earlier))
        # Summed as bigint: PostgreSQL's sum(bigint) is an exact numeric, as Python's sum.
        elapsed_integer = Cast(elapsed, BigIntegerField())
        measured = population & Q(**{f"{measure.later}__isnull": False})
        aggregates[f"{measure.name}__count"] = Count("detected_at", filter=measured)
        aggregates[f"{measure.name}__missing"] = Count(
            "detected_at", filter=population & Q(**{f"{measure.later}__isnull": True})
        )
        aggregates[f"{measure.name}__total"] = Sum(elapsed_integer, filter=population or None)
        # Two fractions over the same ordering share one sort in PostgreSQL.
        aggregates[f"{measure.name}__median"] = PercentileCont(
            elapsed, fraction=0.5, filter=population or None
        )
        aggregates[f"{measure.name}__p90"] = PercentileCont(
            elapsed, fraction=0.9, filter=population or None
        )
        if measure.slow_after is not None:
            aggregates[f"{measure.name}__slow"] = Count(
                "detected_at",
                filter=measured
                & Q(**{f"{measure.later}__gt": F(measure.earlier) + measure.slow_after}),
            )
    return aggregates


def _group_from_database(row: dict[str, Any], measures: Sequence[_Measure]) -> _Group:
    group = _Group(rows=row["group_rows"])
    for measure in measures:
        total = row[f"{measure.name}__total"]
        group.measures[measure.name] = _Stats(
            durations=_durations(
                row[f"{measure.name}__count"],
                int(total or 0),
                row[f"{measure.name}__median"],
                row[f"{measure.name}__p90"],
            ),
            missing=row[f"{measure.name}__missing"],
            slow=row.get(f"{measure.name}__slow") or 0,
        )
    return group


def _groups_in_database(
    qs: QuerySet[Incident], group_by: Sequence[str], measures: Sequence[_Measure]
) -> dict[tuple[Any, ...], _Group]:
    aggregates = _database_aggregates(measures)
    if not group_by:
        return {(): _group_from_database(qs.aggregate(**aggregates), measures)}
    rows = qs.values(*group_by).annotate(**aggregates).order_by()
    return {
        tuple(row[name] for name in group_by): _group_from_database(row, measures) for row in rows
    }


def _groups_in_python(
    qs: QuerySet[Incident], group_by: Sequence[str], measures: Sequence[_Measure]
) -> dict[tuple[Any, ...], _Group]:
    elapsed: dict[tuple[Any, ...], dict[str, list[int]]] = {}
    groups: dict[tuple[Any, ...], _Group] = {}
    width = len(group_by)
    for row in qs.values_list(*group_by, *_TIME_FIELDS).order_by():
        key = tuple(row[:width])
        times = dict(zip(_TIME_FIELDS, row[width:], strict=True))
        group = groups.setdefault(key, _Group())
        group.rows += 1
        for measure in measures:
            if not measure.in_population(times["source"]):
                continue
            stats = group.measures.setdefault(measure.name, _Stats())
            later, earlier = times[measure.later], times[measure.earlier]
            if later is None:
                stats.missing += 1
                continue
            value = (later - earlier) // MICROSECOND
            elapsed.setdefault(key, {}).setdefault(measure.name, []).append(value)
            if measure.slow_after is not None and value > measure.slow_after // MICROSECOND:
                stats.slow += 1
    for key, group in groups.items():
        for measure in measures:
            stats = group.measures.setdefault(measure.name, _Stats())
            values = elapsed.get(key, {}).get(measure.name, [])
            if values:
                ordered = sorted(float(value) for value in values)
                stats.durations = _durations(
                    len(values),
                    sum(values),
                    percentile_cont(ordered, 0.5),
                    percentile_cont(ordered, 0.9),
                )
    return groups


def _incident_groups(
    qs: QuerySet[Incident], *, group_by: Sequence[str], measures: Sequence[_Measure]
) -> dict[tuple[Any, ...], _Group]:
    """Return each group's incident count and measures, in one query."""
    if percentiles_in_database(qs):
        return _groups_in_database(qs, group_by, measures)
    return _groups_in_python(qs, group_by, measures)


def _by_name(groups: dict[tuple[Any, ...], _Group], measure: _Measure) -> dict[str, Durations]:
    # Incidents without a team or service come back with a None name: not a team or service.
    named = sorted((key[0], group) for key, group in groups.items() if key[0] is not None)
    return {name: group.stats(measure).durations for name, group in named}


def response_times(*, window: Window) -> ResponseTimes:
    """Return MTTA, MTTR and time to detect of the window's incidents, overall and grouped."""
    incidents = health_incidents(window=window)
    mtta, mttr, time_to_detect = _mtta(), _mttr(), _time_to_detect()
    overall = _incident_groups(incidents, group_by=(), measures=(mtta, mttr, time_to_detect)).get(
        (), _Group()
    )
    by_severity = _incident_groups(
        incidents, group_by=("peak_severity__rank", "peak_severity__code"), measures=(mtta, mttr)
    )
    by_team = _incident_groups(incidents, group_by=("team__name",), measures=(mtta, mttr))
    by_service = _incident_groups(incidents, group_by=("services__name",), measures=(mtta, mttr))
    severities = sorted(by_severity.items())
    return ResponseTimes(
        mtta=overall.stats(mtta).durations,
        never_acknowledged=overall.stats(mtta).missing,
        mttr=overall.stats(mttr).durations,
        unresolved=overall.stats(mttr).missing,
        time_to_detect=overall.stats(time_to_detect).durations,
        slow_detections=overall.stats(time_to_detect).slow,
        mtta_by_severity={code: group.stats(mtta).durations for (_, code), group in severities},
        mttr_by_severity={code: group.stats(mttr).durations for (_, code), group in severities},
        mttr_by_team=_by_name(by_team, mttr),
        mttr_by_service=_by_name(by_service, mttr),
        mtta_by_team=_by_name(by_team, mtta),
        mtta_by_service=_by_name(by_service, mtta),
    )


# --- Alert quality and toil ----------------------------------------------------------------------


def _verdict_counts() -> dict[str, Aggregate]:
    return {
        "episodes": Count("*"),
        "not_actionable": Count("first_seen_at", filter=Q(actionable=False)),
        "with_verdict": Count("actionable"),
    }


def _alert_quality(
    *,
    source_id: int,
    source: str,
    alert_name: str,
    episodes: int,
    not_actionable: int,
    with_verdict: int,
) -> AlertQuality:
    return AlertQuality(
        source_id=source_id,
        source=source,
        alert_name=alert_name,
        episodes=episodes,
        not_actionable=not_actionable,
        with_verdict=with_verdict,
        unreviewed=episodes - with_verdict,
        rate=not_actionable / with_verdict if with_verdict else None,
    )


def false_positives(*, window: Window) -> list[AlertQuality]:
    """Return the false-positive rate per source and alert name, worst first."""
    rows = (
        health_alerts(window=window)
        .values("source_id", "source__name", "title")
        .annotate(
            episodes=Count("*"),
            not_actionable=Count("first_seen_at", filter=Q(actionable=False)),
            with_verdict=Count("actionable"),
        )
        .order_by()
    )
    qualities = [
        _alert_quality(
            source_id=row["source_id"],
            source=row["source__name"],
            alert_name=row["title"],
            episodes=row["episodes"],
            not_actionable=row["not_actionable"],
            with_verdict=row["with_verdict"],
        )
        for row in rows
    ]
    # Worst first; names nobody has judged yet (no rate) after every judged one.
    qualities.sort(
        key=lambda quality: (
            quality.rate is None,
            -(quality.rate or 0.0),
            -quality.not_actionable,
            -quality.episodes,
            quality.source,
            quality.alert_name,
        )
    )
    return qualities


def false_positive_total(*, window: Window) -> AlertQuality:
    """Return the false-positive rate over all sources and alert names (source_id 0, names "")."""
    totals = health_alerts(window=window).aggregate(**_verdict_counts())
    return _alert_quality(
        source_id=0,
        source="",
        alert_name="",
        episodes=totals["episodes"],
        not_actionable=totals["not_actionable"],
        with_verdict=totals["with_verdict"],
    )


def month_window(*, month: date, team: Team | None = None) -> Window:
    """Return the calendar month of `month` as a window in the team's zone."""
    zone = zone_of(team)
    first_day = month.replace(day=1)
    next_first_day = (first_day + timedelta(days=32)).replace(day=1)
    return Window(
        start=local_midnight(first_day, zone),
        end=local_midnight(next_first_day, zone),
        zone=zone,
        team_id=team.pk if team is not None else None,
    )


def noisy_alerts(*, month: date, team: Team | None = None) -> list[NoisyAlert]:
    """Return the alert names with more than 5 firing episodes in the month, noisiest first."""
    window = month_window(month=month, team=team)
    rows = (
        health_alerts(window=window)
        .values("source_id", "source__name", "title")
        .annotate(episodes=Count("*"))
        .filter(episodes__gt=TOIL_EPISODES_PER_MONTH)
        .order_by()
    )
    first_day = window.start.date()
    follow_ups = {
        (source_id, alert_name): action_item_id
        for source_id, alert_name, action_item_id in ToilFollowUp.objects.filter(
            month=first_day
        ).values_list("source_id", "alert_name", "action_item_id")
    }
    noisy = [
        NoisyAlert(
            source_id=row["source_id"],
            source=row["source__name"],
            alert_name=row["title"],
            month=first_day,
            episodes=row["episodes"],
            follow_up_id=follow_ups.get((row["source_id"], row["title"])),
        )
        for row in rows
    ]
    noisy.sort(key=lambda alert: (-alert.episodes, alert.source, alert.alert_name))
    return noisy


# --- Pages per rotation and per person -----------------------------------------------------------


def _with_week(qs: QuerySet[Any], field_name: str, window: Window) -> QuerySet[Any]:
    """Annotate `week`: the index in iso_weeks(window) of the local ISO week of the row."""
    # Each local Monday 00:00 as an instant, compared in the database: zoneinfo settles the
    # offsets (DST) once, in Python, and the database converts no time zone per row. Over a
    # million alert episodes this costs half of DATE_TRUNC('week', col AT TIME ZONE zone),
    # and SQLite and PostgreSQL answer alike.
    weeks = iso_weeks(window)
    boundaries = [
        When(**{f"{field_name}__lt": local_midnight(monday, window.zone)}, then=Value(index - 1))
        for index, (_, _, monday) in enumerate(weeks)
        if index > 0
    ]
    return qs.annotate(
        week=Case(*boundaries, default=Value(len(weeks) - 1), output_field=IntegerField())
    )


def _page_counts() -> dict[str, Aggregate]:
    # COUNT(*) and COUNT(created_at) (never null) let PostgreSQL read pages from the covering
    # index alone; Django refuses COUNT(*) with a filter.
    return {
        "pages": Count("*"),
        "actionable": Count("created_at", filter=Q(actionable=True)),
        "manual_action": Count("created_at", filter=Q(needed_manual_action=True)),
    }


def pages_per_rotation(*, window: Window) -> list[RotationWeek]:
    """Return pages, actionable and manual-action pages per rotation and local ISO week.

    Pages that reached no rotation count per person paged directly, after the rotations.
    """
    rows = list(
        _with_week(health_pages(window=window), "created_at", window)
        .annotate(
            direct_to=Case(
                When(schedule__isnull=True, then=F("recipient_id")),
                default=None,
                output_field=IntegerField(),
            )
        )
        .values("schedule_id", "schedule__name", "direct_to", "week")
        .annotate(**_page_counts())
        .order_by()
    )
    people = _people({row["direct_to"] for row in rows if row["direct_to"] is not None})
    iso = iso_weeks(window)
    weeks = [
        RotationWeek(
            schedule_id=row["schedule_id"],
            schedule=row["schedule__name"] or "",
            iso_year=iso[row["week"]][0],
            iso_week=iso[row["week"]][1],
            pages=row["pages"],
            actionable=row["actionable"],
            manual_action=row["manual_action"],
            user_id=row["direct_to"],
            person=people.get(row["direct_to"], ""),
        )
        for row in rows
    ]
    # Rotations by name, then the people paged directly by name.
    weeks.sort(
        key=lambda week: (
            week.is_direct,
            (week.person if week.is_direct else week.schedule).lower(),
            week.schedule_id or week.user_id or 0,
            week.iso_year,
            week.iso_week,
        )
    )
    return weeks


def _person(first_name: str, last_name: str, username: str) -> str:
    # As User.get_full_name(), falling back to the username.
    return f"{first_name} {last_name}".strip() or username


def _people(user_ids: set[int]) -> dict[int, str]:
    """Return the names of the people, by id."""
    # Names in a second query: grouping by four user columns made PostgreSQL sort every page.
    if not user_ids:
        return {}
    return {
        pk: _person(first_name, last_name, username)
        for pk, first_name, last_name, username in get_user_model()
        .objects.filter(pk__in=user_ids)
        .values_list("pk", "first_name", "last_name", "username")
    }


def pages_per_person(*, window: Window) -> list[PersonWeek]:
    """Return pages, actionable and manual-action pages per person and local ISO week."""
    rows = list(
        _with_week(health_pages(window=window), "created_at", window)
        .values("recipient_id", "week")
        .annotate(**_page_counts())
        .order_by()
    )
    people = _people({row["recipient_id"] for row in rows})
    iso = iso_weeks(window)
    weeks = [
        PersonWeek(
            user_id=row["recipient_id"],
            person=people[row["recipient_id"]],
            iso_year=iso[row["week"]][0],
            iso_week=iso[row["week"]][1],
            pages=row["pages"],
            actionable=row["actionable"],
            manual_action=row["manual_action"],
        )
        for row in rows
    ]
    weeks.sort(key=lambda week: (week.person.lower(), week.user_id, week.iso_year, week.iso_week))
    return weeks


# --- Weekly trend --------------------------------------------------------------------------------


def _weekly_counts(
    qs: QuerySet[Any], field_name: str, window: Window, counts: dict[str, Aggregate]
) -> dict[int, dict[str, Any]]:
    rows = _with_week(qs, field_name, window).values("week").annotate(**counts).order_by()
    return {row["week"]: row for row in rows}


def weekly_trend(*, window: Window) -> list[TrendPoint]:
    """Return one point per local ISO week of the window, weeks without anything included."""
    mtta, mttr = _mtta(), _mttr()
    incident_weeks = _incident_groups(
        _with_week(health_incidents(window=window), "detected_at", window),
        group_by=("week",),
        measures=(mtta, mttr),
    )
    page_weeks = _weekly_counts(
        health_pages(window=window),
        "created_at",
        window,
        {"pages": Count("*"), "actionable": Count("created_at", filter=Q(actionable=True))},
    )
    alert_weeks = _weekly_counts(
        health_alerts(window=window), "first_seen_at", window, _verdict_counts()
    )
    points = []
    for index, (iso_year, iso_week, monday) in enumerate(iso_weeks(window)):
        group = incident_weeks.get((index,), _Group())
        pages = page_weeks.get(index, {})
        alerts = alert_weeks.get(index, {})
        with_verdict = alerts.get("with_verdict", 0)
        points.append(
            TrendPoint(
                iso_year=iso_year,
                iso_week=iso_week,
                week_start=monday,
                incidents=group.rows,
                mtta=group.stats(mtta).durations.mean,
                mttr=group.stats(mttr).durations.mean,
                pages=pages.get("pages", 0),
                actionable_pages=pages.get("actionable", 0),
                false_positive_rate=alerts["not_actionable"] / with_verdict
                if with_verdict
                else None,
            )
        )
    return points
