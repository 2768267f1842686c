"""How the portal names a person in pages, mails, chat messages, calendars and exports."""

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser


def display_name(
    user: AbstractBaseUser | AnonymousUser | None,
    *,
    fallback: str = "",
    with_username: bool = False,
) -> str:
    """Return the person's full name, else their username.

    `with_username` adds the username after a full name, "Alice Smith (alice)", where two people
    may share a name (choice lists, exports). No person (None, or a visitor who is not signed in)
    gives `fallback`.
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return fallback
    get_full_name = getattr(user, "get_full_name", None)
    full = get_full_name() if get_full_name is not None else ""
    username = user.get_username()
    if not full:
        return username
    return f"{full} ({username})" if with_username else full
