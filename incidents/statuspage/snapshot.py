"""A static copy of the public status page, for any static host and for when the portal fails.

Every public GET URL under /status/ is rendered by its real view and written to a directory laid
out for a static host:

    index.html                          /status/
    history/index.html                  /status/history/
    history/page/2/index.html           /status/history/?page=2
    incidents/<public id>/index.html    /status/incidents/<public id>/
    api/v2/summary.json, …              /status/api/v2/summary.json, …
    history.rss, history.atom           /status/history.rss, /status/history.atom
    snapshot.json                       when it was made, from which status version
    snapshot-pages.json                 what each incident page showed (to keep unchanged ones)

Links between the copied pages are made relative, so the directory works at any path of any
host that answers a directory URL with its index.html; links to what is not copied (subscribing,
a logo on the portal) point at the live portal. After a change, the pages of finished incidents
that did not change are kept from the previous copy (a history of thousands of incidents is not
rendered again at every publish); every page is rendered again at least once a day.

A snapshot is rendered into a new directory next to the old one and swapped in with one rename,
under a lock: a reader sees the old copy or the new one, never half of one, and two writers never
mix their files.
"""

import contextlib
import ctypes
import errno
import fcntl
import glob
import hashlib
import inspect
import json
import logging
import os
import posixpath
import re
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.db.models import Q
from django.http import Http404, HttpResponse, HttpResponseBase
from django.template.response import SimpleTemplateResponse
from django.test import RequestFactory
from django.urls import URLPattern, get_script_prefix, resolve, reverse
from django.utils import timezone

from . import urls_pages
from .models import (
    FINISHED_STATUSES,
    AffectedComponent,
    Component,
    PublicIncident,
    PublicUpdate,
)
from .selectors import page_settings_get, page_time_zone
from .serializers import public_link
from .version import status_version_current

logger = logging.getLogger(__name__)

MANIFEST = "snapshot.json"
MANIFEST_FORMAT = 1
# What each incident page showed when it was rendered: unchanged ones are kept at the next change.
DIGESTS = "snapshot-pages.json"
# Kept incident pages are rendered again at least this often (a new release's templates): by the
# periodic refresh, else by the refresh after a change when kept ones are older than the limit.
FULL_RENDER_EVERY = timedelta(days=1)
KEEP_PAGES_AT_MOST = timedelta(days=7)
# Incident pages are copied for every incident a copied page links to, and for these days back.
INCIDENT_DAYS = 90
# A copy of the current version younger than this is not made again (a duplicate task, a burst
# of changes); an older one is, since the uptime bars and the history change with time alone.
FRESH_FOR = timedelta(minutes=10)
# How long a writer waits for another one to finish before giving up (a task then retries).
LOCK_WAIT_SECONDS = 10 * 60.0
HISTORY_PAGES_MAX = 1000  # a guard against a view that never runs out of pages

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
}

_HISTORY_PAGE_FILE = re.compile(r"history/page/([1-9][0-9]{0,5})/")
# Snapshot paths: plain names, no empty, dot-leading ("..", hidden) or escaped segments.
_SAFE_PATH = re.compile(r"(?:[A-Za-z0-9_-][A-Za-z0-9._-]*/)*(?:[A-Za-z0-9_-][A-Za-z0-9._-]*)?")
_LINK = re.compile(r'\b(?P<attr>href|src|action)="(?P<value>[^"]*)"')
_INCIDENT_LINK = re.compile(r"/incidents/([A-Za-z0-9_-]{1,64})/")


class SnapshotError(Exception):
    """The snapshot could not be written (a page failed, the directory is not ours)."""


class SnapshotBusy(TimeoutError):
    """Another snapshot was being written for too long; try again later."""


# --- Where it goes and how URLs map to files ---------------------------------------------------


def snapshot_directory() -> Path | None:
    """Return the directory the snapshot on every change goes to (None: snapshots are off)."""
    configured = getattr(
        settings, "FIREBREAK_STATUS_SNAPSHOT_DIR", Path(settings.VAR_DIR) / "status-snapshot"
    )
    return Path(configured) if configured else None


def snapshot_file_name(path: str, *, history_page: str | None = None) -> str | None:
    """Return the snapshot file of a public path below /status/ ("" for the page), or None.

    `history_page` is the `page` query parameter of the history. The copy's own history URLs
    (history/page/<n>/) map to the same files.
    """
    if path == "history/" and history_page and history_page.isdigit() and int(history_page) > 1:
        return f"history/page/{int(history_page)}/index.html"
    match = _HISTORY_PAGE_FILE.fullmatch(path)
    if match:
        number = int(match.group(1))
        return "history/index.html" if number == 1 else f"history/page/{number}/index.html"
    if not _SAFE_PATH.fullmatch(path):
        return None
    return f"{path}index.html" if path == "" or path.endswith("/") else path


def history_page_of(path: str) -> int | None:
    """Return the history page number of a copy-only URL (history/page/<n>/), else None."""
    match = _HISTORY_PAGE_FILE.fullmatch(path)
    return int(match.group(1)) if match else None


# --- Reading (the fallback) ----------------------------------------------------------------------


@dataclass(frozen=True)
class SavedCopy:
    file: str
    content: bytes
    content_type: str
    generated_at: str  # ISO 8601, UTC
    generated_at_text: str  # for people, in the page's time zone


def snapshot_read(
    *, directory: Path, path: str, history_page: str | None = None
) -> SavedCopy | None:
    """Return the saved copy of a public path below /status/, or None if there is none."""
    name = snapshot_file_name(path, history_page=history_page)
    if name is None:
        return None
    try:
        content = (directory / name).read_bytes()
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return None
    types = {**CONTENT_TYPES, **manifest.get("content_types", {})}
    return SavedCopy(
        file=name,
        content=content,
        content_type=types.get(posixpath.splitext(name)[1], "application/octet-stream"),
        generated_at=str(manifest.get("generated_at", "")),
        generated_at_text=str(manifest.get("generated_at_text", "")),
    )


def _manifest(directory: Path) -> dict[str, object] | None:
    try:
        data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# --- Rendering -----------------------------------------------------------------------------------


@dataclass
class _Rendered:
    url: str  # below /status/, with its query: "history/?page=2"
    file: str
    content_type: str
    content: bytes


class _Renderer:
    """Call the public views as a visitor's GET would reach them, without the middleware."""

    def __init__(self) -> None:
        self.script_prefix = get_script_prefix()
        self.base = reverse("status:page")  # "/status/", with the script prefix
        live = urlsplit(public_link(page=page_settings_get()))
        self.host = live.netloc or "localhost"
        self.secure = live.scheme == "https"
        portal = urlsplit(settings.FIREBREAK_BASE_URL)
        self.portal_origin = f"{portal.scheme}://{portal.netloc}" if portal.netloc else ""
        self.factory = RequestFactory()

    def get(self, url: str, *, through_cache: bool = True) -> _Rendered | None:
        """Render one public URL (None if it is not found); raise SnapshotError on a failure."""
        path, _, query = url.partition("?")
        path_info = "/" + (self.base + path).removeprefix(self.script_prefix)
        request = self.factory.get(
            path_info,
            parse_qs(query),
            secure=self.secure,
            HTTP_HOST=self.host,
            SCRIPT_NAME=self.script_prefix.rstrip("/"),
        )
        # The public address may be a host of its own that ALLOWED_HOSTS does not list: the feeds
        # only need it to write their own absolute address.
        request.get_host = lambda: self.host  # type: ignore[method-assign]
        match = resolve(path_info)
        view: Callable[..., HttpResponseBase] = match.func
        if not through_cache:
            view = inspect.unwrap(view)
        try:
            response = view(request, *match.args, **match.kwargs)
        except Http404:
            return None
        if isinstance(response, SimpleTemplateResponse):
            response.render()
        if response.status_code == 404:
            return None
        if response.status_code != 200 or not isinstance(response, HttpResponse):
            raise SnapshotError(f"GET {self.base}{url} answered {response.status_code}.")
        return _Rendered(url, "", response["Content-Type"], response.content)


def _fixed_urls() -> list[str]:
    """Return the public URLs without parameters (the page, its history, JSON and feeds)."""
    base = reverse("status:page")
    urls = []
    for pattern in urls_pages.urlpatterns:
        if isinstance(pattern, URLPattern) and pattern.name and not pattern.pattern.converters:
            urls.append(reverse(f"status:{pattern.name}").removeprefix(base))
    return urls


def incident_ids_recent(*, days: int = INCIDENT_DAYS) -> list[str]:
    """Return the public ids of incidents and maintenance open or active in the last days."""
    since = timezone.now() - timedelta(days=days)
    return list(
        PublicIncident.objects.filter(
            ~Q(status__in=FINISHED_STATUSES)
            | Q(started_at__gte=since)
            | Q(resolved_at__gte=since)
            | Q(scheduled_until__gte=since)
        ).values_list("public_id", flat=True)
    )


def _page_parameter(query: str) -> str | None:
    """Return the `page` parameter of a query string (the history's page number), if any."""
    values = parse_qs(query).get("page")
    return values[0] if values else None


def _relative(from_file: str, to_file: str) -> str:
    """Return the relative link from one copied file's URL to another's."""
    start = posixpath.dirname(from_file) or "."
    if to_file == "index.html" or to_file.endswith("/index.html"):
        target = posixpath.dirname(to_file) or "."
        link = posixpath.relpath(target, start)
        return "./" if link == "." else f"{link}/"
    return posixpath.relpath(to_file, start)


class _LinkRewriter:
    """Make a copied page's links work on a static host at any path."""

    def __init__(self, renderer: _Renderer, files: set[str]) -> None:
        self.base = renderer.base
        self.portal_origin = renderer.portal_origin
        self.files = files

    def __call__(self, html: str, *, url: str, file: str) -> str:
        def replace(match: re.Match[str]) -> str:
            return f'{match["attr"]}="{self.link(match["value"], url=url, file=file)}"'

        return _LINK.sub(replace, html)

    def link(self, value: str, *, url: str, file: str) -> str:
        if value.startswith("?"):  # the history's pager
            value = self.base + url.partition("?")[0] + value
        if value.startswith(self.base):
            rest, hash_mark, fragment = value.removeprefix(self.base).partition("#")
            path, _, query = rest.partition("?")
            target = snapshot_file_name(path, history_page=_page_parameter(query))
            if target is not None and target in self.files:
                return _relative(file, target) + hash_mark + fragment
            # Not copied (subscribing): the live page.
            return public_link(rest) + hash_mark + fragment
        if value.startswith("/") and not value.startswith("//") and self.portal_origin:
            return self.portal_origin + value
        return value


def _keep_none(public_id: str) -> bool:
    return False


def _render_all(
    renderer: _Renderer,
    write: Callable[[_Rendered], None],
    keep: Callable[[str], bool] = _keep_none,
) -> tuple[list[str], int]:
    """Render every public URL, handing each page to `write`; return the files and how many kept.

    `keep(public_id)` puts the previous copy of an incident's page in place instead, and says
    whether it could.
    """
    pages: list[_Rendered] = []
    for url in _fixed_urls():
        rendered = renderer.get(url)
        if rendered is None:
            raise SnapshotError(f"GET {renderer.base}{url} was not found.")
        pages.append(rendered)
    if any(page.url == "history/" for page in pages):
        for number in range(2, HISTORY_PAGES_MAX + 1):
            rendered = renderer.get(f"history/?page={number}")
            if rendered is None:
                break
            pages.append(rendered)

    ids = set(incident_ids_recent())
    for page in pages:
        ids.update(_INCIDENT_LINK.findall(page.content.decode("utf-8", "replace")))
    for page in pages:
        path, _, query = page.url.partition("?")
        file = snapshot_file_name(path, history_page=_page_parameter(query))
        if file is None:
            raise SnapshotError(f"No file name for {renderer.base}{page.url}.")
        page.file = file
    files = {page.file for page in pages}
    files.update(f"incidents/{public_id}/index.html" for public_id in ids)
    rewrite = _LinkRewriter(renderer, files)

    written = []
    kept = 0
    for page in pages:
        if page.file.endswith(".html"):
            html = page.content.decode("utf-8")
            page.content = rewrite(html, url=page.url, file=page.file).encode("utf-8")
        write(page)
        written.append(page.file)
    for public_id in sorted(ids):
        if keep(public_id):
            written.append(f"incidents/{public_id}/index.html")
            kept += 1
            continue
        # One page per incident of the whole history: not through the shared cache, which
        # they would flood at every change.
        rendered = renderer.get(f"incidents/{public_id}/", through_cache=False)
        if rendered is None:
            continue  # a link in an update's text, not an incident
        rendered.file = f"incidents/{public_id}/index.html"
        html = rendered.content.decode("utf-8")
        rendered.content = rewrite(html, url=rendered.url, file=rendered.file).encode("utf-8")
        write(rendered)
        written.append(rendered.file)
    return written, kept


# --- Writing -------------------------------------------------------------------------------------


@contextlib.contextmanager
def snapshot_lock(directory: Path, *, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold the writers' lock of a snapshot directory (a lock file next to it)."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    lock_path = directory.parent / f".{directory.name}.lock"
    with lock_path.open("a+b") as handle:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise SnapshotBusy(
                        f"Another snapshot of {directory} is still being written."
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _check_replaceable(directory: Path) -> None:
    if not directory.exists():
        return
    if not directory.is_dir():
        raise SnapshotError(f"{directory} exists and is not a directory.")
    if (directory / MANIFEST).exists() or not any(directory.iterdir()):
        return
    raise SnapshotError(
        f"{directory} holds other files and no status page snapshot: choose an empty or a new "
        "directory (the snapshot replaces the whole directory)."
    )


AT_FDCWD = -100
RENAME_EXCHANGE = 2


def _exchange(first: Path, second: Path) -> bool:
    """Swap two directories in one step (Linux renameat2); False where the system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    renameat2.restype = ctypes.c_int
    if renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE):
        code = ctypes.get_errno()
        if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):
            return False
        raise OSError(code, os.strerror(code), str(second))
    return True


def _install(new: Path, directory: Path) -> None:
    """Put the new copy in place of the old one, in one step where the system allows."""
    if not directory.exists():
        os.rename(new, directory)
        return
    if _exchange(new, directory):
        shutil.rmtree(new, ignore_errors=True)  # now holds the old copy
        return
    # Two renames: for a moment there is no copy at all, but never a half-written one.
    old = Path(tempfile.mkdtemp(prefix=f".{directory.name}.old-", dir=directory.parent))
    os.rename(directory, old / "copy")
    os.rename(new, directory)
    shutil.rmtree(old, ignore_errors=True)


def _remove_leftovers(directory: Path) -> None:
    """Remove the working directories of writers that died (only ever called under the lock)."""
    for prefix in (f".{directory.name}.new-", f".{directory.name}.old-"):
        for leftover in directory.parent.glob(f"{glob.escape(prefix)}*"):
            shutil.rmtree(leftover, ignore_errors=True)


def incident_page_digests() -> dict[str, str]:
    """Return a digest of what each incident's page shows, by public id (a few queries)."""
    content: dict[int, list[object]] = defaultdict(list)
    public_ids = {}
    for pk, public_id, *fields in PublicIncident.objects.order_by().values_list(
        "pk",
        "public_id",
        "kind",
        "name",
        "status",
        "impact",
        "started_at",
        "monitoring_at",
        "resolved_at",
        "scheduled_for",
        "scheduled_until",
    ):
        public_ids[pk] = public_id
        content[pk].append(fields)
    links = PublicIncident.components.through.objects.order_by("publicincident_id", "component_id")
    for incident_id, component_id in links.values_list("publicincident_id", "component_id"):
        content[incident_id].append(("component", component_id))
    updates = PublicUpdate.objects.order_by("public_incident_id", "pk").values_list(
        "public_incident_id", "pk", "public_id", "status", "body", "display_at", "updated_at"
    )
    for incident_id, *fields in updates:
        content[incident_id].append(fields)
    changes = AffectedComponent.objects.order_by("update_id", "pk").values_list(
        "update__public_incident_id", "update_id", "component_id", "old_status", "new_status"
    )
    for incident_id, *fields in changes:
        content[incident_id].append(fields)
    return {
        public_id: hashlib.blake2b(repr(content[pk]).encode(), digest_size=12).hexdigest()
        for pk, public_id in public_ids.items()
    }


def _fingerprint(renderer: _Renderer) -> str:
    """Return what every page shows beside its own records: the page's settings, names, links."""
    page = page_settings_get()
    components = list(Component.objects.order_by("pk").values_list("pk", "public_id", "name"))
    raw = repr(
        (
            MANIFEST_FORMAT,
            page.pk,
            page.updated_at,
            components,
            renderer.base,
            renderer.host,
            renderer.portal_origin,
        )
    )
    return hashlib.blake2b(raw.encode(), digest_size=12).hexdigest()


def _previous_pages(
    directory: Path,
    new: Path,
    *,
    fingerprint: str,
    digests: dict[str, str],
    now: datetime,
    keep_within: timedelta,
) -> tuple[Callable[[str], bool], datetime | None]:
    """Return how to keep unchanged incident pages of the previous copy, and its full render time.

    A page is kept when the previous copy was made from the same page settings and component
    names, less than `keep_within` after its last full rendering (so a new release's templates
    reach every page in time), and its incident is over and shows exactly what it showed then.
    A kept page's "last updated" is the time of the copy it was rendered for.
    """

    never = _keep_none
    manifest = _manifest(directory)
    try:
        old_digests = json.loads((directory / DIGESTS).read_text(encoding="utf-8"))
        full_at = datetime.fromisoformat(str(manifest["full_render_at"])) if manifest else None
    except (OSError, ValueError, KeyError):
        return never, None
    if (
        manifest is None
        or full_at is None
        or manifest.get("fingerprint") != fingerprint
        or now - full_at >= keep_within
        or not isinstance(old_digests, dict)
    ):
        return never, None

    # Open incidents and maintenance are what people read during an outage: always fresh, with
    # the page's latest "last updated" time.
    open_ids = set(
        PublicIncident.objects.exclude(status__in=FINISHED_STATUSES).values_list(
            "public_id", flat=True
        )
    )

    def keep(public_id: str) -> bool:
        if public_id in open_ids or old_digests.get(public_id) != digests.get(public_id):
            return False
        name = f"incidents/{public_id}/index.html"
        target = new / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(directory / name, target)  # the old copy is removed later, its file stays
        except FileNotFoundError:
            return False
        except OSError:
            shutil.copyfile(directory / name, target)
        return True

    return keep, full_at


def _write(directory: Path, *, keep_within: timedelta | None = None) -> list[str]:
    _check_replaceable(directory)
    _remove_leftovers(directory)
    rendered_from = timezone.now()
    version = status_version_current()  # before rendering: a later change makes it stale
    page = page_settings_get()
    renderer = _Renderer()
    fingerprint = _fingerprint(renderer)
    digests = incident_page_digests()
    new = Path(tempfile.mkdtemp(prefix=f".{directory.name}.new-", dir=directory.parent))
    try:
        new.chmod(0o755)  # mkdtemp's 0700 would hide it from the web server's user
        content_types: dict[str, str] = {}

        def write(rendered: _Rendered) -> None:
            target = new / rendered.file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(rendered.content)
            content_types.setdefault(posixpath.splitext(rendered.file)[1], rendered.content_type)

        keep: Callable[[str], bool] = _keep_none
        full_at = None
        if keep_within is not None:
            keep, full_at = _previous_pages(
                directory,
                new,
                fingerprint=fingerprint,
                digests=digests,
                now=rendered_from,
                keep_within=keep_within,
            )
        written, kept = _render_all(renderer, write, keep)
        generated_at = timezone.now()
        local = timezone.localtime(generated_at, page_time_zone(page))
        manifest = {
            "format": MANIFEST_FORMAT,
            "generated_at": generated_at.astimezone(UTC).isoformat(timespec="seconds"),
            "generated_at_text": local.strftime("%Y-%m-%d %H:%M %Z"),
            "status_version": version.number,
            "status_changed_at": version.changed_at.astimezone(UTC).isoformat(),
            "base": renderer.base,
            "content_types": content_types,
            "files": len(written),
            "incident_pages_kept": kept,
            "full_render_at": (full_at or rendered_from).astimezone(UTC).isoformat(),
            "fingerprint": fingerprint,
        }
        (new / DIGESTS).write_text(json.dumps(digests) + "\n", encoding="utf-8")
        (new / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        _install(new, directory)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise
    logger.info(
        "Wrote the status page snapshot to %s: %s files, %s incident pages kept.",
        directory,
        len(written),
        kept,
    )
    return [*written, DIGESTS, MANIFEST]


def snapshot_write(
    *, directory: Path, reuse: bool = False, lock_wait: float = LOCK_WAIT_SECONDS
) -> list[str]:
    """Render every public page, JSON and feed into `directory`; return the files written.

    With `reuse`, the pages of incidents that did not change since the copy already there are
    kept from it rather than rendered again (a history of thousands of incidents).
    """
    directory = directory.resolve()
    with snapshot_lock(directory, wait=lock_wait):
        return _write(directory, keep_within=KEEP_PAGES_AT_MOST if reuse else None)


def snapshot_refresh(
    *,
    directory: Path,
    full_every: timedelta = KEEP_PAGES_AT_MOST,
    fresh_for: timedelta = FRESH_FOR,
    lock_wait: float = LOCK_WAIT_SECONDS,
) -> list[str] | None:
    """Write the snapshot unless it already shows the current version and is fresh; else None.

    Pages of incidents that did not change are kept from the copy already there, unless they
    were last all rendered `full_every` ago: then everything is rendered again.
    """
    directory = directory.resolve()
    with snapshot_lock(directory, wait=lock_wait):
        manifest = _manifest(directory)
        if manifest is not None and _is_current(manifest, fresh_for, full_every):
            return None
        return _write(directory, keep_within=full_every)


def _is_current(manifest: dict[str, object], fresh_for: timedelta, full_every: timedelta) -> bool:
    """Return whether a snapshot shows the current version, is fresh, and needs no full render."""
    version = status_version_current()
    now = timezone.now()
    try:
        generated_at = datetime.fromisoformat(str(manifest["generated_at"]))
        full_at = datetime.fromisoformat(str(manifest["full_render_at"]))
        changed_at = datetime.fromisoformat(str(manifest["status_changed_at"]))
    except (KeyError, ValueError):
        return False
    return (
        manifest.get("status_version") == version.number
        and changed_at == version.changed_at.astimezone(UTC)
        and now - generated_at < fresh_for
        and now - full_at < full_every
    )
