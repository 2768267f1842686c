"""Managers set heartbeats up in the back-office; the ping address is shown once, rotatable."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from incidents.alerting.models import AlertSource
from incidents.heartbeats.models import Heartbeat
from tests import factories
from tests.incidents.alerting.conftest import make_source

from .conftest import make_heartbeat, ping_url

pytestmark = pytest.mark.django_db


def shown_address(response) -> str:
    match = re.search(
        r'<code class="ping-url">http://127\.0\.0\.1:8000/hooks/heartbeat/([0-9a-f]{32})/</code>',
        response.content.decode(),
    )
    assert match, "the page shows a ping address"
    return match.group(1)


def form(service, **fields) -> dict:
    return {
        "name": "nightly-backup",
        "description": "",
        "service": service.pk,
        "severity": factories.severity("P2").pk,
        "interval": "1 00:00:00",
        "grace": "01:00:00",
        "is_active": "on",
        "alertname": "Watchdog",
        "match_labels": "{}",
        **fields,
    }


@pytest.fixture
def manager(client):
    user = factories.manager("mia")
    client.force_login(user)
    return user


def test_a_manager_adds_a_heartbeat_and_sees_its_ping_address_once(client, manager, payments):
    response = client.post(reverse("admin:heartbeats_heartbeat_add"), form(payments))

    assert response.status_code == 200
    secret = shown_address(response)
    heartbeat = Heartbeat.objects.get()
    assert (heartbeat.interval, heartbeat.grace) == (timedelta(days=1), timedelta(hours=1))
    assert (heartbeat.state, heartbeat.severity.code) == ("waiting", "P2")
    assert secret not in heartbeat.secret_digest
    assert client.get(ping_url(secret)).json()["status"] == "first"
    # Afterwards the change page never shows the address again.
    page = client.get(reverse("admin:heartbeats_heartbeat_change", args=[heartbeat.pk]))
    assert page.status_code == 200
    assert secret not in page.content.decode()


def test_the_add_form_proposes_p2(client, manager):
    page = client.get(reverse("admin:heartbeats_heartbeat_add")).content.decode()

    p2 = factories.severity("P2").pk
    assert re.search(rf'<option value="{p2}" selected>', page)


def test_a_new_address_retires_the_old_one(client, manager, payments):
    heartbeat, old = make_heartbeat(payments)

    response = client.post(
        reverse("admin:heartbeats_heartbeat_changelist"),
        {"action": "issue_new_ping_address", "_selected_action": [heartbeat.pk]},
    )

    new = shown_address(response)
    assert client.get(ping_url(old)).status_code == 404
    assert client.get(ping_url(new)).status_code == 200


def test_only_an_alertmanager_source_can_feed_a_heartbeat(client, manager, payments):
    pagerduty, _ = make_source(AlertSource.Kind.PAGERDUTY, "pd")
    alertmanager, _ = make_source(AlertSource.Kind.ALERTMANAGER, "am")

    refused = client.post(
        reverse("admin:heartbeats_heartbeat_add"), form(payments, alert_source=pagerduty.pk)
    )
    accepted = client.post(
        reverse("admin:heartbeats_heartbeat_add"), form(payments, alert_source=alertmanager.pk)
    )

    assert refused.status_code == 200
    assert "Select a valid choice" in refused.content.decode()
    assert shown_address(accepted)
    assert Heartbeat.objects.get().alert_source == alertmanager


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("interval", "00:00:30", "greater than or equal to 0:01:00"),
        ("match_labels", '{"prometheus": 1}', "Write an object of label names to values"),
    ],
)
def test_bad_settings_are_refused_with_a_reason(client, manager, payments, field, value, error):
    response = client.post(
        reverse("admin:heartbeats_heartbeat_add"), form(payments, **{field: value})
    )

    assert error in response.content.decode()
    assert not Heartbeat.objects.exists()


def test_an_edit_in_the_back_office_keeps_the_pings(client, manager, payments):
    heartbeat, secret = make_heartbeat(payments)
    client.get(ping_url(secret))

    response = client.post(
        reverse("admin:heartbeats_heartbeat_change", args=[heartbeat.pk]),
        form(payments, interval="02:00:00"),
    )

    assert response.status_code == 302
    heartbeat.refresh_from_db()
    assert (heartbeat.state, heartbeat.ping_count) == ("up", 1)
    assert heartbeat.alarm_at == heartbeat.last_ping_at + timedelta(hours=3)


def test_a_viewer_cannot_enter_the_back_office(client, viewer_user, payments):
    make_heartbeat(payments)
    client.force_login(viewer_user)

    response = client.get(reverse("admin:heartbeats_heartbeat_changelist"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
