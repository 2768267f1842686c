"""Who may change on-call schedules; services enforce it, interfaces ask it what to offer.

Managers and staff manage schedules: rotations and contact methods in the back-office, and any
override. A responder may add an override for themselves only (taking a shift, or their half of
a swap), on the schedules of their own team (as a member or one of its engineering managers, or
as someone in one of the schedule's rotations), and remove such an override they added
themselves. Everyone who may read the portal may read schedules.
"""

from django.contrib.auth.models import User

from portal.auth import AnyUser, is_manager, is_responder, is_staff
from portal.errors import PermissionDeniedError

from .models import Override, RotationParticipant, Schedule


def can_manage_schedules(user: AnyUser) -> bool:
    """Return whether the user manages every schedule and override (managers, staff)."""
    return is_staff(user) or is_manager(user)


def is_on_schedule_team(user: AnyUser, schedule: Schedule) -> bool:
    """Return whether the user is a member or engineering manager of the schedule's team.

    Someone in one of the schedule's rotations belongs to it too (a manager put them there).
    """
    if not user.is_authenticated:
        return False
    team = schedule.team
    return (
        team.members.filter(pk=user.pk).exists()
        or team.engineering_managers.filter(pk=user.pk).exists()
        or RotationParticipant.objects.filter(rotation__schedule=schedule, user_id=user.pk).exists()
    )


def can_add_overrides(user: AnyUser, schedule: Schedule) -> bool:
    """Return whether the user may add any override to the schedule (for themselves, at least)."""
    if can_manage_schedules(user):
        return True
    return is_responder(user) and is_on_schedule_team(user, schedule)


def can_add_override_for(actor: AnyUser, person: User, schedule: Schedule) -> bool:
    """Return whether the actor may put the person on call on the schedule with an override."""
    if can_manage_schedules(actor):
        return True
    return actor.pk == person.pk and can_add_overrides(actor, schedule)


def require_add_overrides(actor: AnyUser, schedule: Schedule) -> None:
    """Raise PermissionDeniedError unless the actor may add overrides to the schedule at all."""
    if can_add_overrides(actor, schedule):
        return
    if not actor.is_authenticated:
        raise PermissionDeniedError("Sign in first.")
    if is_responder(actor):
        raise PermissionDeniedError(
            f"Only members and engineering managers of {schedule.team.name} (and managers and "
            f"staff) may add overrides to {schedule.name}; ask a manager to put you on call here."
        )
    raise PermissionDeniedError("Only responders, managers and staff may add overrides.")


def require_add_override_for(actor: AnyUser, person: User, schedule: Schedule) -> None:
    """Raise PermissionDeniedError unless the actor may put the person on call on the schedule."""
    require_add_overrides(actor, schedule)
    if can_add_override_for(actor, person, schedule):
        return
    raise PermissionDeniedError(
        "Responders may add overrides only for themselves; ask a manager to put "
        "someone else on call."
    )


def can_delete_override(actor: AnyUser, override: Override) -> bool:
    """Return whether the actor may remove the override."""
    if can_manage_schedules(actor):
        return True
    return (
        is_responder(actor) and override.user_id == actor.pk and override.created_by_id == actor.pk
    )


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
