"""Postmortem and action-item reminders, and the weekly digest: timers as data (portal.timers).

What is reminded, to whom, when (each at most once per item, kind and local day):

- a postmortem due in one business day → the IC and the authors, when the team's business day
  before the due day begins;
- an overdue postmortem (due, not published) → the IC and the authors, each business morning of
  the team while it stays overdue;
- a review meeting still unscheduled when the peak severity's review window (P1: 24 h after
  resolution) ends → the IC, at that moment, then each business morning until it is scheduled;
- an action item due in 2 days → its owner, at 09:00 in the owner's time zone; overdue → its owner
  each morning while it stays overdue;
- the weekly digest of each owner's open and overdue items, Mondays at 08:00 in the owner's time
  zone, once per ISO week.

How: `reminders_plan_all` (run hourly by beat) turns what is coming in the next 36 hours into
timer rows whose key names the object, the kind and the local day (`pm-7:overdue:2026-03-09`);
scheduling a key twice keeps one row, and the timer machinery claims each row once, so duplicate
beats, retries and repeated planning never send twice. The services plan an object's timers
straight away too (`reminders_plan_action_item`, `reminders_plan_postmortem`) so nothing waits for
the next hour. Planning is lazy and stateless on purpose: a due date moved, an owner changed or a
postmortem published needs no cancelling, because each handler re-reads the object when it fires
and stops if the reminder no longer applies (published, done, won't do, meeting scheduled, due date
moved). Mail is sent after the timer's outcome is committed, so a retried timer never re-sends.
"""

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from incidents.models import Incident, IncidentRole, RoleAssignment, Team
from incidents.oncall.business_hours import is_business_day
from portal.links import absolute_url
from portal.mail import mail_send
from portal.models import Timer
from portal.timers import timer_handler, timer_schedule

from .action_item_selectors import (
    UNFINISHED,
    action_item_owners_since,
    action_items_for_digest,
    action_items_needing_reminders,
)
from .deadlines import is_company_holiday
from .mail import postmortem_url
from .models import ActionItem, Postmortem

logger = logging.getLogger(__name__)

POSTMORTEM_DUE_SOON = "postmortems.postmortem_due_soon"
POSTMORTEM_OVERDUE = "postmortems.postmortem_overdue"
REVIEW_UNSCHEDULED = "postmortems.review_unscheduled"
ACTION_ITEM_DUE_SOON = "postmortems.action_item_due_soon"
ACTION_ITEM_OVERDUE = "postmortems.action_item_overdue"
DIGEST = "postmortems.action_item_digest"

# How far ahead the planner creates timers; run hourly, every timer exists a day in advance.
HORIZON = timedelta(hours=36)
# A reminder fired this late (workers down, say) is dropped: tomorrow's says the same thing.
STALE_AFTER = timedelta(hours=12)
ACTION_ITEM_DUE_SOON_DAYS = 2
ACTION_ITEM_REMINDER_TIME = time(9, 0)
DIGEST_TIME = time(8, 0)
# Without a team the calendar is Monday to Friday, from 09:00 in the site's time zone.
DEFAULT_BUSINESS_START = time(9, 0)
KEY_CHUNK = 500


@dataclass(frozen=True)
class Planned:
    """A reminder to schedule: its timer kind, key, instant and payload."""

    kind: str
    key: str
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)


# --- Calendars ------------------------------------------------------------------------------


def _zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _team_zone(team: Team | None) -> tzinfo:
    # Like the due date (postmortems.deadlines): no team means the site's time zone.
    return _zone(team.time_zone if team else settings.TIME_ZONE)


def user_zone(user: User) -> tzinfo:
    """Return the person's time zone (their profile's), UTC if they never chose one."""
    profile = getattr(user, "profile", None)
    return _zone(profile.time_zone if profile else None)


def _works_on(team: Team | None, day: date) -> bool:
    if team is None:
        # The calendar postmortems.deadlines counts due dates with when there is no team.
        return day.weekday() < 5 and not is_company_holiday(day)
    return is_business_day(team=team, day=day)


def _business_start(team: Team | None, day: date) -> datetime:
    opens = team.business_day_start if team else DEFAULT_BUSINESS_START
    return datetime.combine(day, opens, tzinfo=_team_zone(team))


def _business_day_before(team: Team | None, day: date) -> date | None:
    for back in range(1, 60):
        candidate = day - timedelta(days=back)
        if _works_on(team, candidate):
            return candidate
    return None


def _window_days(zone: tzinfo, now: datetime) -> list[date]:
    """Return the local days from today to the end of the planning horizon."""
    first = now.astimezone(zone).date()
    last = (now + HORIZON).astimezone(zone).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _in_window(at: datetime, now: datetime, created_at: datetime | None) -> bool:
    if created_at is not None and at < created_at:
        return False  # set up after that moment: the person just saw it
    return now - STALE_AFTER <= at <= now + HORIZON


def _due_day(postmortem: Postmortem, zone: tzinfo) -> date:
    """Return the team's local day the postmortem is due by (due_at is the end of that day)."""
    assert postmortem.due_at is not None
    return (postmortem.due_at - timedelta(microseconds=1)).astimezone(zone).date()


# --- Planning -------------------------------------------------------------------------------


def _postmortem_plan(postmortem: Postmortem, now: datetime) -> list[Planned]:
    if postmortem.status == Postmortem.Status.PUBLISHED:
        return []
    incident = postmortem.incident
    team = incident.team
    zone = _team_zone(team)
    days = _window_days(zone, now)
    prefix = f"pm-{postmortem.pk}"
    base = {"postmortem_id": postmortem.pk}
    planned: list[Planned] = []
    if postmortem.due_at is not None:
        due_day = _due_day(postmortem, zone)
        reminder_day = _business_day_before(team, due_day)
        if reminder_day in days and now < postmortem.due_at:
            planned.append(
                Planned(
                    POSTMORTEM_DUE_SOON,
                    f"{prefix}:due-soon:{due_day}",
                    _business_start(team, reminder_day),
                    {**base, "due_at": postmortem.due_at.isoformat(), "day": str(reminder_day)},
                )
            )
        for day in days:
            opens = _business_start(team, day)
            if day > due_day and _works_on(team, day) and opens > postmortem.due_at:
                planned.append(
                    Planned(
                        POSTMORTEM_OVERDUE,
                        f"{prefix}:overdue:{day}",
                        opens,
                        {**base, "day": str(day)},
                    )
                )
    within = incident.peak_severity.postmortem_review_within
    if within and incident.resolved_at and postmortem.review_meeting_at is None:
        deadline = incident.resolved_at + within
        first_day = deadline.astimezone(zone).date()
        for day in days:
            if day == first_day:
                at = deadline
            elif day > first_day and _works_on(team, day):
                at = _business_start(team, day)
            else:
                continue
            planned.append(
                Planned(
                    REVIEW_UNSCHEDULED,
                    f"{prefix}:review-unscheduled:{day}",
                    at,
                    {**base, "day": str(day)},
                )
            )
    return [p for p in planned if _in_window(p.due_at, now, postmortem.created_at)]


def _action_item_plan(item: ActionItem, now: datetime) -> list[Planned]:
    if item.status not in UNFINISHED or item.owner is None or item.due_date is None:
        return []
    zone = user_zone(item.owner)
    prefix = f"ai-{item.pk}"
    base = {"action_item_id": item.pk}
    planned: list[Planned] = []
    soon_day = item.due_date - timedelta(days=ACTION_ITEM_DUE_SOON_DAYS)
    for day in _window_days(zone, now):
        at = datetime.combine(day, ACTION_ITEM_REMINDER_TIME, tzinfo=zone)
        if day == soon_day:
            planned.append(
                Planned(
                    ACTION_ITEM_DUE_SOON,
                    f"{prefix}:due-soon:{item.due_date}",
                    at,
                    {**base, "due_date": item.due_date.isoformat(), "day": str(day)},
                )
            )
        elif day > item.due_date:
            planned.append(
                Planned(
                    ACTION_ITEM_OVERDUE, f"{prefix}:overdue:{day}", at, {**base, "day": str(day)}
                )
            )
    return [p for p in planned if _in_window(p.due_at, now, item.created_at)]


def _digest_plan(owner: User, now: datetime, since: datetime | None) -> list[Planned]:
    """Plan Monday's digest; a Monday before the owner's oldest open item was added is skipped."""
    zone = user_zone(owner)
    today = now.astimezone(zone).date()
    this_monday = today - timedelta(days=today.weekday())
    planned = []
    for monday in (this_monday, this_monday + timedelta(days=7)):
        at = datetime.combine(monday, DIGEST_TIME, tzinfo=zone)
        week = monday.isocalendar()
        planned.append(
            Planned(
                DIGEST,
                f"digest:user-{owner.pk}:{week.year}-W{week.week:02d}",
                at,
                {"user_id": owner.pk, "week": f"{week.year}-W{week.week:02d}"},
            )
        )
    return [p for p in planned if _in_window(p.due_at, now, since)]


def _chunks(keys: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(keys), KEY_CHUNK):
        yield keys[start : start + KEY_CHUNK]


def _schedule(planned: list[Planned]) -> int:
    """Create the timers not created yet; return how many are new."""
    keys = [p.key for p in planned]
    existing: set[str] = set()
    for chunk in _chunks(keys):
        existing.update(Timer.objects.filter(key__in=chunk).values_list("key", flat=True))
    new = 0
    for p in planned:
        if p.key in existing:
            continue
        existing.add(p.key)
        timer_schedule(kind=p.kind, key=p.key, due_at=p.due_at, payload=p.payload, precise=False)
        new += 1
    return new


def reminders_plan_postmortem(postmortem: Postmortem, *, now: datetime | None = None) -> int:
    """Schedule the postmortem's reminders of the next hours; return how many timers are new."""
    postmortem = Postmortem.objects.select_related("incident__team", "incident__peak_severity").get(
        pk=postmortem.pk
    )
    return _schedule(_postmortem_plan(postmortem, now or timezone.now()))


def reminders_plan_action_item(item: ActionItem, *, now: datetime | None = None) -> int:
    """Schedule the action item's reminders of the next hours; return how many timers are new."""
    item = ActionItem.objects.select_related("owner__profile").get(pk=item.pk)
    planned = _action_item_plan(item, now or timezone.now())
    if item.owner is not None and item.status in UNFINISHED:
        since = action_item_owners_since(owner_id=item.owner.pk).get(item.owner.pk)
        planned += _digest_plan(item.owner, now or timezone.now(), since)
    return _schedule(planned)


def reminders_plan_all(*, now: datetime | None = None) -> int:
    """Schedule every reminder due in the next hours; return how many timers are new."""
    now = now or timezone.now()
    planned: list[Planned] = []
    postmortems = (
        Postmortem.objects.exclude(status=Postmortem.Status.PUBLISHED)
        .filter(
            Q(due_at__isnull=False)
            | Q(
                review_meeting_at__isnull=True,
                incident__resolved_at__isnull=False,
                incident__peak_severity__postmortem_review_within__isnull=False,
            )
        )
        .select_related("incident__team", "incident__peak_severity")
    )
    for postmortem in postmortems.iterator(chunk_size=500):
        planned += _postmortem_plan(postmortem, now)
    for item in action_items_needing_reminders().iterator(chunk_size=500):
        planned += _action_item_plan(item, now)
    since = action_item_owners_since()
    for owner in User.objects.filter(pk__in=since).select_related("profile"):
        planned += _digest_plan(owner, now, since[owner.pk])
    return _schedule(planned)


# --- Firing ---------------------------------------------------------------------------------


def _already_sent(timer: Timer) -> bool:
    """Return whether a reminder of this kind about this object already went out that day.

    Keys already name the day for daily reminders; a "due soon" key names the due date, so a due
    date moved twice could otherwise remind twice on one day.
    """
    prefix = timer.key.rsplit(":", 1)[0] + ":"
    return (
        Timer.objects.filter(
            kind=timer.kind,
            key__startswith=prefix,
            state=Timer.State.DONE,
            outcome__startswith="sent",
            payload__day=timer.payload.get("day"),
        )
        .exclude(pk=timer.pk)
        .exists()
    )


def action_item_link(item: ActionItem) -> str:
    """Return the absolute address of the action item's page."""
    return absolute_url(reverse("postmortems:action_item_edit", kwargs={"pk": item.pk}))


def _send(*, to: list[str], subject: str, template: str, context: dict[str, Any]) -> None:
    """Send the mail inside the timer's transaction: a failed send rolls back and is retried.

    A worker that dies after the mail server accepted the mail but before the outcome commits
    sends it once more when the timer is taken over; nothing is ever lost.
    """
    text = render_to_string(f"postmortems/email/{template}.txt", context)
    html = None
    if template == "digest":
        html = render_to_string(f"postmortems/email/{template}.html", context)

    def send() -> None:
        mail_send(subject=subject, body=text, html=html or None, to=to)

    send()


def _commander(incident: Incident) -> User | None:
    """Return the incident's IC: the current one, else the last one (roles may end at close)."""
    assignments = RoleAssignment.objects.filter(
        incident=incident, role=IncidentRole.COMMANDER
    ).select_related("user")
    assignment = (
        assignments.filter(ended_at__isnull=True).first()
        or assignments.order_by("-started_at", "-id").first()
    )
    return assignment.user if assignment else None


def _addresses(people: Iterable[User | None]) -> list[str]:
    return sorted({p.email for p in people if p is not None and p.is_active and p.email})


def _hours(span: timedelta | None) -> str:
    if span is None:
        return ""
    hours = int(span.total_seconds() // 3600)
    return f"{hours} hour{'s' if hours != 1 else ''}"


def _stale(timer: Timer, now: datetime) -> bool:
    return now - timer.due_at > STALE_AFTER


def _fire_postmortem(timer: Timer, why: str) -> str:
    now = timezone.now()
    postmortem = (
        Postmortem.objects.select_related("incident__team", "incident__peak_severity")
        .filter(pk=timer.payload["postmortem_id"])
        .first()
    )
    if postmortem is None:
        return "postmortem gone"
    if postmortem.status == Postmortem.Status.PUBLISHED:
        return "stopped: published"
    if _stale(timer, now):
        return "stale: fired too late"
    incident = postmortem.incident
    zone = _team_zone(incident.team)
    if why == "due_soon":
        due = postmortem.due_at
        if due is None or due.isoformat() != timer.payload["due_at"]:
            return "stopped: the due date moved"
        if now >= due:
            return "stopped: already due"
    elif why == "overdue":
        if postmortem.due_at is None or now <= postmortem.due_at:
            return "stopped: not overdue"
    else:
        within = incident.peak_severity.postmortem_review_within
        if postmortem.review_meeting_at is not None:
            return "stopped: meeting scheduled"
        if incident.resolved_at is None or within is None:
            return "stopped: no review due"
        if now < incident.resolved_at + within:
            return "stopped: review window still open"
    if _already_sent(timer):
        return "skipped: reminded already today"
    commander = _commander(incident)
    authors = list(postmortem.authors.all())
    # The review is the IC's to schedule; without an IC the authors hear of it instead.
    people: list[User | None] = [commander, *authors]
    if why == "review" and commander is not None:
        people = [commander]
    to = _addresses(people)
    if not to:
        return "nobody to remind"
    context = {
        "postmortem": postmortem,
        "incident": incident,
        "link": postmortem_url(postmortem),
        "due_day": _due_day(postmortem, zone) if postmortem.due_at else None,
        "time_zone": str(zone),
        "review_within_text": _hours(incident.peak_severity.postmortem_review_within),
        "due_days": settings.FIREBREAK_POSTMORTEM_DUE_BUSINESS_DAYS,
    }
    subjects = {
        "due_soon": f"[{incident.reference}] Postmortem due by the end of the next business day",
        "overdue": f"[{incident.reference}] Postmortem overdue",
        "review": f"[{incident.reference}] Schedule the postmortem review meeting",
    }
    templates = {
        "due_soon": "postmortem_due_soon",
        "overdue": "postmortem_overdue",
        "review": "review_unscheduled",
    }
    _send(to=to, subject=subjects[why], template=templates[why], context=context)
    return f"sent to {len(to)}"


@timer_handler(POSTMORTEM_DUE_SOON)
def fire_postmortem_due_soon(timer: Timer) -> str:
    """Remind the IC and authors that the postmortem is due at the end of the next business day."""
    return _fire_postmortem(timer, "due_soon")


@timer_handler(POSTMORTEM_OVERDUE)
def fire_postmortem_overdue(timer: Timer) -> str:
    """Remind the IC and authors, once today, that the postmortem is overdue."""
    return _fire_postmortem(timer, "overdue")


@timer_handler(REVIEW_UNSCHEDULED)
def fire_review_unscheduled(timer: Timer) -> str:
    """Remind the IC, once today, that the review meeting is not scheduled yet."""
    return _fire_postmortem(timer, "review")


def _fire_action_item(timer: Timer, why: str) -> str:
    now = timezone.now()
    item = (
        ActionItem.objects.select_related("owner__profile", "incident", "postmortem")
        .filter(pk=timer.payload["action_item_id"])
        .first()
    )
    if item is None:
        return "action item gone"
    if item.status not in UNFINISHED:
        return f"stopped: {item.status}"
    if item.owner is None or not item.owner.is_active:
        return "stopped: no owner"
    if _stale(timer, now):
        return "stale: fired too late"
    if item.due_date is None:
        return "stopped: no due date"
    if why == "due_soon":
        if item.due_date.isoformat() != timer.payload["due_date"]:
            return "stopped: the due date moved"
    elif item.due_date >= date.fromisoformat(timer.payload["day"]):
        return "stopped: not overdue"
    if _already_sent(timer):
        return "skipped: reminded already today"
    to = _addresses([item.owner])
    if not to:
        return "nobody to remind"
    today = now.astimezone(user_zone(item.owner)).date()
    context = {
        "item": item,
        "owner": item.owner,
        "incident": item.incident,
        "link": action_item_link(item),
        "mine_link": absolute_url(reverse("postmortems:my_action_items")),
        "days_late": (today - item.due_date).days,
    }
    if why == "due_soon":
        subject = f"Action item due {item.due_date:%a %d %b}: {item.title}"
        template = "action_item_due_soon"
    else:
        subject = f"Action item overdue: {item.title}"
        template = "action_item_overdue"
    _send(to=to, subject=subject, template=template, context=context)
    return "sent to 1"


@timer_handler(ACTION_ITEM_DUE_SOON)
def fire_action_item_due_soon(timer: Timer) -> str:
    """Remind the owner that the action item is due in two days."""
    return _fire_action_item(timer, "due_soon")


@timer_handler(ACTION_ITEM_OVERDUE)
def fire_action_item_overdue(timer: Timer) -> str:
    """Remind the owner, once today, that the action item is overdue."""
    return _fire_action_item(timer, "overdue")


@timer_handler(DIGEST)
def fire_action_item_digest(timer: Timer) -> str:
    """Send the owner this week's digest of their open and overdue action items."""
    now = timezone.now()
    owner = User.objects.select_related("profile").filter(pk=timer.payload["user_id"]).first()
    if owner is None or not owner.is_active:
        return "stopped: no such active user"
    if _stale(timer, now):
        return "stale: fired too late"
    if not owner.email:
        return "nobody to remind"
    today = now.astimezone(user_zone(owner)).date()
    items = action_items_for_digest(owner=owner, today=today)
    if not items:
        return "nothing open"
    overdue = [item for item in items if item.overdue]  # type: ignore[attr-defined]
    context = {
        "owner": owner,
        "items": [{"item": item, "link": action_item_link(item)} for item in items],
        "overdue_count": len(overdue),
        "open_count": len(items),
        "week": timer.payload["week"],
        "mine_link": absolute_url(reverse("postmortems:my_action_items")),
    }
    subject = f"Your action items this week: {len(items)} open"
    if overdue:
        subject += f", {len(overdue)} overdue"
    _send(to=[owner.email], subject=subject, template="digest", context=context)
    return "sent to 1"
