"""Checks racing each other, and a ping racing a check, on PostgreSQL's row locks."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections

from incidents.heartbeats import services
from incidents.heartbeats.models import Heartbeat
from incidents.models import Incident
from tests import factories

from .conftest import GRACE, INTERVAL, T0, make_heartbeat

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks are PostgreSQL's (set DATABASE_URL)"
)

ALARM = T0 + INTERVAL + GRACE


def run_together(calls) -> tuple[list[object], list[BaseException]]:
    start = threading.Barrier(len(calls))
    results: list[object] = []
    errors: list[BaseException] = []

    def run(call):
        try:
            start.wait()
            results.append(call())
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results, errors


@pytest.fixture
def slow_trigger(monkeypatch):
    """Widen the window between winning the miss and opening its incident."""
    real = services.incident_trigger

    def slow(**kwargs):
        time.sleep(0.3)
        return real(**kwargs)

    monkeypatch.setattr(services, "incident_trigger", slow)


@pytest.fixture
def overdue(live_db):
    service = factories.ServiceFactory(name="Payments", slug="payments")
    heartbeat, _ = make_heartbeat(service)
    services.heartbeat_record_ping(heartbeat=heartbeat, at=T0)
    return heartbeat


def test_simultaneous_checks_open_one_incident(overdue, slow_trigger):
    results, errors = run_together(
        [lambda i=i: services.heartbeats_check(now=ALARM + timedelta(seconds=i)) for i in range(4)]
    )

    assert errors == []
    assert sorted(len(opened) for opened in results) == [0, 0, 0, 1]
    incident = Incident.objects.get()
    overdue.refresh_from_db()
    assert (overdue.state, overdue.incident) == ("missed", incident)


def test_a_ping_racing_the_check_leaves_it_up_or_resolves_the_miss(overdue, slow_trigger):
    at = ALARM + timedelta(seconds=1)

    _, errors = run_together(
        [
            lambda: services.heartbeats_check(now=at),
            lambda: services.heartbeat_record_ping(heartbeat=overdue, at=at),
        ]
    )

    assert errors == []
    overdue.refresh_from_db()
    assert overdue.state == "up"
    # Either the ping came first (no incident) or it found the miss and resolved its incident.
    assert [incident.status for incident in Incident.objects.all()] in ([], ["resolved"])
    assert Heartbeat.objects.get().ping_count == 2
