"""Writes of on-call health: the "automate or fix" follow-up of a noisy alert, opened once.

The runbook's toil rule: an alert that fires more than 5 times in a calendar month is automated or
fixed. One click on the dashboard opens that action item through postmortems' action item service
(owner, due date, reminders), and a ToilFollowUp row, unique per (source, alert name, month),
makes a second click — or a simultaneous one — return the first instead of a duplicate.

Who may: managers, staff (docs/ARCHITECTURE.md, Permission matrix). Action items go to the IC, the
postmortem's authors and owners (all tied to one incident), and to managers and staff. A toil
follow-up spans a month of episodes across incidents, so no incident role applies; it is the
weekly review's outcome, which engineering managers track to done.
"""

from calendar import month_name
from dataclasses import dataclass
from datetime import date
from typing import Final

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from incidents.alerting.models import AlertSource
from incidents.models import Incident, Team
from portal.auth import AnyUser, is_manager, is_staff
from portal.errors import InvalidInputError, PermissionDeniedError
from postmortems.models import ActionItem
from postmortems.services.action_items import TITLE_MAX_LENGTH, action_item_create

from .metrics import TOIL_EPISODES_PER_MONTH, month_window
from .models import ToilFollowUp
from .selectors import health_alerts

__all__ = [
    "TOIL_PRIORITY",
    "ToilFollowUpResult",
    "can_create_toil_follow_up",
    "toil_follow_up_create",
    "toil_follow_up_get_or_create",
    "toil_title",
]

TOIL_PRIORITY: Final = ActionItem.Priority.P3


@dataclass(frozen=True)
class ToilFollowUpResult:
    """The follow-up of a noisy alert, and whether this call opened it."""

    follow_up: ToilFollowUp
    created: bool


def can_create_toil_follow_up(user: AnyUser) -> bool:
    """Return whether the user may open "automate or fix" action items (managers, staff)."""
    return is_staff(user) or bool(user.is_authenticated and user.is_active and is_manager(user))


def _require_create(actor: AnyUser) -> None:
    if can_create_toil_follow_up(actor):
        return
    if not actor.is_authenticated:
        raise PermissionDeniedError("Sign in first.")
    raise PermissionDeniedError(
        "Only managers and staff may open “automate or fix” action items; ask your "
        "engineering manager to open it from the weekly review."
    )


def toil_title(*, alert_name: str, episodes: int, month: date) -> str:
    """Return the action item's title, shortening the alert name to fit the title field."""
    tail = f" fired {episodes} times in {month_name[month.month]} {month.year}"
    head = "Automate or fix: "
    room = TITLE_MAX_LENGTH - len(head) - len(tail)
    name = alert_name if len(alert_name) <= room else alert_name[: room - 1] + "…"
    return f"{head}{name}{tail}"


def _existing(*, source_id: int, alert_name: str, month: date) -> ToilFollowUp | None:
    return (
        ToilFollowUp.objects.select_related("action_item")
        .filter(source_id=source_id, alert_name=alert_name, month=month)
        .first()
    )


def toil_follow_up_get_or_create(
    *,
    source_id: int,
    alert_name: str,
    month: date,
    owner: User,
    due_date: date,
    actor: AnyUser,
    team: Team | None = None,
) -> ToilFollowUpResult:
    """Open the noisy alert's "automate or fix" action item once; return it and if it is new.

    `month` is any day of the calendar month; `team` is the dashboard's team filter, so the
    episodes counted are the ones its noisy-alert row counted. The item goes on the most recent
    incident one of those episodes opened or joined; with none, there is nothing to attach it
    to and the error says what to do.
    """
    _require_create(actor)
    month = month.replace(day=1)
    if not (alert_name or "").strip():
        raise InvalidInputError("Say which alert fires too often.", field="alert_name")
    found = _existing(source_id=source_id, alert_name=alert_name, month=month)
    if found is not None:
        return ToilFollowUpResult(found, created=False)
    source = AlertSource.objects.filter(pk=source_id).first()
    if source is None:
        raise InvalidInputError("That alert source does not exist (any more).", field="source")
    # The episodes the dashboard counted for this row: the month in the team's zone (no team:
    # the site's), the team's services only when a team is chosen.
    episodes = health_alerts(window=month_window(month=month, team=team)).filter(
        source_id=source_id, title=alert_name
    )
    count = episodes.count()
    month_text = f"{month_name[month.month]} {month.year}"
    if count <= TOIL_EPISODES_PER_MONTH:
        raise InvalidInputError(
            f"{alert_name} from {source.name} fired {count} time{'s' if count != 1 else ''} in "
            f"{month_text}; the runbook asks to automate or fix alerts that fire more than "
            f"{TOIL_EPISODES_PER_MONTH} times a month.",
            field="alert_name",
        )
    incident = (
        Incident.objects.filter(pk__in=episodes.filter(incident__isnull=False).values("incident"))
        .order_by("-detected_at", "-pk")
        .first()
    )
    if incident is None:
        raise InvalidInputError(
            f"None of the {count} episodes of {alert_name} in {month_text} opened or joined an "
            "incident, and an action item belongs to an incident. Open an incident from one of "
            "its alerts in triage (or attach one to an incident), then try again.",
            field="alert_name",
        )
    description = (
        f"{alert_name} from {source.name} fired {count} times in {month_text} "
        f"(more than {TOIL_EPISODES_PER_MONTH}). The runbook's toil rule: automate the response "
        f"or fix the alert. Opened from the on-call health review; filed on {incident.reference}, "
        "the latest incident it opened that month."
    )
    try:
        # A savepoint: when a simultaneous click wins the unique constraint, this one's action
        # item (and the reminders it planned on commit) is rolled back with it.
        with transaction.atomic():
            item = action_item_create(
                incident=incident,
                title=toil_title(alert_name=alert_name, episodes=count, month=month),
                description=description,
                owner=owner,
                due_date=due_date,
                priority=TOIL_PRIORITY,
                actor=actor,
            )
            follow_up = ToilFollowUp.objects.create(
                source=source,
                alert_name=alert_name,
                month=month,
                action_item=item,
                created_by=actor if actor.is_authenticated else None,
            )
    except IntegrityError:
        found = _existing(source_id=source_id, alert_name=alert_name, month=month)
        if found is None:
            raise
        return ToilFollowUpResult(found, created=False)
    return ToilFollowUpResult(follow_up, created=True)


def toil_follow_up_create(
    *,
    source_id: int,
    alert_name: str,
    month: date,
    owner: User,
    due_date: date,
    actor: AnyUser,
    team: Team | None = None,
) -> ToilFollowUp:
    """Open the noisy alert's "automate or fix" action item once; again returns the first."""
    return toil_follow_up_get_or_create(
        source_id=source_id,
        alert_name=alert_name,
        month=month,
        owner=owner,
        due_date=due_date,
        actor=actor,
        team=team,
    ).follow_up
