"""The ping address: GET or POST with the secret in the path, nothing else, as senders use it."""

import pytest
from django.test import Client

from incidents.heartbeats.models import Heartbeat
from incidents.heartbeats.services import heartbeat_rotate_secret, heartbeats_check
from incidents.models import Incident

from .conftest import GRACE, INTERVAL, T0, ping_url

pytestmark = pytest.mark.django_db


def test_a_get_ping_starts_the_heartbeat_and_says_when_the_next_is_due(client, beat, freeze):
    heartbeat, secret = beat
    freeze(T0)

    response = client.get(ping_url(secret))

    assert response.status_code == 200
    assert response.json() == {
        "status": "first",
        "heartbeat": "nightly-backup",
        "next_expected_at": (T0 + INTERVAL).isoformat(),
    }
    assert "no-cache" in response["Cache-Control"]
    heartbeat.refresh_from_db()
    assert (heartbeat.state, heartbeat.last_ping_at, heartbeat.ping_count) == ("up", T0, 1)
    assert heartbeat.alarm_at == T0 + INTERVAL + GRACE


def test_a_post_ping_moves_the_next_expected_time_on(beat, freeze):
    heartbeat, secret = beat
    # A POST from a cron job's curl: no session, no CSRF token, an empty or tiny body.
    sender = Client(enforce_csrf_checks=True)
    freeze(T0)
    assert sender.post(ping_url(secret)).json()["status"] == "first"
    later = freeze(T0 + INTERVAL)

    response = sender.post(ping_url(secret), data="done in 42 s", content_type="text/plain")

    assert response.status_code == 200
    assert response.json()["status"] == "up"
    heartbeat.refresh_from_db()
    assert (heartbeat.last_ping_at, heartbeat.alarm_at) == (later, later + INTERVAL + GRACE)
    assert heartbeat.ping_count == 2


def test_the_address_without_its_trailing_slash_pings_too(client, beat):
    heartbeat, secret = beat

    assert client.post(ping_url(secret).rstrip("/")).status_code == 200

    heartbeat.refresh_from_db()
    assert heartbeat.state == "up"


@pytest.mark.parametrize("address", ["0" * 32, "not-a-secret", "x"])
def test_an_unknown_address_is_404_and_pings_nothing(client, beat, address):
    heartbeat, _ = beat

    response = client.get(ping_url(address))

    assert response.status_code == 404
    assert response.json() == {"detail": "No heartbeat has this address."}
    heartbeat.refresh_from_db()
    assert (heartbeat.state, heartbeat.ping_count) == ("waiting", 0)


def test_a_rotated_address_stops_working_and_the_new_one_pings(client, beat):
    heartbeat, old = beat

    new = heartbeat_rotate_secret(heartbeat=heartbeat)

    assert client.get(ping_url(old)).status_code == 404
    assert client.get(ping_url(new)).status_code == 200


def test_a_ping_with_a_large_body_is_refused_and_not_counted(client, beat):
    heartbeat, secret = beat

    response = client.post(ping_url(secret), data="x" * 5000, content_type="text/plain")

    assert response.status_code == 413
    heartbeat.refresh_from_db()
    assert heartbeat.ping_count == 0


def test_other_methods_are_refused(client, beat):
    _, secret = beat

    assert client.put(ping_url(secret)).status_code == 405


def test_a_paused_heartbeat_ignores_pings_and_never_alarms(client, beat, freeze):
    heartbeat, secret = beat
    freeze(T0)
    client.get(ping_url(secret))
    Heartbeat.objects.filter(pk=heartbeat.pk).update(is_active=False)
    freeze(T0 + INTERVAL)

    response = client.get(ping_url(secret))

    assert response.status_code == 200
    assert response.json()["status"] == "paused"
    heartbeat.refresh_from_db()
    assert (heartbeat.last_ping_at, heartbeat.ping_count) == (T0, 1)
    assert heartbeats_check(now=T0 + 10 * INTERVAL) == []
    assert not Incident.objects.exists()
