"""Alertmanager's always-firing Watchdog, sent to the real hook, pings the heartbeats of its source.

The deliveries are the real Alertmanager v4 sample of tests/incidents/alerting, with the
Watchdog alert that kube-prometheus and the Prometheus Operator ship (alertname Watchdog,
severity none) added to them.
"""

import copy
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.alerting.models import Alert, AlertSource, RoutingRule
from incidents.heartbeats.models import Heartbeat
from incidents.heartbeats.services import heartbeat_record_ping, heartbeats_check
from incidents.models import Incident
from tests.incidents.alerting.conftest import firing, hook_url, make_source, resolved

from .conftest import GRACE, INTERVAL, T0, make_heartbeat

pytestmark = pytest.mark.django_db

WATCHDOG = {
    "status": "firing",
    "labels": {
        "alertname": "Watchdog",
        "namespace": "monitoring",
        "prometheus": "monitoring/k8s",
        "severity": "none",
    },
    "annotations": {
        "description": "This is an alert meant to ensure that the entire alerting pipeline is "
        "functional. This alert is always firing.",
        "summary": "An alert that should always be firing to certify that Alertmanager is "
        "working properly.",
    },
    "startsAt": "2026-11-20T00:00:12.345Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=vector%281%29",
    "fingerprint": "e7b9a3c2d1f0a4b5",
}


def watchdog_delivery(*others: dict, status: str = "firing", **labels: str) -> dict:
    """Alertmanager's delivery of the Watchdog's own group (and any alerts grouped with it)."""
    payload = firing()
    watchdog = copy.deepcopy(WATCHDOG)
    watchdog["status"] = status
    if status == "resolved":
        watchdog["endsAt"] = "2026-11-27T09:30:00Z"
    watchdog["labels"].update(labels)
    payload["alerts"] = [watchdog, *others]
    payload["status"] = "firing" if others else status
    payload["groupKey"] = '{}:{alertname="Watchdog"}'
    payload["groupLabels"] = {"alertname": "Watchdog"}
    payload["commonLabels"] = {} if others else dict(watchdog["labels"])
    return payload


@pytest.fixture
def source(db):
    return make_source(AlertSource.Kind.ALERTMANAGER, "prod-alertmanager")


@pytest.fixture
def watched(payments, source):
    """The Payments heartbeat fed by the production Alertmanager's Watchdog."""
    heartbeat, _ = make_heartbeat(payments, name="prod-alerting-pipeline", alert_source=source[0])
    return heartbeat


@pytest.fixture
def deliver(client, source):
    def post(payload, secret: str | None = None):
        the_source, the_secret = source
        return client.post(
            hook_url("alertmanager", the_source),
            data=json.dumps(payload),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret or the_secret}",
        )

    return post


def test_the_watchdog_pings_its_heartbeat_and_is_not_kept_as_an_alert(deliver, watched):
    response = deliver(watchdog_delivery())

    assert response.status_code == 200
    reply = response.json()
    assert (reply["heartbeat_alerts"], reply["heartbeats_pinged"], reply["created"]) == (1, 1, 0)
    watched.refresh_from_db()
    assert (watched.state, watched.ping_count) == ("up", 1)
    assert not Alert.objects.exists()


def test_alerts_delivered_with_the_watchdog_are_ingested_as_usual(deliver, watched, payments):
    RoutingRule.objects.create(name="p", match_labels={"service": "payments"}, service=payments)
    payments_down = firing()["alerts"][0]

    reply = deliver(watchdog_delivery(payments_down)).json()

    assert (reply["heartbeats_pinged"], reply["created"]) == (1, 1)
    alert = Alert.objects.get()
    assert alert.title == "PaymentsDown"
    assert alert.incident == Incident.objects.get()
    assert reply["incidents_opened"] == [alert.incident.reference]
    watched.refresh_from_db()
    assert watched.ping_count == 1


def test_repeated_watchdogs_keep_the_heartbeat_up(deliver, watched, freeze):
    for minute in (0, 9, 18, 27):
        freeze(T0 + timedelta(minutes=minute))
        assert deliver(watchdog_delivery()).status_code == 200

    assert heartbeats_check(now=T0 + timedelta(minutes=27) + INTERVAL + GRACE / 2) == []
    watched.refresh_from_db()
    assert (watched.ping_count, watched.last_ping_at) == (4, T0 + timedelta(minutes=27))
    assert not Alert.objects.exists()


def test_a_watchdog_after_a_miss_resolves_the_incident(deliver, watched, freeze):
    heartbeat_record_ping(heartbeat=watched, at=T0)
    (incident,) = heartbeats_check(now=T0 + INTERVAL + GRACE)
    freeze(T0 + INTERVAL + GRACE + timedelta(minutes=3))

    deliver(watchdog_delivery())

    incident.refresh_from_db()
    assert incident.status == "resolved"


def test_a_resolved_watchdog_is_no_ping_and_no_alert(deliver, watched):
    # Its Prometheus stopped sending it: Alertmanager resolves it after resolve_timeout.
    reply = deliver(watchdog_delivery(status="resolved")).json()

    assert (reply["heartbeat_alerts"], reply["heartbeats_pinged"]) == (1, 0)
    watched.refresh_from_db()
    assert (watched.state, watched.ping_count) == ("waiting", 0)
    assert not Alert.objects.exists()


def test_a_paused_heartbeats_watchdog_is_ignored_and_not_kept(deliver, watched):
    Heartbeat.objects.filter(pk=watched.pk).update(is_active=False)

    reply = deliver(watchdog_delivery()).json()

    assert (reply["heartbeat_alerts"], reply["heartbeats_pinged"]) == (1, 1)
    watched.refresh_from_db()
    assert watched.ping_count == 0
    assert not Alert.objects.exists()


def test_another_prometheus_watchdog_is_not_this_heartbeats(deliver, watched):
    watched.match_labels = {"prometheus": "monitoring/k8s"}
    watched.save()

    reply = deliver(watchdog_delivery(prometheus="staging/k8s")).json()

    assert (reply["heartbeats_pinged"], reply["created"]) == (0, 1)
    assert Alert.objects.get().title == "Watchdog"
    watched.refresh_from_db()
    assert watched.ping_count == 0


def test_an_alertname_watched_only_on_another_source_is_an_alert_as_before(
    deliver, payments, watched
):
    other, _ = make_source(AlertSource.Kind.ALERTMANAGER, "staging-alertmanager")
    make_heartbeat(payments, name="other-pipeline", alert_source=other, alertname="DeadMansSwitch")

    reply = deliver(watchdog_delivery(alertname="DeadMansSwitch")).json()

    assert reply["created"] == 1
    assert "heartbeats_pinged" not in reply
    assert Heartbeat.objects.get(name="other-pipeline").ping_count == 0


def test_a_wrong_secret_pings_nothing(deliver, watched):
    response = deliver(watchdog_delivery(), secret="not-the-secret")

    assert response.status_code == 401
    watched.refresh_from_db()
    assert watched.ping_count == 0


def test_an_invalid_delivery_pings_nothing_and_stores_nothing(deliver, watched):
    broken = firing()["alerts"][0]
    del broken["startsAt"]

    response = deliver(watchdog_delivery(broken))

    assert response.status_code == 400
    assert response.json()["field"] == "alerts[1].startsAt"
    watched.refresh_from_db()
    assert watched.ping_count == 0
    assert not Alert.objects.exists()


def test_plain_repeats_cost_no_more_with_a_heartbeat_on_the_source(deliver, source, payments):
    deliver(firing())
    with CaptureQueriesContext(connection) as before:
        deliver(firing())
    make_heartbeat(payments, name="pipeline", alert_source=source[0])
    deliver(watchdog_delivery())  # the names are known to this process from here on

    with CaptureQueriesContext(connection) as after:
        assert deliver(firing()).json()["repeated"] == 1

    assert len(after.captured_queries) == len(before.captured_queries) == 1
    deliver(resolved())
    assert Alert.objects.get().status == "resolved"
