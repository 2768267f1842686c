"""Every bad request is refused with a status the sender can act on, and stores nothing."""

import base64

import pytest

from incidents.alerting.hooks import MAX_BODY_BYTES
from incidents.alerting.models import Alert, AlertGroup, AlertSource
from incidents.models import Incident, TimelineEvent

from .conftest import firing, hook_url, make_source, padded, sample

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def nothing_stored(db):
    """After each test here, no alert, group, incident or timeline row exists."""
    yield
    assert Alert.objects.count() == 0
    assert AlertGroup.objects.count() == 0
    assert Incident.objects.count() == 0
    assert TimelineEvent.objects.count() == 0


@pytest.fixture
def am(am_source):
    source, secret = am_source
    return hook_url("alertmanager", source), secret


def without(payload: dict, path: str) -> dict:
    """Drop one field, addressed as 'a.b' or 'alerts.0.b'."""
    *parents, last = path.split(".")
    node = payload
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    del node[int(last) if last.isdigit() else last]
    return payload


class TestAlertmanager:
    @pytest.mark.parametrize(
        ("missing", "field"),
        [
            ("version", "version"),
            ("groupKey", "groupKey"),
            ("status", "status"),
            ("alerts", "alerts"),
            ("alerts.0.fingerprint", "alerts[0].fingerprint"),
            ("alerts.0.startsAt", "alerts[0].startsAt"),
            ("alerts.0.labels", "alerts[0].labels"),
            ("alerts.0.status", "alerts[0].status"),
        ],
    )
    def test_a_missing_required_field_is_a_400_naming_it(self, post_hook, am, missing, field):
        url, secret = am
        response = post_hook(url, without(firing(), missing), secret)

        assert response.status_code == 400
        body = response.json()
        assert body["field"] == field
        assert field in body["detail"]

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"version": "3"}, "version"),
            ({"status": "burning"}, "status"),
            ({"alerts": {"not": "a list"}}, "alerts"),
            ({"alerts": ["nope"]}, "alerts[0]"),
            ({"commonLabels": {"severity": 1}}, "commonLabels.severity"),
        ],
    )
    def test_a_malformed_field_is_a_400_naming_it(self, post_hook, am, change, field):
        url, secret = am
        payload = firing()
        payload.update(change)

        response = post_hook(url, payload, secret)

        assert (response.status_code, response.json()["field"]) == (400, field)

    @pytest.mark.parametrize(
        ("alert_change", "field"),
        [
            ({"startsAt": "yesterday"}, "alerts[0].startsAt"),
            ({"startsAt": "0001-01-01T00:00:00Z"}, "alerts[0].startsAt"),
            ({"endsAt": "9999-12-31T23:59:59Z", "status": "resolved"}, "alerts[0].endsAt"),
            ({"fingerprint": ""}, "alerts[0].fingerprint"),
            ({"fingerprint": "f" * 256}, "alerts[0].fingerprint"),
            ({"labels": {"severity": ["critical"]}}, "alerts[0].labels.severity"),
            ({"annotations": "text"}, "alerts[0].annotations"),
        ],
    )
    def test_a_malformed_alert_is_a_400_naming_it(self, post_hook, am, alert_change, field):
        url, secret = am
        payload = firing()
        payload["alerts"][0].update(alert_change)

        response = post_hook(url, payload, secret)

        assert (response.status_code, response.json()["field"]) == (400, field)

    def test_one_bad_alert_rejects_the_whole_delivery_and_every_problem_is_named(
        self, post_hook, am, payments_rule
    ):
        url, secret = am
        payload = firing()
        payload["alerts"].append({"status": "firing", "labels": {}})

        response = post_hook(url, payload, secret)

        assert response.status_code == 400
        assert set(response.json()["errors"]) == {"alerts[1].startsAt", "alerts[1].fingerprint"}

    @pytest.mark.parametrize("body", [b"{not json", b"\xff\xfe", b"", b"[" * 100000])
    def test_malformed_json_is_a_400_naming_the_body(self, post_hook, am, body):
        url, secret = am
        response = post_hook(url, body, secret)

        assert (response.status_code, response.json()["field"]) == (400, "body")

    def test_json_that_is_not_an_object_is_a_400(self, post_hook, am):
        url, secret = am
        response = post_hook(url, "[]", secret)

        assert (response.status_code, response.json()["field"]) == (400, "body")


class TestSecrets:
    @pytest.mark.parametrize(
        "authorization",
        [None, "", "Bearer", "Bearer wrong", "Token {secret}", "bearer {secret}x"],
    )
    def test_a_wrong_or_missing_secret_is_a_401(self, post_hook, am, authorization):
        url, secret = am
        headers = {}
        if authorization is not None:
            headers["HTTP_AUTHORIZATION"] = authorization.format(secret=secret)

        response = post_hook(url, firing(), **headers)

        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")

    def test_the_secret_also_works_as_a_basic_auth_password(self, post_hook, am, payments_rule):
        url, secret = am
        credentials = base64.b64encode(f"alertmanager:{secret}".encode()).decode()

        response = post_hook(url, b"[]", HTTP_AUTHORIZATION=f"Basic {credentials}")

        assert response.status_code == 400  # authenticated; the body is what is wrong

    def test_another_sources_secret_is_a_401(self, post_hook, am):
        url, _ = am
        _, other_secret = make_source(AlertSource.Kind.ALERTMANAGER, "staging")

        assert post_hook(url, firing(), other_secret).status_code == 401

    def test_an_inactive_source_is_a_401(self, post_hook, am_source):
        source, secret = am_source
        source.is_active = False
        source.save()

        assert post_hook(hook_url("alertmanager", source), firing(), secret).status_code == 401

    def test_an_unknown_source_is_a_401(self, post_hook, am):
        _, secret = am

        response = post_hook("/hooks/alertmanager/99999/", firing(), secret)

        assert response.status_code == 401

    def test_the_secret_is_checked_before_the_body_is_parsed(self, post_hook, am):
        url, _ = am

        assert post_hook(url, b"{not json", "wrong").status_code == 401

    def test_only_post_is_accepted(self, client, am):
        url, secret = am

        response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {secret}")

        assert response.status_code == 405


class TestSize:
    def test_a_body_over_512_kb_is_a_413(self, post_hook, am, payments_rule):
        url, secret = am

        response = post_hook(url, padded(MAX_BODY_BYTES + 1), secret)

        assert response.status_code == 413

    def test_a_declared_length_over_the_limit_is_refused_before_reading(self, post_hook, am):
        url, secret = am

        response = post_hook(url, b"{}", secret, CONTENT_LENGTH=str(MAX_BODY_BYTES + 1))

        assert response.status_code == 413

    def test_the_size_limit_holds_for_pagerduty_too(self, post_hook):
        _, routing_key = make_source(AlertSource.Kind.PAGERDUTY, "pd")
        event = sample("pagerduty-events-v2-trigger.json")
        event["routing_key"] = routing_key
        event["payload"]["custom_details"] = {"blob": "x" * MAX_BODY_BYTES}

        response = post_hook(hook_url("pagerduty"), event)

        assert response.status_code == 413
        assert response.json()["status"] == "invalid event"


GOOD_PAYLOAD = {"summary": "s", "source": "x", "severity": "info"}


class TestPagerDuty:
    @pytest.fixture
    def event(self, db):
        _, routing_key = make_source(AlertSource.Kind.PAGERDUTY, "pd")
        event = sample("pagerduty-events-v2-trigger.json")
        event["routing_key"] = routing_key
        return event

    @pytest.mark.parametrize(
        ("path", "field"),
        [
            ("event_action", "event_action"),
            ("payload", "payload"),
            ("payload.summary", "payload.summary"),
            ("payload.source", "payload.source"),
            ("payload.severity", "payload.severity"),
            ("routing_key", "routing_key"),
        ],
    )
    def test_a_missing_field_is_an_invalid_event_naming_it(self, post_hook, event, path, field):
        response = post_hook(hook_url("pagerduty"), without(event, path))

        assert response.status_code == 400
        body = response.json()
        assert (body["status"], body["message"]) == ("invalid event", "Event object is invalid")
        assert any(error.startswith(f"{field}:") for error in body["errors"])

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"event_action": "snooze"}, "event_action"),
            ({"dedup_key": "k" * 256}, "dedup_key"),
            ({"payload": dict(GOOD_PAYLOAD, summary="s" * 1025)}, "payload.summary"),
            ({"payload": dict(GOOD_PAYLOAD, severity="fatal")}, "payload.severity"),
            ({"payload": dict(GOOD_PAYLOAD, timestamp="soon")}, "payload.timestamp"),
            ({"links": "https://example.com"}, "links"),
            ({"event_action": "resolve", "dedup_key": None}, "dedup_key"),
        ],
    )
    def test_a_malformed_field_is_an_invalid_event_naming_it(self, post_hook, event, change, field):
        event.update(change)
        event = {key: value for key, value in event.items() if value is not None}

        response = post_hook(hook_url("pagerduty"), event)

        assert response.status_code == 400
        assert any(error.startswith(f"{field}:") for error in response.json()["errors"])

    def test_malformed_json_is_an_invalid_event(self, post_hook):
        response = post_hook(hook_url("pagerduty"), b'{"routing_key": ')

        assert response.status_code == 400
        assert response.json()["status"] == "invalid event"

    def test_an_unknown_routing_key_is_a_401(self, post_hook, event):
        event["routing_key"] = "0" * 32

        response = post_hook(hook_url("pagerduty"), event)

        assert response.status_code == 401
        assert response.json()["status"] == "unauthorized"


class TestGeneric:
    @pytest.mark.parametrize(
        ("payload", "field"),
        [
            ({}, "title"),
            ({"title": "  "}, "title"),
            ({"title": "x", "status": "done"}, "status"),
            ({"title": "x", "status": "resolved"}, "dedup_key"),
            ({"title": "x", "labels": {"a": 1}}, "labels.a"),
            ({"title": 5}, "title"),
        ],
    )
    def test_a_bad_generic_alert_is_a_400_naming_the_field(self, post_hook, payload, field):
        source, secret = make_source(AlertSource.Kind.GENERIC, "generic")

        response = post_hook(hook_url("generic", source), payload, secret)

        assert (response.status_code, response.json()["field"]) == (400, field)


# Text no database can store: PostgreSQL refuses NUL, UTF-8 cannot encode a lone surrogate. Both
# used to reach the database and answer 500, which Alertmanager retries for ever.
NUL, SURROGATE = "\x00", "\ud800"


def _am_with(change: str, bad: str) -> tuple[dict, str]:
    """A firing payload with `bad` text in one place; returns it and the field to be named."""
    payload = firing()
    alert = payload["alerts"][0]
    if change == "label value":
        alert["labels"]["service"] = f"pay{bad}ments"
        return payload, "alerts[0].labels.service"
    if change == "label key":
        alert["labels"][f"ser{bad}vice"] = "payments"
        return payload, f"alerts[0].labels.ser{bad}vice (a key)"
    if change == "fingerprint":
        alert["fingerprint"] = f"440d{bad}"
        return payload, "alerts[0].fingerprint"
    if change == "groupKey":
        payload["groupKey"] = f"{{}}:{{alertname={bad}}}"
        return payload, "groupKey"
    alert["annotations"]["summary"] = f"Error rate high{bad}"
    return payload, "alerts[0].annotations.summary"


class TestUnstorableText:
    @pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["NUL", "surrogate"])
    @pytest.mark.parametrize(
        "change", ["label value", "label key", "fingerprint", "groupKey", "summary"]
    )
    def test_alertmanager_text_that_cannot_be_stored_is_a_400_naming_the_field(
        self, post_hook, am, payments_rule, change, bad
    ):
        url, secret = am
        payload, field = _am_with(change, bad)

        response = post_hook(url, payload, secret)

        assert response.status_code == 400
        body = response.json()
        assert field in body["errors"]
        assert body["field"] in body["errors"]
        assert "NUL" in body["detail"] or "surrogate" in body["detail"]

    def test_pagerduty_text_that_cannot_be_stored_is_an_invalid_event(self, post_hook):
        _, routing_key = make_source(AlertSource.Kind.PAGERDUTY, "pd")
        event = sample("pagerduty-events-v2-trigger.json")
        event["routing_key"] = routing_key
        event["payload"]["custom_details"] = {"note": f"disk{NUL}full"}

        response = post_hook(hook_url("pagerduty"), event)

        assert response.status_code == 400
        body = response.json()
        assert body["status"] == "invalid event"
        assert any("payload.custom_details.note" in error for error in body["errors"])

    @pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["NUL", "surrogate"])
    def test_generic_text_that_cannot_be_stored_is_a_400(self, post_hook, bad):
        source, secret = make_source(AlertSource.Kind.GENERIC, "generic")
        payload = {"title": f"Disk full{bad}", "details": {"host": "db-1"}}

        response = post_hook(hook_url("generic", source), payload, secret)

        assert response.status_code == 400
        assert response.json()["field"] == "title"
