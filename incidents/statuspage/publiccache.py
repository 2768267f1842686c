"""Serve the public pages, JSON and feeds from the shared cache, keyed by the status version.

A response is rendered once per (status version, path, query) and then served from the cache by
every web process; the same key gives its ETag, and the version's time its Last-Modified, so a
conditional request is answered 304 from the cached version number alone, before any query.
Every public change bumps the version: entries of older versions are simply never asked for
again and expire.
"""

import hashlib
from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import wraps
from typing import Any, overload
from urllib.parse import urlencode

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils import timezone
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import http_date, quote_etag

from .version import Version, status_version_current

# Browsers and proxies may reuse a response this long without asking: short, so that a publish
# reaches readers within seconds.
MAX_AGE_SECONDS = 15
# How long an entry stays in the shared cache; a newer version stops using it anyway.
ENTRY_TTL_SECONDS = 10 * 60
KEY_PREFIX = "statuspage:public"
# Each process also keeps the latest rendered responses itself (entries are immutable: a new
# version has new keys), so a busy page is served without a round trip to the shared cache.
LOCAL_ENTRIES = 64
_local_entries: dict[str, tuple[str, bytes]] = {}

View = Callable[..., HttpResponseBase]


def _now_timestamp() -> float:
    return timezone.now().timestamp()


def public_fingerprint(
    request: HttpRequest,
    version: Version,
    *,
    query: Sequence[str] = (),
    refresh_every: timedelta | None = None,
) -> str:
    """Return what identifies a public response: version, time slot, path and the used query."""
    params = sorted((name, value) for name in query for value in request.GET.getlist(name))
    slot = int(_now_timestamp() // refresh_every.total_seconds()) if refresh_every else 0
    # The version's time too: should the counter ever start again (a restored database), its
    # numbers will not meet the entries of the old ones.
    raw = (
        f"{version.number}:{version.changed_at.timestamp():.6f}:{slot}:"
        f"{request.path}?{urlencode(params)}"
    )
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _remember(fingerprint: str, entry: tuple[str, bytes]) -> None:
    if fingerprint not in _local_entries and len(_local_entries) >= LOCAL_ENTRIES:
        _local_entries.clear()  # old versions' entries; the shared cache still has the rest
    _local_entries[fingerprint] = entry


def public_cache_forget_local() -> None:
    """Drop this process's copies (tests, whose databases come and go, start each clean)."""
    _local_entries.clear()


@overload
def public_cached(view: View, /) -> View: ...
@overload
def public_cached(
    *, query: Sequence[str] = (), refresh_every: timedelta | None = None
) -> Callable[[View], View]: ...
def public_cached(
    view: View | None = None,
    /,
    *,
    query: Sequence[str] = (),
    refresh_every: timedelta | None = None,
) -> View | Callable[[View], View]:
    """Cache a public GET view under the status version and answer conditional requests.

    `query` names the query parameters the view reads (others neither vary the response nor
    fill the cache). `refresh_every` is for pages that also change with time alone (the day's
    uptime bar, a new month in the history): they are rendered again in each such slot.
    Only successful responses are cached; they must not depend on who asks.
    """

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method not in ("GET", "HEAD"):
                return view(request, *args, **kwargs)
            version = status_version_current()
            fingerprint = public_fingerprint(
                request, version, query=query, refresh_every=refresh_every
            )
            etag = quote_etag(fingerprint)
            last_modified = int(version.changed_at.timestamp())
            if refresh_every:
                # A page that changes with time alone is new from the start of each slot, also
                # for a client that asks with If-Modified-Since only.
                period = refresh_every.total_seconds()
                last_modified = max(last_modified, int(_now_timestamp() // period * period))
            response: HttpResponseBase | None = get_conditional_response(
                request, etag=etag, last_modified=last_modified
            )
            if response is None:
                key = f"{KEY_PREFIX}:{fingerprint}"
                entry = _local_entries.get(fingerprint) or cache.get(key)
                if entry is not None:
                    _remember(fingerprint, entry)
                    content_type, content = entry
                    response = HttpResponse(content, content_type=content_type)
                else:
                    response = view(request, *args, **kwargs)
                    if response.status_code != 200 or not isinstance(response, HttpResponse):
                        return response
                    ttl = ENTRY_TTL_SECONDS
                    if refresh_every:
                        ttl = min(ttl, int(refresh_every.total_seconds()) + MAX_AGE_SECONDS)
                    entry = (response["Content-Type"], response.content)
                    cache.set(key, entry, timeout=ttl)
                    _remember(fingerprint, entry)
            if response.status_code in (200, 304):
                response["ETag"] = etag
                response["Last-Modified"] = http_date(last_modified)
                patch_cache_control(response, public=True, max_age=MAX_AGE_SECONDS)
            return response

        return wrapper

    if view is not None:
        return decorate(view)
    return decorate
