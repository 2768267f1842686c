"""Reads of the on-call domain: who is on call when, for a schedule, a person or a team.

How a schedule resolves, highest precedence first:
1. overrides (where they overlap, the one created last wins);
2. rotation layers by priority, higher first (equal priority: the older layer wins);
3. nobody.

A rotation's shift boundaries are wall-clock times in the schedule's time zone: shift k starts
at `start_date` + `handoff_time` + k * `shift_length`, counted on the local calendar and clock
and only then turned into an instant. A daily 09:00 handoff in Europe/Berlin therefore stays at
09:00 local across the DST changes, and the shift that spans a change lasts 23 h or 25 h. A
wall-clock time that does not exist (skipped in spring) means the same instant as one hour
later; one that happens twice (autumn) means its first occurrence.

All instants handled here are aware; results are in UTC.
"""

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from incidents.models import Team

from .models import CalendarFeedToken, Override, Rotation, RotationParticipant, Schedule

# A calendar feed covers from the first day of last month (a fixed start, so the first shift's
# times do not change on every download) to this far ahead.
FEED_AHEAD = timedelta(days=90)
# How far ahead the next handoff is looked for.
HANDOFF_LOOKAHEAD = timedelta(days=35)
# Queries for who is on call at an instant look at this tiny window starting there.
INSTANT = timedelta(microseconds=1)


class ShiftSource(StrEnum):
    ROTATION = "rotation"
    OVERRIDE = "override"


@dataclass(frozen=True)
class Shift:
    """A stretch of time one person is on call for a schedule, from start (incl.) to end.

    `rotation` is the layer the shift starts in (a person's back-to-back time in several layers
    is one shift); `override` is set for override shifts.
    """

    schedule: Schedule
    user: User
    start: datetime
    end: datetime
    source: ShiftSource
    rotation: Rotation | None = None
    override: Override | None = None

    @property
    def is_override(self) -> bool:
        return self.source == ShiftSource.OVERRIDE

    @property
    def duration(self) -> timedelta:
        return self.end - self.start


@dataclass(frozen=True)
class _Segment:
    start: datetime
    end: datetime
    user: User
    rotation: Rotation | None = None
    override: Override | None = None

    def continues(self, other: "_Segment") -> bool:
        """Return whether `other` reads as more of the same shift: same person, same kind.

        Rotation time joins across layers (a person on call by day and by night has one long
        shift); an override stays its own shift so that it can be shown and removed.
        """
        if self.user.pk != other.user.pk:
            return False
        if self.override is not None or other.override is not None:
            return self.override is other.override
        return True


@dataclass(frozen=True)
class OnCallStatus:
    """Who is on call for a schedule at an instant, and when that changes."""

    schedule: Schedule
    at: datetime
    user: User | None
    shift: Shift | None
    # When the person on call (or nobody) changes next; None: not within the lookahead.
    next_handoff: datetime | None
    next_user: User | None


@dataclass(frozen=True)
class DayEntry:
    """Part of one day of a schedule: who (or nobody) from start to end, clipped to the day."""

    user: User | None
    start: datetime
    end: datetime
    starts_at_day_start: bool
    ends_at_day_end: bool
    shift: Shift | None

    @property
    def is_gap(self) -> bool:
        return self.user is None

    @property
    def is_override(self) -> bool:
        return self.shift is not None and self.shift.is_override


@dataclass(frozen=True)
class ScheduleDay:
    day: date
    start: datetime
    end: datetime
    entries: list[DayEntry]

    @property
    def has_gap(self) -> bool:
        return any(entry.is_gap for entry in self.entries)


# --- Time arithmetic ----------------------------------------------------------------------------


def _aware_utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime.")
    return value.astimezone(UTC)


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """Return the UTC instant of a naive wall-clock time in the zone (fold=0, see above)."""
    return wall.replace(tzinfo=zone).astimezone(UTC)


def _anchor(rotation: Rotation) -> datetime:
    return datetime.combine(rotation.start_date, rotation.handoff_time)


def _boundary(rotation: Rotation, zone: ZoneInfo, index: int) -> datetime:
    """Return the instant shift `index` of the rotation starts."""
    return _instant(_anchor(rotation) + index * rotation.shift_length, zone)


def _shift_index(rotation: Rotation, zone: ZoneInfo, at: datetime) -> int:
    """Return the index of the rotation's shift that contains the instant."""
    wall = at.astimezone(zone).replace(tzinfo=None)
    index = (wall - _anchor(rotation)) // rotation.shift_length
    # The wall-clock estimate can be one off next to a DST change; settle it on instants.
    while _boundary(rotation, zone, index) > at:
        index -= 1
    while _boundary(rotation, zone, index + 1) <= at:
        index += 1
    return index


def _restriction_windows(
    rotation: Rotation, zone: ZoneInfo, start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """Return the instants within [start, end) the rotation's restriction lets it apply."""
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    windows: list[tuple[datetime, datetime]] = []
    while day <= last:
        if not rotation.restrict_weekdays or day.weekday() in rotation.restrict_weekdays:
            if rotation.restrict_from is None or rotation.restrict_until is None:
                opens = _instant(datetime.combine(day, time(0)), zone)
                closes = _instant(datetime.combine(day + timedelta(days=1), time(0)), zone)
            else:
                # A window that ends earlier in the day than it starts runs past midnight.
                overnight = rotation.restrict_until <= rotation.restrict_from
                until_day = day + timedelta(days=1) if overnight else day
                opens = _instant(datetime.combine(day, rotation.restrict_from), zone)
                closes = _instant(datetime.combine(until_day, rotation.restrict_until), zone)
            opens, closes = max(opens, start), min(closes, end)
            if opens < closes:
                if windows and windows[-1][1] >= opens:
                    windows[-1] = (windows[-1][0], max(windows[-1][1], closes))
                else:
                    windows.append((opens, closes))
        day += timedelta(days=1)
    return windows


def _intersect(
    segments: list[_Segment], windows: list[tuple[datetime, datetime]]
) -> list[_Segment]:
    """Return the parts of the (sorted) segments inside the (sorted) windows."""
    result: list[_Segment] = []
    i = j = 0
    while i < len(segments) and j < len(windows):
        segment, (opens, closes) = segments[i], windows[j]
        start, end = max(segment.start, opens), min(segment.end, closes)
        if start < end:
            result.append(_Segment(start, end, segment.user, rotation=segment.rotation))
        if segment.end <= closes:
            i += 1
        else:
            j += 1
    return result


def _rotation_segments(
    rotation: Rotation, users: list[User], zone: ZoneInfo, start: datetime, end: datetime
) -> list[_Segment]:
    """Return the rotation's shifts within [start, end), restriction applied, sorted."""
    if not users:
        return []
    lower = max(start, _boundary(rotation, zone, 0))
    upper = min(end, rotation.ends_at) if rotation.ends_at else end
    if lower >= upper:
        return []
    segments: list[_Segment] = []
    index = _shift_index(rotation, zone, lower)
    while True:
        shift_start = _boundary(rotation, zone, index)
        if shift_start >= upper:
            break
        shift_end = _boundary(rotation, zone, index + 1)
        if shift_end > shift_start:
            segments.append(
                _Segment(
                    max(shift_start, lower),
                    min(shift_end, upper),
                    users[index % len(users)],
                    rotation=rotation,
                )
            )
        index += 1
    if rotation.is_restricted:
        segments = _intersect(segments, _restriction_windows(rotation, zone, lower, upper))
    return segments


def _resolve(layers: list[list[_Segment]]) -> list[_Segment]:
    """Return one timeline from layers of sorted, non-overlapping segments, first layer wins."""
    points = sorted({point for layer in layers for s in layer for point in (s.start, s.end)})
    starts = [[s.start for s in layer] for layer in layers]
    resolved: list[_Segment] = []
    for start, end in pairwise(points):
        for layer, layer_starts in zip(layers, starts, strict=True):
            position = bisect_right(layer_starts, start) - 1
            if position >= 0 and layer[position].end > start:
                winner = layer[position]
                previous = resolved[-1] if resolved else None
                if previous and previous.end == start and previous.continues(winner):
                    resolved[-1] = _Segment(
                        previous.start, end, previous.user, previous.rotation, previous.override
                    )
                else:
                    resolved.append(
                        _Segment(start, end, winner.user, winner.rotation, winner.override)
                    )
                break
    return resolved


# --- Schedules ----------------------------------------------------------------------------------


def _participants_prefetch() -> Prefetch:
    return Prefetch(
        "participant_entries",
        queryset=RotationParticipant.objects.filter(user__is_active=True)
        .select_related("user")
        .order_by("position", "id"),
        to_attr="active_participant_entries",
    )


def schedules_with_layers(qs: QuerySet[Schedule]) -> QuerySet[Schedule]:
    """Return the schedules with their layers (by precedence) and active participants."""
    return qs.select_related("team").prefetch_related(
        Prefetch(
            "rotations",
            queryset=Rotation.objects.order_by("-priority", "id").prefetch_related(
                _participants_prefetch()
            ),
            to_attr="layers",
        )
    )


def schedule_list(*, team: Team | None = None) -> QuerySet[Schedule]:
    """Return schedules (of one team, if given) with their layers and participants."""
    qs = Schedule.objects.order_by("name")
    if team is not None:
        qs = qs.filter(team=team)
    return schedules_with_layers(qs)


def schedule_get(*, slug: str) -> Schedule:
    """Return one schedule with its layers; raise Schedule.DoesNotExist if there is none."""
    return schedules_with_layers(Schedule.objects.all()).get(slug=slug)


def _layers(schedule: Schedule) -> list[tuple[Rotation, list[User]]]:
    rotations = getattr(schedule, "layers", None)
    if rotations is None:
        rotations = list(
            Rotation.objects.filter(schedule=schedule)
            .order_by("-priority", "id")
            .prefetch_related(_participants_prefetch())
        )
    return [
        (rotation, [entry.user for entry in rotation.active_participant_entries])  # type: ignore[attr-defined]
        for rotation in rotations
    ]


def schedule_overrides(*, schedule: Schedule, start: datetime, end: datetime) -> QuerySet[Override]:
    """Return the schedule's overrides that overlap [start, end), earliest first."""
    return (
        Override.objects.filter(schedule=schedule, start__lt=end, end__gt=start)
        .select_related("user", "created_by")
        .order_by("start", "id")
    )


def shifts(*, schedule: Schedule, start: datetime, end: datetime) -> list[Shift]:
    """Return who is on call for the schedule within [start, end): merged, clipped, in order.

    Gaps (nobody on call) are simply not covered by any shift.
    """
    start, end = _aware_utc(start, "start"), _aware_utc(end, "end")
    if end <= start:
        return []
    zone = ZoneInfo(schedule.time_zone)
    overrides = sorted(
        schedule_overrides(schedule=schedule, start=start, end=end),
        key=lambda override: override.pk,
        reverse=True,
    )
    layers: list[list[_Segment]] = [
        [
            _Segment(
                max(override.start, start), min(override.end, end), override.user, None, override
            )
        ]
        for override in overrides
    ]
    layers += [
        _rotation_segments(rotation, users, zone, start, end)
        for rotation, users in _layers(schedule)
    ]
    # Back-to-back rotation time of one person comes out joined, across shifts and layers.
    return [
        Shift(
            schedule=schedule,
            user=segment.user,
            start=segment.start,
            end=segment.end,
            source=ShiftSource.OVERRIDE if segment.override else ShiftSource.ROTATION,
            rotation=segment.rotation,
            override=segment.override,
        )
        for segment in _resolve([layer for layer in layers if layer])
    ]


def oncall_at(*, schedule: Schedule, at: datetime) -> User | None:
    """Return who is on call for the schedule at the instant, or None if nobody is."""
    found = shifts(schedule=schedule, start=at, end=_aware_utc(at, "at") + INSTANT)
    return found[0].user if found else None


def schedule_oncall_status(*, schedule: Schedule, at: datetime | None = None) -> OnCallStatus:
    """Return who is on call for the schedule at the instant (default now) and who is next."""
    at = _aware_utc(at or timezone.now(), "at")
    upcoming = shifts(schedule=schedule, start=at, end=at + HANDOFF_LOOKAHEAD)
    current = upcoming[0] if upcoming and upcoming[0].start == at else None
    if current is None:
        first = upcoming[0] if upcoming else None
        return OnCallStatus(
            schedule=schedule,
            at=at,
            user=None,
            shift=None,
            next_handoff=first.start if first else None,
            next_user=first.user if first else None,
        )
    until = current.end
    following: Shift | None = None
    for shift in upcoming[1:]:
        if shift.start == until and shift.user.pk == current.user.pk:
            until = shift.end
            continue
        following = shift
        break
    if following is None and until >= at + HANDOFF_LOOKAHEAD:
        next_handoff: datetime | None = None
    else:
        next_handoff = until
    return OnCallStatus(
        schedule=schedule,
        at=at,
        user=current.user,
        shift=current,
        next_handoff=next_handoff,
        next_user=following.user if following and following.start == until else None,
    )


def user_shifts(*, user: User, start: datetime, end: datetime) -> list[Shift]:
    """Return the person's shifts on every schedule within [start, end), in time order."""
    start, end = _aware_utc(start, "start"), _aware_utc(end, "end")
    schedules = (
        schedule_list()
        .filter(
            Q(rotations__participant_entries__user=user)
            | Q(overrides__user=user, overrides__start__lt=end, overrides__end__gt=start)
        )
        .distinct()
    )
    found = [
        shift
        for schedule in schedules
        for shift in shifts(schedule=schedule, start=start, end=end)
        if shift.user.pk == user.pk
    ]
    return sorted(found, key=lambda shift: (shift.start, shift.schedule.name))


def schedule_days(
    *, schedule: Schedule, first_day: date, days: int, zone: ZoneInfo
) -> list[ScheduleDay]:
    """Return the schedule day by day (days of the given zone), gaps included."""
    bounds = [
        _instant(datetime.combine(first_day + timedelta(days=n), time(0)), zone)
        for n in range(days + 1)
    ]
    all_shifts = shifts(schedule=schedule, start=bounds[0], end=bounds[-1])
    result: list[ScheduleDay] = []
    for n in range(days):
        day_start, day_end = bounds[n], bounds[n + 1]
        entries: list[DayEntry] = []
        cursor = day_start
        for shift in all_shifts:
            if shift.end <= day_start or shift.start >= day_end:
                continue
            start, end = max(shift.start, day_start), min(shift.end, day_end)
            if start > cursor:
                entries.append(_day_entry(None, cursor, start, day_start, day_end))
            entries.append(_day_entry(shift, start, end, day_start, day_end))
            cursor = end
        if cursor < day_end:
            entries.append(_day_entry(None, cursor, day_end, day_start, day_end))
        result.append(
            ScheduleDay(
                day=first_day + timedelta(days=n), start=day_start, end=day_end, entries=entries
            )
        )
    return result


def _day_entry(
    shift: Shift | None, start: datetime, end: datetime, day_start: datetime, day_end: datetime
) -> DayEntry:
    return DayEntry(
        user=shift.user if shift else None,
        start=start,
        end=end,
        starts_at_day_start=start == day_start,
        ends_at_day_end=end == day_end,
        shift=shift,
    )


def schedule_upcoming_overrides(*, schedule: Schedule, now: datetime) -> QuerySet[Override]:
    """Return the schedule's overrides that have not ended yet, earliest first."""
    return (
        Override.objects.filter(schedule=schedule, end__gt=now)
        .select_related("user", "created_by")
        .order_by("start", "id")
    )


# --- Calendar feeds -----------------------------------------------------------------------------


def calendar_feed_token_of(*, user: User) -> CalendarFeedToken | None:
    """Return the person's calendar feed token, if they made one."""
    return CalendarFeedToken.objects.filter(user=user).first()


def calendar_feed_owner(*, token: str) -> User | None:
    """Return the active person whose calendar feed the token opens, or None."""
    found = (
        CalendarFeedToken.objects.filter(token=token, user__is_active=True)
        .select_related("user")
        .first()
    )
    return found.user if found else None


def calendar_feed_shifts(*, user: User, now: datetime) -> list[Shift]:
    """Return the shifts a person's calendar feed shows: since last month, 90 days ahead."""
    now = _aware_utc(now, "now")
    last_month_end = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) - INSTANT
    start = last_month_end.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return user_shifts(user=user, start=start, end=now + FEED_AHEAD)
