"""Serve the last static snapshot under /status/ when the database or the cache fails.

A status page matters most when the infrastructure is failing. This middleware goes first in
MIDDLEWARE: when a public GET under /status/ raises a database or cache error, or ends in a 5xx
for any other reason (Django turns an exception in an inner layer into a 500 before it gets
here), it answers with the saved copy of that URL from the snapshot directory instead, marked as
a saved copy with the time it was made. Without a saved copy the error stands. It reads files
only, never the database or the cache.
"""

import logging
import posixpath
import re
from collections.abc import Callable

import redis
from django.db import DatabaseError, InterfaceError
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.urls import get_script_prefix, reverse
from django.utils.html import escape

from .snapshot import SavedCopy, history_page_of, snapshot_directory, snapshot_read

logger = logging.getLogger(__name__)

SNAPSHOT_HEADER = "X-Firebreak-Snapshot"
# What "unreachable" looks like: the database (DatabaseError covers OperationalError), the Redis
# cache, or a socket to either.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    DatabaseError,
    InterfaceError,
    redis.RedisError,
    ConnectionError,
    TimeoutError,
)
_MAIN = re.compile(rb"<main\b[^>]*>", re.IGNORECASE)
_BODY = re.compile(rb"<body\b[^>]*>", re.IGNORECASE)
_HEAD = re.compile(rb"<head\b[^>]*>", re.IGNORECASE)


class StatusSnapshotFallbackMiddleware:
    """Answer public GETs under /status/ from the snapshot when the live page fails."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self._base_path_info: str | None = None

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        path = self._public_path(request)
        if path is None:
            return self.get_response(request)
        response = self.get_response(request)
        if response.status_code >= 500:
            saved = self._saved_response(request, path)
            if saved is not None:
                logger.warning(
                    "Serving the saved copy of %s: the page answered %s.",
                    request.path,
                    response.status_code,
                )
                return saved
        elif response.status_code == 404:
            # The copy's own history URLs (history/page/<n>/), reached from a saved copy.
            number = history_page_of(path)
            if number is not None:
                query = f"?page={number}" if number > 1 else ""
                return HttpResponseRedirect(f"{request.path[: -len(path)]}history/{query}")
        return response

    def process_exception(
        self, request: HttpRequest, exception: Exception
    ) -> HttpResponseBase | None:
        path = self._public_path(request)
        if path is None or not isinstance(exception, UNAVAILABLE):
            return None
        saved = self._saved_response(request, path)
        if saved is not None:
            logger.warning("Serving the saved copy of %s: %r", request.path, exception)
        return saved

    def _public_path(self, request: HttpRequest) -> str | None:
        """Return the path below /status/ of a public GET or HEAD, else None."""
        if request.method not in ("GET", "HEAD"):
            return None
        if self._base_path_info is None:
            self._base_path_info = "/" + reverse("status:page").removeprefix(get_script_prefix())
        if not request.path_info.startswith(self._base_path_info):
            return None
        return request.path_info.removeprefix(self._base_path_info)

    def _saved_response(self, request: HttpRequest, path: str) -> HttpResponse | None:
        directory = snapshot_directory()
        if directory is None:
            return None
        saved = snapshot_read(directory=directory, path=path, history_page=request.GET.get("page"))
        if saved is None:
            return None
        content = saved.content
        if saved.content_type.startswith("text/html"):
            folder = posixpath.dirname(saved.file)
            file_url = request.path[: len(request.path) - len(path)] + (
                f"{folder}/" if folder else ""
            )
            content = mark_saved_copy(
                saved, base_href=None if file_url == request.path else file_url
            )
        response = HttpResponse(
            b"" if request.method == "HEAD" else content, content_type=saved.content_type
        )
        response["Content-Length"] = str(len(content))
        response["Cache-Control"] = "no-cache"
        response[SNAPSHOT_HEADER] = saved.generated_at or "unknown"
        if saved.content_type.startswith("application/json"):
            response["Access-Control-Allow-Origin"] = "*"
        return response


def mark_saved_copy(saved: SavedCopy, *, base_href: str | None = None) -> bytes:
    """Return a saved HTML page that says it is a saved copy, and when it was made.

    The copy's links are relative to its file's place in the snapshot. Where the page is served
    at another URL (a history page is a file of its own in the copy, a query on the portal),
    `base_href` is that file's URL, so that its links resolve as in the copy.
    """
    when = escape(saved.generated_at_text or saved.generated_at or "an earlier time")
    notice = (
        '<p class="saved-copy" role="status" style="border:1px solid #8a5a00;background:#fff8e6;'
        'color:#1a1a1a;border-radius:.5rem;padding:.75rem 1rem;margin:0 0 1.5rem">'
        f"<strong>Saved copy.</strong> The live status page cannot be reached right now; this is "
        f'how it looked at <time datetime="{escape(saved.generated_at)}">{when}</time>.</p>'
    ).encode()
    content = saved.content
    anchor = _MAIN.search(content) or _BODY.search(content)
    if anchor is not None:
        content = content[: anchor.end()] + notice + content[anchor.end() :]
    else:
        content = notice + content
    head = _HEAD.search(content)
    if base_href is not None and head is not None:
        base = f'<base href="{escape(base_href)}">'.encode()
        content = content[: head.end()] + base + content[head.end() :]
    return content
