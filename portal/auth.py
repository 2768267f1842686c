"""Groups and the portal-wide half of docs/ARCHITECTURE.md's Permission matrix (who is who)."""

from django.contrib.auth.models import AnonymousUser, User

VIEWERS = "viewers"
RESPONDERS = "responders"
MANAGERS = "managers"
GROUPS = (VIEWERS, RESPONDERS, MANAGERS)

AnyUser = User | AnonymousUser


def group_names(user: AnyUser) -> frozenset[str]:
    """Return the user's group names, read once per user object."""
    if not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_firebreak_groups", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._firebreak_groups = cached  # type: ignore[union-attr,attr-defined]
    return cached


def is_staff(user: AnyUser) -> bool:
    """Return whether the user is portal staff (full rights everywhere)."""
    return bool(user.is_authenticated and user.is_active and (user.is_staff or user.is_superuser))


def is_responder(user: AnyUser) -> bool:
    """Return whether the user may declare, acknowledge and work incidents."""
    return is_staff(user) or RESPONDERS in group_names(user)


def is_manager(user: AnyUser) -> bool:
    """Return whether the user is an engineering manager (back-office, postmortems)."""
    return MANAGERS in group_names(user)


def can_read_portal(user: AnyUser) -> bool:
    """Return whether the user may read incidents, timelines, postmortems and metrics."""
    return is_staff(user) or bool(group_names(user) & set(GROUPS))
