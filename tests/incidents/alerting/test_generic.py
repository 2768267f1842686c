"""The generic JSON endpoint: title, severity, service, dedup key, details."""

import pytest

from incidents.alerting.models import Alert, AlertSource
from incidents.models import Incident, IncidentStatus

from .conftest import hook_url, make_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def send_generic(post_hook):
    source, secret = make_source(AlertSource.Kind.GENERIC, "cron checks")

    def send(payload):
        response = post_hook(hook_url("generic", source), payload, secret)
        return response.status_code, response.json()

    return send


def test_a_generic_alert_naming_a_service_opens_an_incident_for_it(send_generic, payments):
    status, reply = send_generic(
        {
            "title": "Nightly settlement job failed",
            "severity": "error",
            "service": "payments-api",
            "dedup_key": "settlement-2026-11-27",
            "details": {"exit_code": 3},
            "url": "https://ci.example.com/jobs/42",
        }
    )

    assert status == 202
    assert reply["dedup_key"] == "settlement-2026-11-27"
    alert = Alert.objects.get()
    assert (alert.severity.code, alert.service, alert.generator_url) == (
        "P2",
        payments,
        "https://ci.example.com/jobs/42",
    )
    assert alert.details == {"details": {"exit_code": 3}}
    assert alert.incident.services.get() == payments


def test_the_same_key_is_one_alert_and_resolved_by_key(send_generic, payments):
    event = {"title": "Disk full", "service": "payments-api", "dedup_key": "disk-1"}
    send_generic(event)
    send_generic(event)
    assert Alert.objects.get().receive_count == 2

    status, _ = send_generic({**event, "status": "resolved"})

    assert status == 202
    assert Alert.objects.get().status == "resolved"
    assert Incident.objects.get().status == IncidentStatus.RESOLVED


def test_without_a_key_each_alert_is_new_and_its_key_is_returned(send_generic):
    _, first = send_generic({"title": "Ping failed"})
    _, second = send_generic({"title": "Ping failed"})

    assert first["dedup_key"] != second["dedup_key"]
    assert Alert.objects.count() == 2


def test_an_unknown_service_and_severity_wait_in_triage_with_p3(send_generic):
    send_generic({"title": "Something odd", "service": "nope", "severity": "meh"})

    alert = Alert.objects.get()
    assert (alert.incident, alert.severity.code) == (None, "P3")
    assert alert.severity_note == 'Unknown severity "meh": P3 by default.'
