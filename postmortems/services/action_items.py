"""Writes of action items: create, edit, change status.

Every change checks the right (docs/ARCHITECTURE.md, Permission matrix: the owner, IC, postmortem's
authors, managers and staff edit; readers only read), validates all input before writing anything
and runs in one transaction on the row taken with `select_for_update()`. Reminders follow the
item's due date and owner (postmortems.reminders).
"""

from datetime import date
from typing import Any, Final

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from incidents.models import Incident
from portal.auth import AnyUser, can_read_portal, is_manager, is_staff
from portal.errors import InvalidInputError, PermissionDeniedError
from portal.people import display_name

from ..models import ActionItem, Postmortem

__all__ = [
    "UNSET",
    "action_item_create",
    "action_item_set_status",
    "action_item_update",
    "action_item_validate",
]


class _Unset:
    """Marks a keyword argument the caller left out (None is a value: "no owner")."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()

TITLE_MAX_LENGTH = ActionItem._meta.get_field("title").max_length or 200
TRACKER_URL_MAX_LENGTH = ActionItem._meta.get_field("tracker_url").max_length or 500
DESCRIPTION_MAX_LENGTH = 20_000
_tracker_url_validator = URLValidator(schemes=["http", "https"])


def action_item_validate(
    *,
    title: str,
    description: str = "",
    owner: User | None = None,
    due_date: date | None = None,
    priority: str = ActionItem.Priority.P3,
    tracker_url: str = "",
    previous_due_date: date | None = None,
) -> dict[str, Any]:
    """Check an action item's fields; return them cleaned, or raise InvalidInputError.

    A due date before today is refused unless it is the date the item already had (an item may
    stay overdue; it may not be made overdue by an edit).
    """
    title = (title or "").strip()
    if not title:
        raise InvalidInputError("Give the action item a title.", field="title")
    if len(title) > TITLE_MAX_LENGTH:
        raise InvalidInputError(
            f"Keep the title under {TITLE_MAX_LENGTH} characters; put details in the description.",
            field="title",
        )
    description = (description or "").strip()
    if len(description) > DESCRIPTION_MAX_LENGTH:
        raise InvalidInputError(
            f"Keep the description under {DESCRIPTION_MAX_LENGTH} characters.", field="description"
        )
    if owner is not None and (not owner.is_active or not can_read_portal(owner)):
        raise InvalidInputError(
            f"{display_name(owner)} cannot sign in to the portal, so cannot own an action item; "
            "choose someone in the viewers, responders or managers group.",
            field="owner",
        )
    if due_date is not None and due_date != previous_due_date and due_date < timezone.localdate():
        raise InvalidInputError(
            f"{due_date:%Y-%m-%d} is in the past; choose today or a later date.", field="due_date"
        )
    if priority not in ActionItem.Priority.values:
        raise InvalidInputError("Choose a priority from P1 to P4.", field="priority")
    tracker_url = (tracker_url or "").strip()
    if tracker_url:
        if len(tracker_url) > TRACKER_URL_MAX_LENGTH:
            raise InvalidInputError(
                f"Keep the tracker link under {TRACKER_URL_MAX_LENGTH} characters.",
                field="tracker_url",
            )
        try:
            _tracker_url_validator(tracker_url)
        except ValidationError:
            raise InvalidInputError(
                "Give the tracker issue's full web address, starting with https://.",
                field="tracker_url",
            ) from None
    return {
        "title": title,
        "description": description,
        "owner": owner,
        "due_date": due_date,
        "priority": priority,
        "tracker_url": tracker_url,
    }


def _require_add(actor: AnyUser, incident: Incident, postmortem: Postmortem | None) -> None:
    """Raise PermissionDeniedError unless the actor may add an action item here.

    On a postmortem: whoever may edit it. On the incident alone: the incident's IC, the authors
    of its postmortem if it has one, managers and staff.
    """
    from .. import policies

    if postmortem is not None:
        if policies.can_add_action_item(actor, postmortem):
            return
    else:
        existing = Postmortem.objects.filter(incident=incident).first()
        if (existing is not None and policies.can_edit_postmortem(actor, existing)) or (
            policies.is_incident_commander(actor, incident)
            or is_staff(actor)
            or (actor.is_authenticated and actor.is_active and is_manager(actor))
        ):
            return
    if not actor.is_authenticated:
        raise PermissionDeniedError("Sign in first.")
    raise PermissionDeniedError(
        f"Only {incident.reference}'s Incident Commander, the postmortem's authors, managers and "
        "staff may add action items."
    )


def _plan_reminders(item: ActionItem) -> None:
    from ..reminders import reminders_plan_action_item

    reminders_plan_action_item(item)


def action_item_create(
    *,
    incident: Incident,
    postmortem: Postmortem | None = None,
    title: str,
    description: str = "",
    owner: User | None = None,
    due_date: date | None = None,
    priority: str = ActionItem.Priority.P3,
    tracker_url: str = "",
    actor: AnyUser,
) -> ActionItem:
    """Create an action item for the incident, on its postmortem when one is given."""
    if postmortem is not None and postmortem.incident_id != incident.pk:
        raise InvalidInputError(
            f"That postmortem is not {incident.reference}'s.", field="postmortem"
        )
    _require_add(actor, incident, postmortem)
    fields = action_item_validate(
        title=title,
        description=description,
        owner=owner,
        due_date=due_date,
        priority=priority,
        tracker_url=tracker_url,
    )
    with transaction.atomic():
        item = ActionItem.objects.create(
            incident=incident,
            postmortem=postmortem,
            created_by=actor if actor.is_authenticated else None,
            **fields,
        )
        _plan_reminders(item)
    return item


def action_item_follow_up(
    *,
    incident: Incident,
    title: str,
    description: str = "",
    owner: User | None,
    created_by: User | None,
    priority: str = ActionItem.Priority.P2,
    due_in_business_days: int = 2,
) -> ActionItem:
    """Open the follow-up an authorised change leaves behind (an image pin to undo, say).

    The change itself was checked (an Investigator may pin an image but not add action items),
    so the follow-up is the system's, not a person's request: no permission check here. It is
    due a few of the owning team's business days from now.
    """
    from ..deadlines import due_date_after

    due_date = due_date_after(
        team=incident.team, resolved_at=timezone.now(), days=due_in_business_days
    )
    fields = action_item_validate(
        title=title,
        description=description,
        owner=owner,
        due_date=due_date,
        priority=priority,
        tracker_url="",
    )
    with transaction.atomic():
        item = ActionItem.objects.create(incident=incident, created_by=created_by, **fields)
        _plan_reminders(item)
    return item


def _lock(item: ActionItem) -> ActionItem:
    return (
        ActionItem.objects.select_for_update(of=("self",))
        .select_related("incident", "postmortem", "owner")
        .get(pk=item.pk)
    )


def action_item_update(
    *,
    item: ActionItem,
    actor: AnyUser,
    title: str | _Unset = UNSET,
    description: str | _Unset = UNSET,
    owner: User | _Unset | None = UNSET,
    due_date: date | _Unset | None = UNSET,
    priority: str | _Unset = UNSET,
    tracker_url: str | _Unset = UNSET,
) -> ActionItem:
    """Change the given fields of the action item; fields left out stay as they are."""
    from ..policies import require_edit_action_item

    with transaction.atomic():
        # Checked on the row as it is now (owner, postmortem authors), not as the caller saw it.
        item = _lock(item)
        require_edit_action_item(actor, item)
        wanted = {
            "title": title,
            "description": description,
            "owner": owner,
            "due_date": due_date,
            "priority": priority,
            "tracker_url": tracker_url,
        }
        current = {name: getattr(item, name) for name in wanted}
        merged: dict[str, Any] = {
            name: current[name] if isinstance(value, _Unset) else value
            for name, value in wanted.items()
        }
        fields = action_item_validate(**merged, previous_due_date=item.due_date)
        changed = [name for name, value in fields.items() if value != current[name]]
        if not changed:
            return item
        for name in changed:
            setattr(item, name, fields[name])
        item.save(update_fields=[*changed, "updated_at"])
        if {"due_date", "owner"} & set(changed):
            _plan_reminders(item)
    return item


def action_item_set_status(*, item: ActionItem, status: str, actor: AnyUser) -> ActionItem:
    """Move the action item to `status`, recording when it was finished (done or won't do)."""
    from ..policies import require_edit_action_item

    if status not in ActionItem.Status.values:
        raise InvalidInputError("Choose open, in progress, done or won't do.", field="status")
    with transaction.atomic():
        # Checked on the row as it is now (owner, postmortem authors), not as the caller saw it.
        item = _lock(item)
        require_edit_action_item(actor, item)
        if item.status == status:
            return item
        was_finished = item.is_finished
        item.status = status
        if item.is_finished and not was_finished:
            item.completed_at = timezone.now()
        elif not item.is_finished:
            item.completed_at = None
        item.save(update_fields=["status", "completed_at", "updated_at"])
        if not item.is_finished:
            _plan_reminders(item)
    return item
