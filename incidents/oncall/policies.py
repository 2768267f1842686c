"""Who may change on-call schedules; services enforce it, interfaces ask it what to offer.

Managers and staff manage schedules: rotations and contact methods in the back-office, and any
override. A responder may add an override for themselves only (taking a shift, or their half of
a swap) and remove such an override they added themselves. Everyone who may read the portal
may read schedules.
"""

from django.contrib.auth.models import User

from portal.auth import AnyUser, is_manager, is_responder, is_staff
from portal.errors import PermissionDeniedError

from .models import Override


def can_manage_schedules(user: AnyUser) -> bool:
    """Return whether the user manages every schedule and override (managers, staff)."""
    return is_staff(user) or is_manager(user)


def can_add_overrides(user: AnyUser) -> bool:
    """Return whether the user may add any override at all (for themselves, at least)."""
    return can_manage_schedules(user) or is_responder(user)


def can_add_override_for(actor: AnyUser, person: User) -> bool:
    """Return whether the actor may put the person on call with an override."""
    if can_manage_schedules(actor):
        return True
    return is_responder(actor) and actor.pk == person.pk


def can_delete_override(actor: AnyUser, override: Override) -> bool:
    """Return whether the actor may remove the override."""
    if can_manage_schedules(actor):
        return True
    return (
        is_responder(actor) and override.user_id == actor.pk and override.created_by_id == actor.pk
    )


def require_add_override_for(actor: AnyUser, person: User) -> None:
    """Raise PermissionDeniedError unless the actor may put the person on call."""
    if can_add_override_for(actor, person):
        return
    if not actor.is_authenticated:
        raise PermissionDeniedError("Sign in first.")
    if is_responder(actor):
        raise PermissionDeniedError(
            "Responders may add overrides only for themselves; ask a manager to put "
            "someone else on call."
        )
    raise PermissionDeniedError("Only responders, managers and staff may add overrides.")


def require_delete_override(actor: AnyUser, override: Override) -> None:
    """Raise PermissionDeniedError unless the actor may remove the override."""
    if can_delete_override(actor, override):
        return
    if not actor.is_authenticated:
        raise PermissionDeniedError("Sign in first.")
    raise PermissionDeniedError(
        "Only managers and staff may remove this override; responders may remove only "
        "overrides they added for themselves."
    )
