"""The status version: one counter that every public change bumps.

Public pages and JSON are cached under it and carry it as their ETag, so a publish is visible on
the next request and an unchanged page answers 304. The database row is the truth; the shared
cache holds a copy so that reading the version costs no query, and each process keeps it for a
second (LOCAL_SECONDS), so that a busy page costs no round trip at all: another process's
publish shows here within that second, this process's at once.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from django.core.cache import cache
from django.db import transaction
from django.db.models import F
from django.dispatch import Signal
from django.utils import timezone

from .models import StatusVersion

logger = logging.getLogger(__name__)

CACHE_KEY = "statuspage:version"
# How long the shared cache trusts its copy without the row being read again.
CACHE_SECONDS = 30
# How long a process trusts its own copy without asking the shared cache.
LOCAL_SECONDS = 1.0
_local: tuple[float, "Version"] | None = None

# Sent after the commit of every bump (version=Version): caches and snapshots listen to it.
status_changed = Signal()


@dataclass(frozen=True)
class Version:
    number: int
    changed_at: datetime


def status_version_current() -> Version:
    """Return the current status version, from this process or the cache when they have it."""
    global _local
    now = time.monotonic()
    local = _local
    if local is not None and now - local[0] < LOCAL_SECONDS:
        return local[1]
    cached = cache.get(CACHE_KEY)
    if cached is not None:
        version = Version(*cached)
        _local = (now, version)
        return version
    row = StatusVersion.objects.filter(pk=1).first()
    if row is None:
        row = StatusVersion(pk=1, version=0, changed_at=timezone.now())
    version = Version(row.version, row.changed_at)
    # `add`, not `set`: a reader that read the row just before a bump must not overwrite the
    # newer value the bump stores; the timeout heals a bump whose process died after commit.
    cache.add(CACHE_KEY, (version.number, version.changed_at), timeout=CACHE_SECONDS)
    _local = (now, version)
    return version


def status_version_forget_local() -> None:
    """Drop this process's copy (tests, whose databases come and go, start each clean)."""
    global _local
    _local = None


def status_version_bump() -> None:
    """Bump the version in the caller's transaction; caches and snapshots follow after commit."""
    now = timezone.now()
    with transaction.atomic():
        updated = StatusVersion.objects.filter(pk=1).update(
            version=F("version") + 1, changed_at=now
        )
        if not updated:
            StatusVersion.objects.get_or_create(pk=1, defaults={"version": 1, "changed_at": now})
    transaction.on_commit(_after_bump)


def _after_bump() -> None:
    global _local
    row = StatusVersion.objects.get(pk=1)
    version = Version(row.version, row.changed_at)
    try:
        cache.set(CACHE_KEY, (version.number, version.changed_at), timeout=CACHE_SECONDS)
    except Exception:
        # The change is committed; a cache that is down or hung must not turn it into an
        # error. Other processes see the new version once the cached one expires.
        logger.warning("status version %s not written to the cache", version.number, exc_info=True)
    _local = (time.monotonic(), version)
    status_changed.send(sender=StatusVersion, version=version)
