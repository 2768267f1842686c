"""A repeat of a firing alert counts only with its source's secret, at its address, when valid."""

import pytest

from incidents.alerting.models import Alert, AlertSource
from incidents.alerting.services import alert_source_rotate_secret
from incidents.models import Incident, TimelineEvent

from .conftest import firing, hook_url, make_source, resolved

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(send_am, payments_rule, am_source):
    """The firing sample, received once from the production source: (source, secret)."""
    send_am(firing())
    return am_source


def receive_count() -> int:
    return Alert.objects.get().receive_count


def test_a_repeat_is_counted_and_changes_nothing_else(post_hook, stored):
    source, secret = stored
    before = Alert.objects.get()
    events = TimelineEvent.objects.count()

    response = post_hook(hook_url("alertmanager", source), firing(), secret)

    assert response.status_code == 200
    assert response.json() == {
        "status": "success",
        "created": 0,
        "repeated": 1,
        "resolved": 0,
        "dropped": 0,
        "incidents_opened": [],
    }
    after = Alert.objects.get()
    assert (after.receive_count, after.status, after.incident_id) == (
        2,
        "firing",
        before.incident_id,
    )
    assert after.last_seen_at > before.last_seen_at
    assert Incident.objects.count() == 1
    assert TimelineEvent.objects.count() == events


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", "Bearer {secret}x", "Token {secret}", "Bearer "]
)
def test_a_repeat_without_the_secret_is_a_401_and_not_counted(post_hook, stored, authorization):
    source, secret = stored
    headers = {}
    if authorization is not None:
        headers["HTTP_AUTHORIZATION"] = authorization.format(secret=secret)

    response = post_hook(hook_url("alertmanager", source), firing(), **headers)

    assert response.status_code == 401
    assert receive_count() == 1


def test_a_repeat_with_another_sources_secret_is_a_401_and_not_counted(post_hook, stored):
    source, _ = stored
    _, other_secret = make_source(AlertSource.Kind.ALERTMANAGER, "staging")

    assert post_hook(hook_url("alertmanager", source), firing(), other_secret).status_code == 401
    assert receive_count() == 1


def test_a_repeat_from_a_deactivated_source_is_a_401_and_not_counted(post_hook, stored):
    source, secret = stored
    source.is_active = False
    source.save()

    assert post_hook(hook_url("alertmanager", source), firing(), secret).status_code == 401
    assert receive_count() == 1


def test_a_repeat_with_the_secret_it_had_before_a_rotation_is_a_401(post_hook, stored):
    source, old_secret = stored
    new_secret = alert_source_rotate_secret(source=source)
    url = hook_url("alertmanager", source)

    assert post_hook(url, firing(), old_secret).status_code == 401
    assert receive_count() == 1
    assert post_hook(url, firing(), new_secret).status_code == 200
    assert receive_count() == 2


def test_a_repeat_sent_to_the_grafana_address_is_a_404_and_not_counted(post_hook, stored):
    source, secret = stored

    response = post_hook(hook_url("grafana", source), firing(), secret)

    assert response.status_code == 404
    assert f"/hooks/alertmanager/{source.pk}/" in response.json()["detail"]
    assert receive_count() == 1


def test_a_grafana_repeat_is_counted_at_the_grafana_address(post_hook, payments_rule):
    source, secret = make_source(AlertSource.Kind.GRAFANA, "grafana")
    payload = firing()
    payload["version"] = "1"
    url = hook_url("grafana", source)

    assert post_hook(url, payload, secret).status_code == 200
    assert post_hook(url, payload, secret).json()["repeated"] == 1
    assert receive_count() == 2


def test_an_invalid_repeat_is_a_400_and_not_counted(post_hook, stored):
    source, secret = stored
    payload = firing()
    payload["version"] = "3"

    response = post_hook(hook_url("alertmanager", source), payload, secret)

    assert response.status_code == 400
    assert response.json()["field"] == "version"
    assert receive_count() == 1


def test_an_invalid_repeat_with_a_wrong_secret_is_a_401(post_hook, stored):
    source, _ = stored
    payload = firing()
    del payload["groupKey"]

    assert post_hook(hook_url("alertmanager", source), payload, "wrong").status_code == 401
    assert receive_count() == 1


class TestOneEpisodeUnderTwoGroupKeys:
    """Alertmanager regroups an alert (a new route or group_by): a new key, the same episode."""

    def test_its_resolve_under_the_new_key_resolves_the_stored_episode(self, send_am, stored):
        reply = send_am(resolved(groupKey='{}:{alertname="PaymentsDown", team="payments"}'))

        assert (reply["created"], reply["resolved"]) == (0, 1)
        alert = Alert.objects.get()
        assert alert.status == "resolved"
        assert alert.incident.status == "resolved"  # nobody acknowledged it

    def test_it_fires_on_under_the_new_key_as_the_same_episode(self, send_am, stored):
        payload = firing(groupKey='{}:{alertname="PaymentsDown", team="payments"}')
        payload["alerts"].append(firing(fingerprint="bbbb000000000002")["alerts"][0])

        reply = send_am(payload)

        assert (reply["created"], reply["repeated"]) == (1, 1)
        assert dict(Alert.objects.values_list("fingerprint", "receive_count")) == {
            "440d54076bcd8569": 2,
            "bbbb000000000002": 1,
        }
        assert Incident.objects.count() == 2  # the new key's group opens its own incident
