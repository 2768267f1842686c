"""Concurrent deliveries of one group queue on its row lock: one incident, one episode."""

import threading
import time

import pytest
from django.db import connection, connections

from incidents.alerting.models import Alert, AlertSource, RoutingRule
from incidents.alerting.services import ingest as services
from incidents.models import Incident
from tests import factories

from .conftest import firing, make_source, resolved, sample

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks are PostgreSQL's (set DATABASE_URL)"
)


def run_together(calls) -> list[BaseException]:
    start = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call):
        try:
            start.wait()
            call()
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


@pytest.fixture
def slow_trigger(monkeypatch):
    """Widen the window between deciding to open an incident and opening it."""
    real = services.incident_trigger

    def slow(**kwargs):
        time.sleep(0.3)
        return real(**kwargs)

    monkeypatch.setattr(services, "incident_trigger", slow)


def test_simultaneous_deliveries_of_a_new_group_open_one_incident(live_db, slow_trigger):
    payments = factories.ServiceFactory(name="Payments", slug="payments")
    RoutingRule.objects.create(name="p", match_labels={"service": "payments"}, service=payments)
    source, _ = make_source(AlertSource.Kind.ALERTMANAGER, "am")
    payloads = [firing(), firing(), firing(fingerprint="second")]

    errors = run_together(
        [lambda p=p: services.alertmanager_ingest(source=source, payload=p) for p in payloads]
    )

    assert errors == []
    assert Incident.objects.count() == 1
    assert Alert.objects.count() == 2
    assert Alert.objects.get(fingerprint="440d54076bcd8569").receive_count == 2
    assert set(Alert.objects.values_list("incident", flat=True)) == {Incident.objects.get().pk}


def test_simultaneous_refires_of_a_known_group_open_one_new_incident(live_db, slow_trigger):
    payments = factories.ServiceFactory(name="Payments", slug="payments")
    RoutingRule.objects.create(name="p", match_labels={"service": "payments"}, service=payments)
    source, _ = make_source(AlertSource.Kind.ALERTMANAGER, "am")
    services.alertmanager_ingest(source=source, payload=firing())
    services.alertmanager_ingest(source=source, payload=resolved())  # resolves its incident
    later = "2026-11-27T10:00:00Z"
    payloads = [firing(starts_at=later), firing(fingerprint="other", starts_at=later)]

    errors = run_together(
        [lambda p=p: services.alertmanager_ingest(source=source, payload=p) for p in payloads]
    )

    assert errors == []
    assert Incident.objects.filter(status="triggered").count() == 1
    assert Incident.objects.count() == 2


def test_simultaneous_pagerduty_triggers_with_one_key_are_one_alert(live_db, slow_trigger):
    payments = factories.ServiceFactory(name="Payments", slug="payments")
    RoutingRule.objects.create(name="p", match_labels={}, service=payments)
    source, routing_key = make_source(AlertSource.Kind.PAGERDUTY, "pd")
    event = sample("pagerduty-events-v2-trigger.json")
    event["routing_key"] = routing_key

    errors = run_together(
        [lambda: services.pagerduty_event(source=source, event=event) for _ in range(3)]
    )

    assert errors == []
    assert Alert.objects.get().receive_count == 3
    assert Incident.objects.count() == 1


def test_one_episode_arriving_in_two_groups_at_once_is_stored_once(live_db, monkeypatch):
    """Alertmanager may route one alert to two receivers (two groupKeys) at the same moment."""
    payments = factories.ServiceFactory(name="Payments", slug="payments")
    RoutingRule.objects.create(name="p", match_labels={"service": "payments"}, service=payments)
    source, _ = make_source(AlertSource.Kind.ALERTMANAGER, "am")
    real_create = services._create_episode

    def slow_create(*args, **kwargs):
        alert = real_create(*args, **kwargs)
        time.sleep(0.3)  # both deliveries have looked up the episode and found nothing
        return alert

    monkeypatch.setattr(services, "_create_episode", slow_create)
    first, second = firing(), firing()
    second["groupKey"] = '{}/{team="payments"}:{alertname="PaymentsAPIHighErrorRate"}'
    results = []

    errors = run_together(
        [
            lambda p=p: results.append(services.alertmanager_ingest(source=source, payload=p))
            for p in (first, second)
        ]
    )

    assert errors == []
    episode = Alert.objects.get()
    assert episode.receive_count == 2
    assert sorted((r.created, r.repeated) for r in results) == [(0, 1), (1, 0)]
    assert Incident.objects.count() == 1
