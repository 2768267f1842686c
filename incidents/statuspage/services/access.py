"""Who may edit the status page outside an incident: components and maintenance."""

from portal.auth import AnyUser, is_staff
from portal.errors import PermissionDeniedError

CHANGE_COMPONENTS = "statuspage.change_component"
CHANGE_PUBLIC_INCIDENTS = "statuspage.change_publicincident"


def may_edit_status_page(user: AnyUser, perm: str = CHANGE_PUBLIC_INCIDENTS) -> bool:
    """Return whether the user may make this change to the page (staff, or the admin permission)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return is_staff(user) or user.has_perm(perm)


def require_status_page_editor(
    user: AnyUser | None, *, what: str, perm: str = CHANGE_PUBLIC_INCIDENTS
) -> None:
    """Raise PermissionDeniedError unless the user (None: the system itself) may edit the page."""
    if user is None or may_edit_status_page(user, perm):
        return
    raise PermissionDeniedError(f"Only staff may {what}.")
