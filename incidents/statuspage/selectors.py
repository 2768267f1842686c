"""Reads for the public status page.

Everything here runs a fixed number of queries, whatever the amount of history: lists are
bounded by status or by dates, and related rows are prefetched.
"""

import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Min, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from .models import (
    FINISHED_STATUSES,
    AffectedComponent,
    Component,
    ComponentGroup,
    ComponentStatus,
    ComponentStatusChange,
    Impact,
    PageSettings,
    PublicIncident,
    PublicIncidentStatus,
    PublicUpdate,
)

UPTIME_DAYS = 90
HISTORY_MONTHS_PER_PAGE = 3
RECENT_LIMIT = 50

# How bad a component status is, for "worst status of the day" and a group's status.
STATUS_RANK: dict[str, int] = {
    ComponentStatus.OPERATIONAL: 0,
    ComponentStatus.UNDER_MAINTENANCE: 1,
    ComponentStatus.DEGRADED_PERFORMANCE: 2,
    ComponentStatus.PARTIAL_OUTAGE: 3,
    ComponentStatus.MAJOR_OUTAGE: 4,
}
# Statuspage's own wording for each overall indicator.
INDICATOR_DESCRIPTIONS = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
    "maintenance": "Service Under Maintenance",
}
ACTIVE_MAINTENANCE_STATUSES = (PublicIncidentStatus.IN_PROGRESS, PublicIncidentStatus.VERIFYING)


def page_settings_get() -> PageSettings:
    """Return the status page's settings, created with defaults on first use."""
    page = PageSettings.objects.order_by("pk").first()
    if page is None:
        page = PageSettings.objects.create()
    return page


def page_time_zone(page: PageSettings) -> zoneinfo.ZoneInfo:
    """Return the page's time zone (UTC if the stored name is unknown)."""
    try:
        return zoneinfo.ZoneInfo(page.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


# --- Overall indicator ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Indicator:
    indicator: str  # none | minor | major | critical | maintenance
    description: str


def status_indicator(
    *,
    incident_impacts: Iterable[str],
    component_statuses: Iterable[str],
    maintenance_in_progress: bool,
) -> Indicator:
    """Return the overall indicator for open incidents' impacts and components' statuses."""
    impacts = set(incident_impacts)
    statuses = set(component_statuses)
    if Impact.CRITICAL in impacts or ComponentStatus.MAJOR_OUTAGE in statuses:
        level = "critical"
    elif Impact.MAJOR in impacts or ComponentStatus.PARTIAL_OUTAGE in statuses:
        level = "major"
    elif Impact.MINOR in impacts or ComponentStatus.DEGRADED_PERFORMANCE in statuses:
        level = "minor"
    elif maintenance_in_progress or ComponentStatus.UNDER_MAINTENANCE in statuses:
        level = "maintenance"
    else:
        level = "none"
    return Indicator(level, INDICATOR_DESCRIPTIONS[level])


def status_get() -> Indicator:
    """Return the overall indicator of the page from the current records."""
    open_records = PublicIncident.objects.filter(_open_q()).values_list("kind", "status", "impact")
    impacts = []
    maintenance_in_progress = False
    for kind, status, impact in open_records:
        if kind == PublicIncident.Kind.INCIDENT:
            impacts.append(impact)
        elif status in ACTIVE_MAINTENANCE_STATUSES:
            maintenance_in_progress = True
    return status_indicator(
        incident_impacts=impacts,
        component_statuses=Component.objects.values_list("status", flat=True),
        maintenance_in_progress=maintenance_in_progress,
    )


# --- Components ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComponentGroupEntry:
    """A group with its components, in position order."""

    group: ComponentGroup
    components: list[Component]

    @property
    def status(self) -> str:
        """Return the worst status of the group's components."""
        return worst_status(c.status for c in self.components)


def worst_status(statuses: Iterable[str]) -> str:
    """Return the worst of some component statuses (operational for none)."""
    return max(statuses, key=lambda s: STATUS_RANK.get(s, 0), default=ComponentStatus.OPERATIONAL)


def component_is_visible(component: Component) -> bool:
    """Return whether the page shows the component now."""
    if not component.showcase:
        return False
    return not (component.only_show_if_degraded and component.status == ComponentStatus.OPERATIONAL)


def component_layout(
    *,
    components: Sequence[Component] | None = None,
    groups: Sequence[ComponentGroup] | None = None,
    visible_only: bool = False,
) -> list[Component | ComponentGroupEntry]:
    """Return ungrouped components and groups (with their components), in position order."""
    if components is None:
        components = component_list()
    if groups is None:
        groups = component_group_list()
    members: dict[int, list[Component]] = defaultdict(list)
    top: list[tuple[int, str, Component | ComponentGroupEntry]] = []
    for component in components:
        if visible_only and not component_is_visible(component):
            continue
        if component.group_id is None:
            top.append((component.position, component.name, component))
        else:
            members[component.group_id].append(component)
    for group in groups:
        children = members.get(group.pk, [])
        if visible_only and not children:
            continue
        top.append((group.position, group.name, ComponentGroupEntry(group, children)))
    top.sort(key=lambda item: (item[0], item[1]))
    return [entry for _, _, entry in top]


def component_group_list() -> list[ComponentGroup]:
    """Return every component group in position order."""
    return list(ComponentGroup.objects.order_by("position", "name", "pk"))


def component_list() -> list[Component]:
    """Return every component with its group, in position order."""
    return list(Component.objects.select_related("group").order_by("position", "name", "pk"))


# --- Public incidents and maintenance ------------------------------------------------------------


def public_incident_queryset() -> QuerySet[PublicIncident]:
    """Return public incidents with their components and updates (newest first) prefetched."""
    affected = AffectedComponent.objects.select_related("component").order_by(
        "component__position", "component__name", "pk"
    )
    updates = PublicUpdate.objects.order_by("-display_at", "-pk").prefetch_related(
        Prefetch("affected_components", queryset=affected)
    )
    return PublicIncident.objects.prefetch_related(
        Prefetch("components", queryset=Component.objects.select_related("group")),
        Prefetch("updates", queryset=updates),
    )


def _open_q() -> Q:
    """Match unfinished incidents and maintenance that is scheduled or under way."""
    unfinished_incident = Q(kind=PublicIncident.Kind.INCIDENT) & ~Q(status__in=FINISHED_STATUSES)
    current_maintenance = Q(
        kind=PublicIncident.Kind.MAINTENANCE,
        status__in=[PublicIncidentStatus.SCHEDULED, *ACTIVE_MAINTENANCE_STATUSES],
    )
    return unfinished_incident | current_maintenance


def public_incident_get(*, public_id: str) -> PublicIncident | None:
    """Return the public incident or maintenance with this public id, or None."""
    return public_incident_queryset().filter(public_id=public_id).first()


def incident_list_unresolved() -> list[PublicIncident]:
    """Return the incidents not resolved yet, newest first."""
    return list(
        public_incident_queryset()
        .filter(kind=PublicIncident.Kind.INCIDENT)
        .exclude(status__in=FINISHED_STATUSES)
        .order_by("-started_at", "-pk")
    )


def incident_list_recent(*, limit: int = RECENT_LIMIT) -> list[PublicIncident]:
    """Return the most recent incidents (any status), newest first."""
    return list(
        public_incident_queryset()
        .filter(kind=PublicIncident.Kind.INCIDENT)
        .order_by("-started_at", "-pk")[:limit]
    )


def maintenance_list(*, limit: int = RECENT_LIMIT) -> list[PublicIncident]:
    """Return the most recent scheduled maintenances (any status), latest scheduled first."""
    return list(
        public_incident_queryset()
        .filter(kind=PublicIncident.Kind.MAINTENANCE)
        .order_by("-scheduled_for", "-started_at", "-pk")[:limit]
    )


def maintenance_list_upcoming() -> list[PublicIncident]:
    """Return the maintenances still to start, soonest first."""
    return list(
        public_incident_queryset()
        .filter(kind=PublicIncident.Kind.MAINTENANCE, status=PublicIncidentStatus.SCHEDULED)
        .order_by("scheduled_for", "pk")
    )


def maintenance_list_active() -> list[PublicIncident]:
    """Return the maintenances in progress or being verified, soonest started first."""
    return list(
        public_incident_queryset()
        .filter(kind=PublicIncident.Kind.MAINTENANCE, status__in=ACTIVE_MAINTENANCE_STATUSES)
        .order_by("scheduled_for", "pk")
    )


@dataclass(frozen=True)
class PublicState:
    """What the page and summary.json show: the current state, without history."""

    page: PageSettings
    components: list[Component]
    groups: list[ComponentGroup]
    layout: list[Component | ComponentGroupEntry]
    status: Indicator
    incidents: list[PublicIncident]
    active_maintenances: list[PublicIncident]
    upcoming_maintenances: list[PublicIncident]

    @property
    def maintenances(self) -> list[PublicIncident]:
        """Return the active, then the upcoming maintenances."""
        return [*self.active_maintenances, *self.upcoming_maintenances]


def public_state_get() -> PublicState:
    """Return the page's current state: components, open incidents and maintenance."""
    page = page_settings_get()
    components = component_list()
    groups = component_group_list()
    open_records = list(public_incident_queryset().filter(_open_q()).order_by("-started_at", "-pk"))
    incidents = [r for r in open_records if r.kind == PublicIncident.Kind.INCIDENT]
    maintenances = [r for r in open_records if r.kind == PublicIncident.Kind.MAINTENANCE]
    maintenances.sort(key=lambda m: (m.scheduled_for or m.started_at, m.pk))
    active = [m for m in maintenances if m.status in ACTIVE_MAINTENANCE_STATUSES]
    upcoming = [m for m in maintenances if m.status == PublicIncidentStatus.SCHEDULED]
    status = status_indicator(
        incident_impacts=[i.impact for i in incidents],
        component_statuses=[c.status for c in components],
        maintenance_in_progress=bool(active),
    )
    return PublicState(
        page=page,
        components=components,
        groups=groups,
        layout=component_layout(components=components, groups=groups),
        status=status,
        incidents=incidents,
        active_maintenances=active,
        upcoming_maintenances=upcoming,
    )


# --- Uptime --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UptimeDay:
    day: date
    status: str | None  # the worst status of the day; None: no data for that day
    uptime: float | None  # share of the day counted as up, 0..1

    @property
    def label(self) -> str:
        """Return the day and what happened in words (the bar's text alternative)."""
        if self.status is None or self.uptime is None:
            return f"{self.day.isoformat()}: no data"
        words = ComponentStatus(self.status).label.lower()
        return f"{self.day.isoformat()}: {words}, {_percent(self.uptime)} % up"


@dataclass(frozen=True)
class Uptime:
    days: list[UptimeDay]  # oldest first, today last
    percentage: Decimal | None  # average of the days with data, two decimals

    @property
    def problem_days(self) -> list[UptimeDay]:
        """Return the days whose worst status was not operational, newest first."""
        return [
            d
            for d in reversed(self.days)
            if d.status is not None and d.status != ComponentStatus.OPERATIONAL
        ]


def _percent(share: float) -> Decimal:
    return (Decimal(repr(share)) * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def _midnight(day: date, tz: zoneinfo.ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


def component_uptime_map(
    components: Sequence[Component],
    *,
    page: PageSettings,
    now: datetime | None = None,
    days: int = UPTIME_DAYS,
) -> dict[int, Uptime]:
    """Return each component's uptime over the last `days` days (today included), by pk.

    Days are the page's calendar days. A day's share up counts major outage as down and partial
    outage at the page's weight; the percentage is the average of the days with data, so each
    bar weighs the same. Days before the component's start date (or creation) have no data.
    """
    if not components:
        return {}
    now = now or timezone.now()
    tz = page_time_zone(page)
    first_day = now.astimezone(tz).date() - timedelta(days=days - 1)
    window_start = _midnight(first_day, tz)
    ids = [c.pk for c in components]
    before_window = (
        ComponentStatusChange.objects.filter(component=OuterRef("pk"), changed_at__lt=window_start)
        .order_by("-changed_at", "-pk")
        .values("new_status")[:1]
    )
    status_at_start = dict(
        Component.objects.filter(pk__in=ids)
        .annotate(status_before=Subquery(before_window))
        .values_list("pk", "status_before")
    )
    changes: dict[int, list[tuple[str, str, datetime]]] = defaultdict(list)
    for component_id, old, new, changed_at in (
        ComponentStatusChange.objects.filter(
            component_id__in=ids, changed_at__gte=window_start, changed_at__lte=now
        )
        .order_by("changed_at", "pk")
        .values_list("component_id", "old_status", "new_status", "changed_at")
    ):
        changes[component_id].append((old, new, changed_at))
    weight = float(page.partial_outage_weight)
    return {
        c.pk: _uptime(
            c,
            status_at_start=status_at_start.get(c.pk),
            changes=changes.get(c.pk, []),
            first_day=first_day,
            days=days,
            now=now,
            tz=tz,
            partial_outage_weight=weight,
        )
        for c in components
    }


def _uptime(
    component: Component,
    *,
    status_at_start: str | None,
    changes: list[tuple[str, str, datetime]],
    first_day: date,
    days: int,
    now: datetime,
    tz: zoneinfo.ZoneInfo,
    partial_outage_weight: float,
) -> Uptime:
    window_start = _midnight(first_day, tz)
    data_start = (
        _midnight(component.start_date, tz) if component.start_date else component.created_at
    )
    # The status in force at the window's start; None where it is unknown (before a component's
    # first recorded status).
    status: str | None
    if status_at_start:
        status = status_at_start
    elif changes:
        status = changes[0][0] or None
    else:
        status = component.status
    segments: list[tuple[datetime, datetime, str | None]] = []
    start = window_start
    for _old, new, changed_at in changes:
        segments.append((start, changed_at, status))
        start, status = changed_at, new
    segments.append((start, now, status))

    seconds: list[dict[str, float]] = [defaultdict(float) for _ in range(days)]
    floor = max(window_start, data_start)
    for seg_start, seg_end, seg_status in segments:
        seg_start = max(seg_start, floor)
        if seg_status is None or seg_end <= seg_start:
            continue
        # Split the segment at the page's midnights.
        index = (seg_start.astimezone(tz).date() - first_day).days
        cursor = seg_start
        while cursor < seg_end and index < days:
            day_end = _midnight(first_day + timedelta(days=index + 1), tz)
            piece_end = min(seg_end, day_end)
            seconds[index][seg_status] += (piece_end - cursor).total_seconds()
            cursor, index = piece_end, index + 1

    result = []
    for index in range(days):
        spent = {s: v for s, v in seconds[index].items() if v > 0}
        day = first_day + timedelta(days=index)
        covered = sum(spent.values())
        if covered <= 0:
            result.append(UptimeDay(day, None, None))
            continue
        down = (
            spent.get(ComponentStatus.MAJOR_OUTAGE, 0.0)
            + spent.get(ComponentStatus.PARTIAL_OUTAGE, 0.0) * partial_outage_weight
        )
        result.append(UptimeDay(day, worst_status(spent), max(0.0, 1 - down / covered)))
    measured = [d.uptime for d in result if d.uptime is not None]
    percentage = _percent(sum(measured) / len(measured)) if measured else None
    return Uptime(result, percentage)


# --- The page ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComponentRow:
    component: Component
    uptime: Uptime | None


@dataclass(frozen=True)
class PageSection:
    """A group (or a lone component, `group` None) as the page shows it."""

    group: ComponentGroup | None
    status: str
    rows: list[ComponentRow]


@dataclass(frozen=True)
class StatusPage:
    state: PublicState
    sections: list[PageSection]


def status_page_get(*, now: datetime | None = None) -> StatusPage:
    """Return what /status/ shows: the current state and visible components with uptime."""
    state = public_state_get()
    layout = component_layout(components=state.components, groups=state.groups, visible_only=True)
    shown = [
        c
        for entry in layout
        for c in (entry.components if isinstance(entry, ComponentGroupEntry) else [entry])
    ]
    uptime = component_uptime_map(shown, page=state.page, now=now)
    sections = []
    for entry in layout:
        if isinstance(entry, ComponentGroupEntry):
            rows = [ComponentRow(c, uptime.get(c.pk)) for c in entry.components]
            sections.append(PageSection(entry.group, entry.status, rows))
        else:
            sections.append(
                PageSection(None, entry.status, [ComponentRow(entry, uptime[entry.pk])])
            )
    return StatusPage(state=state, sections=sections)


# --- History -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryMonth:
    month: date  # the first day of the month
    incidents: list[PublicIncident]  # newest first


@dataclass(frozen=True)
class History:
    page_number: int
    months: list[HistoryMonth]  # newest first
    newer_page: int | None
    older_page: int | None
    out_of_range: bool  # nothing this old exists


def _add_months(month: date, count: int) -> date:
    year, index = divmod(month.year * 12 + month.month - 1 + count, 12)
    return date(year, index + 1, 1)


def history_get(
    *,
    page_number: int = 1,
    months_per_page: int = HISTORY_MONTHS_PER_PAGE,
    page: PageSettings | None = None,
    now: datetime | None = None,
) -> History:
    """Return one page of past incidents and maintenance by month (page 1 ends this month)."""
    page = page or page_settings_get()
    tz = page_time_zone(page)
    this_month = (now or timezone.now()).astimezone(tz).date().replace(day=1)
    empty = History(page_number, [], None, None, out_of_range=True)
    skipped = (page_number - 1) * months_per_page
    if page_number < 1 or skipped + months_per_page > (this_month.year - 2) * 12:
        return empty
    newest = _add_months(this_month, -skipped)
    oldest = _add_months(newest, -(months_per_page - 1))
    range_start, range_end = _midnight(oldest, tz), _midnight(_add_months(newest, 1), tz)

    past = PublicIncident.objects.exclude(status=PublicIncidentStatus.SCHEDULED)
    earliest = past.aggregate(earliest=Min("started_at"))["earliest"]
    if page_number > 1 and (earliest is None or earliest >= range_end):
        return empty
    latest_first = PublicUpdate.objects.order_by("-display_at", "-pk")
    records = list(
        past.prefetch_related(Prefetch("updates", queryset=latest_first))
        .filter(started_at__gte=range_start, started_at__lt=range_end)
        .order_by("-started_at", "-pk")
    )
    by_month: dict[date, list[PublicIncident]] = defaultdict(list)
    for record in records:
        by_month[record.started_at.astimezone(tz).date().replace(day=1)].append(record)
    months = [
        HistoryMonth(month, by_month.get(month, []))
        for month in (_add_months(newest, -i) for i in range(months_per_page))
    ]
    has_older = earliest is not None and earliest < range_start
    return History(
        page_number=page_number,
        months=months,
        newer_page=page_number - 1 if page_number > 1 else None,
        older_page=page_number + 1 if has_older else None,
        out_of_range=False,
    )


# --- Feeds ---------------------------------------------------------------------------------------


def public_update_list_recent(*, limit: int = RECENT_LIMIT) -> list[PublicUpdate]:
    """Return the most recent public updates with their incident, newest first."""
    return list(
        PublicUpdate.objects.select_related("public_incident").order_by("-display_at", "-pk")[
            :limit
        ]
    )
