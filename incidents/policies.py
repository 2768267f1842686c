"""Who may do what to an incident (docs/ARCHITECTURE.md, Permission matrix); services enforce it."""

from enum import StrEnum

from portal.auth import AnyUser, can_read_portal, is_manager, is_responder, is_staff
from portal.errors import PermissionDeniedError

from .models import Incident, IncidentRole, RoleAssignment


class Action(StrEnum):
    READ = "read"
    DECLARE = "declare"
    ACKNOWLEDGE = "acknowledge"
    START_INVESTIGATING = "start_investigating"
    NOTE = "note"
    STATUS_UPDATE = "status_update"
    TAKE_ROLE = "take_role"
    ASSIGN_ROLE = "assign_role"
    CHANGE_SEVERITY = "change_severity"
    EDIT_DETAILS = "edit_details"
    MITIGATE = "mitigate"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    CLOSE = "close"
    PUBLISH_PUBLIC_UPDATE = "publish_public_update"
    RUN_DIAGNOSTICS = "run_diagnostics"
    RUN_MUTATING_JOB = "run_mutating_job"


# Any responder may do these on any incident.
RESPONDER_ACTIONS = frozenset(
    {
        Action.DECLARE,
        Action.ACKNOWLEDGE,
        Action.START_INVESTIGATING,
        Action.NOTE,
        Action.STATUS_UPDATE,
        Action.TAKE_ROLE,
        Action.RUN_DIAGNOSTICS,
    }
)
# Only the Incident Commander (or any responder while there is no IC) may do these.
COMMANDER_ACTIONS = frozenset(
    {
        Action.ASSIGN_ROLE,
        Action.CHANGE_SEVERITY,
        Action.EDIT_DETAILS,
        Action.MITIGATE,
        Action.RESOLVE,
        Action.REOPEN,
        Action.CLOSE,
    }
)


def current_holder_ids(incident: Incident) -> dict[str, int]:
    """Return {role: user id} of the incident's current role holders, read once per object."""
    cached = getattr(incident, "_current_holder_ids", None)
    if cached is None:
        cached = dict(
            RoleAssignment.objects.filter(incident=incident, ended_at__isnull=True).values_list(
                "role", "user_id"
            )
        )
        incident._current_holder_ids = cached  # type: ignore[attr-defined]
    return cached


def forget_holders(incident: Incident) -> None:
    """Drop the cached role holders after a role change."""
    if hasattr(incident, "_current_holder_ids"):
        del incident._current_holder_ids


def can(user: AnyUser, action: Action, incident: Incident | None = None) -> bool:
    """Return whether the user may perform the action (on the incident, where one applies)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if is_staff(user):
        return True
    if action == Action.READ:
        return can_read_portal(user)
    if action in RESPONDER_ACTIONS:
        return is_responder(user)
    if action in COMMANDER_ACTIONS:
        if incident is None:
            return False
        if action == Action.CLOSE and is_manager(user):
            return True
        holders = current_holder_ids(incident)
        commander_id = holders.get(IncidentRole.COMMANDER)
        if commander_id is None:
            return is_responder(user)
        return commander_id == user.pk
    if action == Action.PUBLISH_PUBLIC_UPDATE:
        # What the public reads is the IC's and the Communicator's call, never any responder's.
        if incident is None:
            return False
        holders = current_holder_ids(incident)
        return user.pk in (
            holders.get(IncidentRole.COMMANDER),
            holders.get(IncidentRole.COMMUNICATOR),
        )
    if action == Action.RUN_MUTATING_JOB:
        # Changing a cluster is the IC's and the Investigator's call; with no IC nobody else
        # steps in (unlike COMMANDER_ACTIONS): a mutation needs someone who holds the incident.
        if incident is None:
            return False
        holders = current_holder_ids(incident)
        return user.pk in (
            holders.get(IncidentRole.COMMANDER),
            holders.get(IncidentRole.INVESTIGATOR),
        )
    return False


# How each action reads in a sentence: "Only responders may <phrase>."
PHRASES = {
    Action.READ: "read incidents",
    Action.DECLARE: "declare incidents",
    Action.ACKNOWLEDGE: "acknowledge incidents",
    Action.START_INVESTIGATING: "start investigating",
    Action.NOTE: "add notes to the timeline",
    Action.STATUS_UPDATE: "post status updates",
    Action.TAKE_ROLE: "take or leave incident roles",
    Action.ASSIGN_ROLE: "assign or take away roles",
    Action.CHANGE_SEVERITY: "change the severity",
    Action.EDIT_DETAILS: "edit the incident's details",
    Action.MITIGATE: "mark it mitigated",
    Action.RESOLVE: "resolve it",
    Action.REOPEN: "reopen it",
    Action.CLOSE: "close it",
    Action.PUBLISH_PUBLIC_UPDATE: "publish to the status page",
    Action.RUN_DIAGNOSTICS: "run diagnostics",
    Action.RUN_MUTATING_JOB: "run jobs that change the cluster",
}


def require(user: AnyUser, action: Action, incident: Incident | None = None) -> None:
    """Raise PermissionDeniedError unless the user may perform the action."""
    if can(user, action, incident):
        return
    if not user.is_authenticated:
        raise PermissionDeniedError("Sign in first.")
    phrase = PHRASES[action]
    if action in COMMANDER_ACTIONS and incident is not None:
        if action == Action.CLOSE:
            who = "Incident Commander, a manager or staff"
        else:
            who = "Incident Commander (or staff)"
        raise PermissionDeniedError(f"Only {incident.reference}'s {who} may {phrase}.")
    if action == Action.PUBLISH_PUBLIC_UPDATE:
        whose = f"{incident.reference}'s " if incident is not None else "the "
        raise PermissionDeniedError(
            f"Only {whose}Incident Commander or Communicator (or staff) may {phrase}."
        )
    if action == Action.RUN_MUTATING_JOB:
        whose = f"{incident.reference}'s " if incident is not None else "the "
        raise PermissionDeniedError(
            f"Only {whose}Incident Commander or Investigator (or staff) may {phrase}."
        )
    if action == Action.READ:
        raise PermissionDeniedError("Your account is not in a group that may read incidents.")
    raise PermissionDeniedError(f"Only responders may {phrase}.")
