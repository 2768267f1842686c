"""Full addresses of the portal's pages, for whatever is read outside a browser on the portal.

Mails, chat messages, pages, calendar invites, feeds and API answers link back to the portal
with FIREBREAK_BASE_URL in front of the path; a request's own host is not at hand there.
"""

from django.conf import settings


def absolute_url(path: str) -> str:
    """Return the portal's full address of a path: "/incidents/7/" or what `reverse()` gives.

    The path is appended to FIREBREAK_BASE_URL without its trailing slash, so a base URL with a
    path of its own ("https://example.com/firebreak") keeps it; "" gives the base URL itself.
    """
    if path and not path.startswith("/"):
        raise ValueError(f"A portal path starts with '/': {path!r}")
    return settings.FIREBREAK_BASE_URL.rstrip("/") + path
