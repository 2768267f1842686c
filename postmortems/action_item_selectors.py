"""Reads of action items: one person's list, a postmortem's, the back-office's, the digest's.

An action item is overdue when it is open or in progress and its due date is before today; "today"
is the reader's local date (the viewer's time zone on a page, the owner's in a reminder).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.auth.models import User
from django.db.models import BooleanField, Case, F, Min, Q, QuerySet, Value, When
from django.utils import timezone

from .models import ActionItem, Postmortem

UNFINISHED = (ActionItem.Status.OPEN, ActionItem.Status.IN_PROGRESS)
FINISHED = (ActionItem.Status.DONE, ActionItem.Status.WONT_DO)
# How far back "recently finished" reaches on a person's own list.
RECENTLY_FINISHED = timedelta(days=30)
RECENTLY_FINISHED_SHOWN = 20


def overdue_condition(today: date) -> Q:
    """Return the filter of overdue items, as of the given local date."""
    return Q(status__in=UNFINISHED, due_date__lt=today)


def action_items_with_overdue(
    queryset: QuerySet[ActionItem], *, today: date | None = None
) -> QuerySet[ActionItem]:
    """Return the queryset annotated with `overdue` (a boolean) as of `today`."""
    today = today or timezone.localdate()
    return queryset.annotate(
        overdue=Case(
            When(overdue_condition(today), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
    )


def action_item_is_overdue(item: ActionItem, *, today: date | None = None) -> bool:
    """Return whether the item is unfinished and past its due date."""
    annotated = getattr(item, "overdue", None)
    if annotated is not None and today is None:
        return bool(annotated)
    today = today or timezone.localdate()
    return bool(item.status in UNFINISHED and item.due_date and item.due_date < today)


def _base() -> QuerySet[ActionItem]:
    return ActionItem.objects.select_related(
        "owner", "incident", "incident__team", "incident__severity", "postmortem"
    )


def action_item_get(*, pk: int, today: date | None = None) -> ActionItem:
    """Return one action item with what its page needs, or raise ActionItem.DoesNotExist."""
    return action_items_with_overdue(_base(), today=today).get(pk=pk)


def _soonest_first(queryset: QuerySet[ActionItem]) -> QuerySet[ActionItem]:
    return queryset.order_by(F("due_date").asc(nulls_last=True), "priority", "id")


def action_items_of_postmortem(
    *, postmortem: Postmortem, today: date | None = None
) -> QuerySet[ActionItem]:
    """Return the postmortem's action items: unfinished first, due soonest first."""
    queryset = action_items_with_overdue(_base().filter(postmortem=postmortem), today=today)
    return queryset.annotate(
        finished=Case(
            When(status__in=FINISHED, then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
    ).order_by("finished", F("due_date").asc(nulls_last=True), "priority", "id")


@dataclass(frozen=True)
class MyActionItems:
    """One person's action items: what is left to do, and what they finished lately."""

    unfinished: list[ActionItem]
    recently_finished: list[ActionItem]

    @property
    def overdue_count(self) -> int:
        return sum(1 for item in self.unfinished if getattr(item, "overdue", False))


def action_items_of_owner(*, owner: User, today: date | None = None) -> MyActionItems:
    """Return the owner's open and in-progress items (due soonest first), then recent finishes."""
    today = today or timezone.localdate()
    owned = action_items_with_overdue(_base().filter(owner=owner), today=today)
    unfinished = list(_soonest_first(owned.filter(status__in=UNFINISHED)))
    since = timezone.now() - RECENTLY_FINISHED
    finished = list(
        owned.filter(status__in=FINISHED, completed_at__gte=since).order_by("-completed_at", "-id")[
            :RECENTLY_FINISHED_SHOWN
        ]
    )
    return MyActionItems(unfinished=unfinished, recently_finished=finished)


def action_items_for_digest(*, owner: User, today: date) -> list[ActionItem]:
    """Return the owner's unfinished items for the weekly digest: overdue first, then by due."""
    items = list(
        _soonest_first(
            action_items_with_overdue(
                _base().filter(owner=owner, status__in=UNFINISHED), today=today
            )
        )
    )
    return sorted(items, key=lambda item: not item.overdue)  # type: ignore[attr-defined]


def action_item_owners_since(*, owner_id: int | None = None) -> dict[int, datetime]:
    """Return {owner id: when their oldest unfinished item was added} for active owners."""
    items = ActionItem.objects.filter(status__in=UNFINISHED, owner__is_active=True)
    if owner_id is not None:
        items = items.filter(owner_id=owner_id)
    rows = items.order_by().values("owner_id").annotate(since=Min("created_at"))
    return {row["owner_id"]: row["since"] for row in rows}


def action_items_needing_reminders() -> QuerySet[ActionItem]:
    """Return unfinished items that have an owner and a due date (the ones reminders are about)."""
    return (
        ActionItem.objects.filter(status__in=UNFINISHED, owner__isnull=False, owner__is_active=True)
        .exclude(due_date__isnull=True)
        .select_related("owner", "owner__profile")
    )


def action_item_owner_choices() -> QuerySet[User]:
    """Return the people who may own an action item: active users who can read the portal."""
    from portal.auth import GROUPS

    return (
        User.objects.filter(is_active=True)
        .filter(Q(groups__name__in=GROUPS) | Q(is_staff=True) | Q(is_superuser=True))
        .distinct()
        .order_by("first_name", "last_name", "username")
    )
