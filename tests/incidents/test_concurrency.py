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


def _run_together(*actions) -> list[BaseException]:
    """Run the actions in threads released at once; return what they raised."""
    start = threading.Barrier(len(actions))
    errors: list[BaseException] = []

    def run(action):
        try:
            start.wait()
            action()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def test_a_severity_change_racing_a_mitigation_both_apply_without_an_error(live_db):
    alice = factories.responder("alice")
    for trial in range(15):
        incident = factories.declared(alice, "P2", title=f"Checkout errors {trial}")
        errors = _run_together(
            lambda incident=incident: lifecycle.incident_change_severity(
                incident=Incident(pk=incident.pk), actor=alice, severity=factories.severity("P1")
            ),
            lambda incident=incident: lifecycle.incident_mitigate(
                incident=Incident(pk=incident.pk), actor=alice, message="Rolled back"
            ),
        )
        assert errors == [], f"trial {trial}: {errors!r}"
        incident.refresh_from_db()
        assert (incident.status, incident.severity.code) == ("mitigated", "P1")


def test_a_transition_locks_its_incident_only_not_its_severity(live_db):
    """While one P1 is mid-transition, another P1 moves on at once (no wait on the severity)."""
    from django.db import transaction

    alice = factories.responder("alice")
    first = factories.declared(alice, "P1", title="Payments down")
    second = factories.declared(alice, "P1", title="Search down")
    holding = threading.Event()
    release = threading.Event()
    errors: list[BaseException] = []

    def hold_first() -> None:
        try:
            with transaction.atomic():
                lifecycle.incident_mitigate(incident=Incident(pk=first.pk), actor=alice)
                holding.set()
                release.wait(timeout=30)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_first)
    holder.start()
    try:
        assert holding.wait(timeout=30)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            lifecycle.incident_mitigate(incident=Incident(pk=second.pk), actor=alice)
    finally:
        release.set()
        holder.join(timeout=30)
    assert errors == []
    assert set(Incident.objects.values_list("status", flat=True)) == {"mitigated"}
