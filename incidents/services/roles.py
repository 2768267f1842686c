"""Incident roles: take a free role, assign or hand over, leave; one current holder per role."""

from datetime import datetime
from typing import cast

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from portal.auth import AnyUser, is_responder
from portal.errors import ApplicationError, InvalidInputError
from portal.people import display_name

from ..models import Incident, IncidentRole, RoleAssignment, Source, TimelineEvent
from ..policies import Action, can, forget_holders, require
from .lifecycle import _lock
from .timeline import timeline_record


class RoleTaken(ApplicationError):
    """Someone already holds the role; hand it over instead."""


def _current(incident: Incident, role: str) -> RoleAssignment | None:
    return (
        RoleAssignment.objects.select_for_update()
        .select_related("user")
        .filter(incident=incident, role=role, ended_at__isnull=True)
        .first()
    )


def _check_role(role: str) -> IncidentRole:
    try:
        return IncidentRole(role)
    except ValueError:
        choices = ", ".join(IncidentRole.values)
        raise InvalidInputError(
            f"Unknown role {role!r}; choose one of {choices}.", field="role"
        ) from None


def incident_role_assign(
    *,
    incident: Incident,
    actor: AnyUser,
    role: str,
    user: AnyUser | None = None,
    source: str = Source.WEB,
    at: datetime | None = None,
) -> RoleAssignment:
    """Give a role to a user (the actor when none is named), handing it over from any holder.

    Taking a free role is any responder's right; giving a role to someone else or taking one that
    is held needs the Incident Commander (or any responder while there is no IC).
    """
    require(actor, Action.TAKE_ROLE, incident)  # every role change needs a responder at least
    role = _check_role(role)
    user = user or actor
    if not user.is_active or not is_responder(user):
        raise InvalidInputError(
            f"{display_name(user)} is not a responder and can't hold an incident role.",
            field="user",
        )
    with transaction.atomic():
        incident = _lock(incident)
        if incident.status == "closed":
            raise ApplicationError(f"{incident.reference} is closed; its roles are final.")
        current = _current(incident, role)
        if current is not None and current.user_id == user.pk:
            return current
        taking_free_role = current is None and user.pk == actor.pk
        if not taking_free_role and not can(actor, Action.ASSIGN_ROLE, incident):
            if current is not None and user.pk == actor.pk:
                ask = (
                    "ask them to hand it over"
                    if role == IncidentRole.COMMANDER
                    else "ask them or the Incident Commander to hand it over"
                )
                raise RoleTaken(
                    f"{display_name(current.user)} is {role.label} of {incident.reference}; {ask}."
                )
            require(actor, Action.ASSIGN_ROLE, incident)
        at = at or timezone.now()
        if current is not None:
            current.ended_at = at
            current.save(update_fields=["ended_at"])
        assignment = RoleAssignment.objects.create(
            incident=incident, role=role, user=user, assigned_by=cast(User, actor), started_at=at
        )
        forget_holders(incident)
        if current is not None:
            before, after = display_name(current.user), display_name(user)
            message = f"{role.label} handed over from {before} to {after}"
        else:
            message = f"{display_name(user)} is {role.label}"
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.ROLE_ASSIGNED,
            actor=actor,
            source=source,
            occurred_at=at,
            from_value=current.user.get_username() if current else "",
            to_value=role,
            message=message,
            data={
                "role": role.value,
                "user": user.get_username(),
                "previous": current.user.get_username() if current else None,
            },
        )
    return assignment


def incident_role_release(
    *,
    incident: Incident,
    actor: AnyUser,
    role: str,
    source: str = Source.WEB,
    at: datetime | None = None,
) -> Incident:
    """Leave a role (its holder), or take it away (the Incident Commander); free roles stay free."""
    require(actor, Action.TAKE_ROLE, incident)  # every role change needs a responder at least
    role = _check_role(role)
    with transaction.atomic():
        incident = _lock(incident)
        current = _current(incident, role)
        if current is None:
            return incident
        if current.user_id != actor.pk:
            require(actor, Action.ASSIGN_ROLE, incident)
        at = at or timezone.now()
        current.ended_at = at
        current.save(update_fields=["ended_at"])
        forget_holders(incident)
        verb = "left" if current.user_id == actor.pk else "was relieved as"
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.ROLE_RELEASED,
            actor=actor,
            source=source,
            occurred_at=at,
            from_value=role,
            message=f"{display_name(current.user)} {verb} {role.label}"
            if verb == "was relieved as"
            else f"{display_name(current.user)} left the {role.label} role",
            data={"role": role.value, "user": current.user.get_username()},
        )
    return incident
