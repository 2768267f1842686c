"""Component statuses: every change is kept as history, which the uptime bars are computed from."""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from portal.auth import AnyUser
from portal.errors import InvalidInputError

from ..models import Component, ComponentStatus, ComponentStatusChange, PublicIncident
from ..version import status_version_bump
from .access import CHANGE_COMPONENTS, require_status_page_editor
from .notify import subscribers_notify_on_commit

logger = logging.getLogger(__name__)


def check_component_status(status: str, *, field: str = "status") -> str:
    """Return the status if it is one of Statuspage's component statuses, else raise."""
    if status not in ComponentStatus.values:
        raise InvalidInputError(
            f"{status!r} is not a component status; use one of "
            f"{', '.join(ComponentStatus.values)}.",
            field=field,
        )
    return status


def record_component_status(
    *,
    component: Component,
    status: str,
    public_incident: PublicIncident | None,
    at: datetime,
) -> ComponentStatusChange | None:
    """Change the component's status and keep the change (inside the caller's transaction).

    Return None when the component already has that status. The caller bumps the status
    version once for all of its changes and decides whom to notify.
    """
    locked = Component.objects.select_for_update().get(pk=component.pk)
    if locked.status == status:
        component.status = status
        return None
    change = ComponentStatusChange.objects.create(
        component=locked,
        old_status=locked.status,
        new_status=status,
        changed_at=at,
        public_incident=public_incident,
    )
    locked.status = status
    locked.save(update_fields=["status", "updated_at"])
    # The caller's object shows the new status too.
    component.status = status
    component.updated_at = locked.updated_at
    return change


def component_status_set(
    *,
    component: Component,
    status: str,
    actor: AnyUser | None,
    public_incident: PublicIncident | None = None,
    notify: bool = True,
) -> ComponentStatusChange | None:
    """Set a component's status, keeping the change; setting the status it has changes nothing.

    With no actor, the system changes it (a maintenance starting or ending on time).
    """
    require_status_page_editor(actor, what="change component statuses", perm=CHANGE_COMPONENTS)
    check_component_status(status)
    with transaction.atomic():
        change = record_component_status(
            component=component,
            status=status,
            public_incident=public_incident,
            at=timezone.now(),
        )
        if change is None:
            return None
        status_version_bump()
        if notify:
            subscribers_notify_on_commit(event_key=f"component:{change.pk}")
    logger.info(
        "component %s: %s → %s by %s",
        component.pk,
        change.old_status,
        change.new_status,
        actor.get_username() if actor is not None else "the system",
    )
    return change


def component_history_start(
    *, component: Component, actor: AnyUser | None
) -> ComponentStatusChange:
    """Record a new component's first status, where its history (and uptime) starts."""
    require_status_page_editor(actor, what="add components", perm="statuspage.add_component")
    with transaction.atomic():
        change = ComponentStatusChange.objects.create(
            component=component,
            old_status="",
            new_status=component.status,
            changed_at=timezone.now(),
        )
        status_version_bump()
    return change
