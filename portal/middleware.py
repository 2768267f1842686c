import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

# Served the same to everyone (and cached as such): never look at who is signed in there, so
# no session is read (no query, no `Vary: Cookie`) and the status page needs no database.
ANONYMOUS_PREFIXES = ("/status/", "/hooks/")


class UserTimezoneMiddleware:
    """Render times in the signed-in user's own time zone."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        tz_name = None
        if request.path.startswith(ANONYMOUS_PREFIXES):
            timezone.deactivate()
            return self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            profile = getattr(user, "profile", None)
            tz_name = profile.time_zone if profile else None
        if tz_name:
            try:
                timezone.activate(zoneinfo.ZoneInfo(tz_name))
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                timezone.deactivate()
        else:
            timezone.deactivate()
        return self.get_response(request)
