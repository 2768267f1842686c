"""Which Alertmanager alerts are heartbeat pings (Prometheus' always-firing Watchdog).

The Alertmanager hook asks `watchdog_in_delivery` of every delivery, before anything else it
does; it must cost next to nothing for the deliveries that carry no Watchdog, which are nearly
all of them. So each process keeps the alert names heartbeats watch, per source, and reads them
again after NAMES_SECONDS; saving or deleting a heartbeat in this process drops the copy at once
(signals, connected in apps.py), as the routing rules' copy is (docs/ARCHITECTURE.md, Heartbeats).
"""

import threading
import time
from dataclasses import dataclass

from django.db import transaction

from .models import Heartbeat

# How long a process uses its copy before reading it again.
NAMES_SECONDS = 5.0


@dataclass(frozen=True)
class WatchedNames:
    by_source: dict[int, frozenset[str]]
    loaded_at: float


_names: WatchedNames | None = None
_generation = 0  # bumped by every forget, so a read that raced an edit is not kept
_lock = threading.Lock()


def watched_names() -> WatchedNames:
    """Return this process's copy of the watched alert names, read again when it is too old."""
    global _names
    names = _names
    now = time.monotonic()
    if names is not None and now - names.loaded_at < NAMES_SECONDS:
        return names
    generation = _generation
    by_source: dict[int, set[str]] = {}
    # Paused heartbeats too: their Watchdog is still theirs, not an alert for triage.
    rows = Heartbeat.objects.filter(alert_source__isnull=False).values_list(
        "alert_source_id", "alertname"
    )
    for source_id, alertname in rows:
        by_source.setdefault(source_id, set()).add(alertname)
    names = WatchedNames(
        by_source={source: frozenset(names) for source, names in by_source.items()},
        loaded_at=now,
    )
    with _lock:
        if generation == _generation:  # else an edit raced this read: use it this time only
            _names = names
    return names


def watchdog_names_forget() -> None:
    """Drop this process's copy; the next delivery reads the names again."""
    global _names, _generation
    with _lock:
        _generation += 1
        _names = None


def watchdog_names_changed(**kwargs: object) -> None:
    """Forget the copy now (this transaction's next delivery) and after commit (everyone's)."""
    watchdog_names_forget()
    transaction.on_commit(watchdog_names_forget)


def watchdog_in_delivery(*, source_id: int, payload: object) -> bool:
    """Return whether a (not yet validated) delivery carries an alert some heartbeat watches.

    Only a hint: the caller authenticates the sender and validates the payload before it acts.
    """
    names = watched_names().by_source.get(source_id)
    if not names or not isinstance(payload, dict):
        return False
    alerts = payload.get("alerts")
    if not isinstance(alerts, list):
        return False
    for alert in alerts:
        labels = alert.get("labels") if isinstance(alert, dict) else None
        name = labels.get("alertname") if isinstance(labels, dict) else None
        if isinstance(name, str) and name in names:
            return True
    return False
