"""Who may do what to a postmortem and its action items (docs/ARCHITECTURE.md, Permission matrix).

Read: anyone who may read the portal (viewers, responders, managers, staff). Edit a postmortem:
its authors, the incident's Incident Commander, managers and staff. Edit an action item: its
owner, plus everyone who may edit the postmortem it belongs to. Deciding a review is the named
reviewer's own call.
"""

from incidents.models import Incident, IncidentRole
from incidents.policies import current_holder_ids
from portal.auth import AnyUser, can_read_portal, is_manager, is_responder, is_staff
from portal.errors import PermissionDeniedError

from .models import ActionItem, Postmortem, Review


def _active(user: AnyUser) -> bool:
    return bool(user.is_authenticated and user.is_active)


def is_incident_commander(user: AnyUser, incident: Incident) -> bool:
    """Return whether the user is the incident's current Incident Commander."""
    if not _active(user):
        return False
    return current_holder_ids(incident).get(IncidentRole.COMMANDER) == user.pk


def is_author(user: AnyUser, postmortem: Postmortem) -> bool:
    """Return whether the user is one of the postmortem's authors (read once per object)."""
    if not _active(user) or postmortem.pk is None:
        return False
    cached = getattr(postmortem, "_author_ids", None)
    if cached is None:
        cached = frozenset(postmortem.authors.values_list("pk", flat=True))
        postmortem._author_ids = cached  # type: ignore[attr-defined]
    return user.pk in cached


def forget_authors(postmortem: Postmortem) -> None:
    """Drop the cached author ids after the authors changed."""
    if hasattr(postmortem, "_author_ids"):
        del postmortem._author_ids


def can_read_postmortems(user: AnyUser) -> bool:
    """Return whether the user may read postmortems and action items."""
    return _active(user) and can_read_portal(user)


def can_create_postmortem(user: AnyUser, incident: Incident) -> bool:
    """Return whether the user may start a postmortem by hand (responders, managers, staff)."""
    return _active(user) and (is_responder(user) or is_manager(user) or is_staff(user))


def can_edit_postmortem(user: AnyUser, postmortem: Postmortem) -> bool:
    """Return whether the user may edit the postmortem (whatever its status)."""
    if not _active(user):
        return False
    if is_staff(user) or is_manager(user):
        return True
    return is_author(user, postmortem) or is_incident_commander(user, postmortem.incident)


def can_decide_review(user: AnyUser, review: Review) -> bool:
    """Return whether the user is the reviewer asked for this review."""
    return _active(user) and review.reviewer_id == user.pk


def can_be_reviewer(user: AnyUser) -> bool:
    """Return whether the user may be asked to review (reads the portal, has an account)."""
    return can_read_postmortems(user)


def can_edit_action_item(user: AnyUser, action_item: ActionItem) -> bool:
    """Return whether the user may edit the action item: owner, postmortem editors, IC."""
    if not _active(user):
        return False
    if is_staff(user) or is_manager(user):
        return True
    if action_item.owner_id == user.pk:
        return True
    postmortem = action_item.postmortem
    if postmortem is not None and is_author(user, postmortem):
        return True
    return is_incident_commander(user, action_item.incident)


def can_add_action_item(user: AnyUser, postmortem: Postmortem) -> bool:
    """Return whether the user may add action items to the postmortem."""
    return can_edit_postmortem(user, postmortem)


def require_create(user: AnyUser, incident: Incident) -> None:
    """Raise PermissionDeniedError unless the user may start a postmortem of the incident."""
    if can_create_postmortem(user, incident):
        return
    if not user.is_authenticated:
        raise PermissionDeniedError("Sign in first.")
    raise PermissionDeniedError("Only responders, managers and staff may start a postmortem.")


def require_edit(user: AnyUser, postmortem: Postmortem) -> None:
    """Raise PermissionDeniedError unless the user may edit the postmortem."""
    if can_edit_postmortem(user, postmortem):
        return
    if not user.is_authenticated:
        raise PermissionDeniedError("Sign in first.")
    raise PermissionDeniedError(
        f"Only the authors of the postmortem of {postmortem.incident.reference}, its Incident "
        "Commander, managers and staff may edit it."
    )


def require_edit_action_item(user: AnyUser, action_item: ActionItem) -> None:
    """Raise PermissionDeniedError unless the user may edit the action item."""
    if can_edit_action_item(user, action_item):
        return
    if not user.is_authenticated:
        raise PermissionDeniedError("Sign in first.")
    raise PermissionDeniedError(
        "Only the action item's owner, the postmortem's authors, the Incident Commander, "
        "managers and staff may change it."
    )
