"""Row locks make simultaneous transitions queue up instead of both acting (PostgreSQL)."""

import threading
import time

import pytest
from django.db import connection, connections

from incidents.models import Incident
from incidents.services import incident_acknowledge, lifecycle
from tests import factories

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks are PostgreSQL's (set DATABASE_URL)"
)


def test_two_simultaneous_acknowledgements_record_one(live_db, monkeypatch):
    alice = factories.responder("alice")
    bob = factories.responder("bob")
    incident = factories.triggered("P1")

    # Widen the window between reading the state and writing it, so that without the row
    # lock both requests would see "triggered" and both would acknowledge.
    real_check = lifecycle._check_transition

    def slow_check(locked_incident, to_status):
        time.sleep(0.3)
        real_check(locked_incident, to_status)

    monkeypatch.setattr(lifecycle, "_check_transition", slow_check)

    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def acknowledge(user):
        try:
            start.wait()
            incident_acknowledge(incident=Incident(pk=incident.pk), actor=user)
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=acknowledge, args=(user,)) for user in (alice, bob)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    incident.refresh_from_db()
    assert incident.status == "acknowledged"
    acknowledgements = incident.timeline.filter(kind="acknowledged")
    assert acknowledgements.count() == 1
    assert incident.acknowledged_at == acknowledgements.get().occurred_at
