"""The PagerDuty Events API v2-compatible endpoint: replies and dedup_key semantics."""

import pytest

from incidents.alerting.models import Alert, AlertSource
from incidents.models import Incident, IncidentStatus
from incidents.services import (
    incident_acknowledge,
    incident_mitigate,
    incident_start_investigating,
)

from .conftest import hook_url, make_source, sample

pytestmark = pytest.mark.django_db


@pytest.fixture
def pd_source(db):
    return make_source(AlertSource.Kind.PAGERDUTY, "pagerduty-compatible")


@pytest.fixture
def send_pd(post_hook, pd_source):
    """Send an event with the source's routing key; returns (status code, reply)."""
    _, routing_key = pd_source

    def send(event=None, **changes):
        event = event or sample("pagerduty-events-v2-trigger.json")
        event["routing_key"] = routing_key
        for key, value in changes.items():
            if value is None:
                event.pop(key, None)
            else:
                event[key] = value
        response = post_hook(hook_url("pagerduty"), event)
        return response.status_code, response.json()

    return send


@pytest.fixture
def payments_api_rule(payments):
    from incidents.alerting.models import RoutingRule

    return RoutingRule.objects.create(
        name="Payments API", match_labels={"component": "payments-api"}, service=payments
    )


def test_a_trigger_is_accepted_with_the_reply_pagerduty_gives(send_pd, payments_api_rule):
    status, reply = send_pd()

    assert status == 202
    assert reply == {"status": "success", "message": "Event processed", "dedup_key": "payments-503"}
    alert = Alert.objects.get()
    assert (alert.fingerprint, alert.status) == ("payments-503", "firing")
    assert alert.severity.code == "P1"
    assert alert.title == "payments-api returning 503 for 38% of requests"
    assert alert.labels == {
        "source": "payments-api.production",
        "severity": "critical",
        "component": "payments-api",
        "group": "production",
        "class": "http-5xx",
    }
    assert alert.details["custom_details"] == {"error_rate": 0.38, "region": "eu-west-1"}
    assert alert.details["links"] == [
        {"href": "https://grafana.example.com/d/payments", "text": "Payments dashboard"}
    ]
    assert alert.incident.status == IncidentStatus.TRIGGERED


def test_a_trigger_without_a_dedup_key_gets_one_generated_and_returned(send_pd):
    status, reply = send_pd(dedup_key=None)

    assert status == 202
    assert len(reply["dedup_key"]) == 32
    assert Alert.objects.get().fingerprint == reply["dedup_key"]


def test_triggers_with_the_same_key_are_one_alert(send_pd, payments_api_rule):
    for _ in range(3):
        send_pd()

    alert = Alert.objects.get()
    assert alert.receive_count == 3
    assert Incident.objects.count() == 1


def test_acknowledge_acknowledges_the_triggered_incident_as_the_alert_source(
    send_pd, payments_api_rule
):
    send_pd()

    status, reply = send_pd(event_action="acknowledge", payload=None)

    assert (status, reply["dedup_key"]) == (202, "payments-503")
    incident = Incident.objects.get()
    assert incident.status == IncidentStatus.ACKNOWLEDGED
    event = incident.timeline.get(kind="acknowledged")
    assert (event.actor, event.source) == (None, "alert")
    assert Alert.objects.get().acknowledged_at is not None


def test_acknowledge_of_an_incident_already_worked_is_only_noted(send_pd, payments_api_rule, alice):
    send_pd()
    incident = Incident.objects.get()
    incident_acknowledge(incident=incident, actor=alice)

    send_pd(event_action="acknowledge", payload=None)

    incident.refresh_from_db()
    assert incident.timeline.filter(kind="acknowledged").count() == 1
    assert incident.timeline.filter(kind="alert", message__contains="acknowledged").exists()


def test_resolve_resolves_the_alert_and_the_unacknowledged_incident(send_pd, payments_api_rule):
    send_pd()

    status, _ = send_pd(event_action="resolve", payload=None)

    assert status == 202
    assert Alert.objects.get().status == "resolved"
    assert Incident.objects.get().status == IncidentStatus.RESOLVED


def test_acknowledge_then_resolve_resolves_the_incident_as_pagerduty_does(
    send_pd, payments_api_rule
):
    send_pd()
    send_pd(event_action="acknowledge", payload=None)

    status, _ = send_pd(event_action="resolve", payload=None)

    assert status == 202
    incident = Incident.objects.get()
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.resolved_at is not None
    resolution = incident.timeline.get(kind="resolved")
    assert (resolution.actor, resolution.source) == (None, "alert")
    assert resolution.message == "Every alert resolved at the source."
    assert Alert.objects.get().status == "resolved"


def test_resolve_resolves_an_incident_a_person_acknowledged(send_pd, payments_api_rule, alice):
    send_pd()
    incident_acknowledge(incident=Incident.objects.get(), actor=alice)

    send_pd(event_action="resolve", payload=None)

    assert Incident.objects.get().status == IncidentStatus.RESOLVED


@pytest.mark.parametrize("worked", ["investigating", "mitigated"])
def test_resolve_leaves_an_incident_people_work_on_to_them(
    send_pd, payments_api_rule, alice, worked
):
    send_pd()
    incident = Incident.objects.get()
    incident_acknowledge(incident=incident, actor=alice)
    incident = incident_start_investigating(incident=incident, actor=alice)
    if worked == "mitigated":
        incident_mitigate(incident=incident, actor=alice)

    send_pd(event_action="resolve", payload=None)

    incident.refresh_from_db()
    assert incident.status == worked
    assert not incident.timeline.filter(kind="resolved").exists()
    assert incident.timeline.filter(kind="alert", message__contains="resolved at the source")


def test_after_a_resolve_the_same_key_opens_a_new_alert(send_pd, payments_api_rule):
    # Not flapping (test_flapping.py): the service reopens nothing.
    payments_api_rule.service.flap_window_minutes = 0
    payments_api_rule.service.save()
    send_pd()
    send_pd(event_action="resolve", payload=None)

    send_pd()

    assert [a.status for a in Alert.objects.order_by("starts_at")] == ["resolved", "firing"]
    assert Incident.objects.count() == 2


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_or_resolve_for_an_unknown_key_is_dropped_with_202(send_pd, action):
    status, reply = send_pd(event_action=action, dedup_key="never-seen", payload=None)

    assert (status, reply["status"], reply["dedup_key"]) == (202, "success", "never-seen")
    assert Alert.objects.count() == 0


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_acknowledge_or_resolve_for_a_closed_key_is_dropped(send_pd, payments_api_rule, action):
    send_pd()
    send_pd(event_action="resolve", payload=None)
    events = Incident.objects.get().timeline.count()

    status, _ = send_pd(event_action=action, payload=None)

    assert status == 202
    assert Incident.objects.get().timeline.count() == events
    assert Alert.objects.get().acknowledged_at is None


def test_an_unrouted_trigger_waits_in_triage(send_pd):
    send_pd()

    assert Alert.objects.get().incident is None
    assert Incident.objects.count() == 0


def test_the_routing_key_of_another_kind_of_source_is_refused(post_hook):
    _, secret = make_source(AlertSource.Kind.ALERTMANAGER, "am")
    event = sample("pagerduty-events-v2-trigger.json")
    event["routing_key"] = secret

    response = post_hook(hook_url("pagerduty"), event)

    assert response.status_code == 401
    assert Alert.objects.count() == 0


def test_the_address_with_a_trailing_slash_works_too(post_hook, pd_source):
    event = sample("pagerduty-events-v2-trigger.json")
    event["routing_key"] = pd_source[1]

    response = post_hook(hook_url("pagerduty") + "/", event)

    assert response.status_code == 202
