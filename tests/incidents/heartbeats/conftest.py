from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.heartbeats.models import Heartbeat
from incidents.heartbeats.services import heartbeat_create

# A moment to reckon from; pings and checks take it (or a time after it) as their `at`/`now`.
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
INTERVAL = timedelta(minutes=10)
GRACE = timedelta(minutes=5)


@pytest.fixture(autouse=True)
def heartbeat_names_process_cache():
    """Each test starts without the watched alert names a previous test's process kept."""
    from incidents.heartbeats.watchdog import watchdog_names_forget

    watchdog_names_forget()


def make_heartbeat(service, name: str = "nightly-backup", **fields) -> tuple[Heartbeat, str]:
    fields.setdefault("interval", INTERVAL)
    fields.setdefault("grace", GRACE)
    return heartbeat_create(name=name, service=service, **fields)


@pytest.fixture
def beat(payments):
    """A heartbeat of the Payments API (every 10 min, 5 min grace), not pinged yet."""
    return make_heartbeat(payments)


def ping_url(secret: str) -> str:
    return reverse("heartbeat_hooks:ping", kwargs={"secret": secret})


@pytest.fixture
def freeze(monkeypatch):
    """Stop the clock at the given instant (every caller of django.utils.timezone.now)."""

    def freeze_at(moment: datetime) -> datetime:
        monkeypatch.setattr(timezone, "now", lambda: moment)
        return moment

    return freeze_at
