"""The Heartbeats panel of the alert triage page, as responders and viewers read it."""

import html
import re
from datetime import timedelta

import pytest
from django.urls import reverse

from incidents.heartbeats.models import Heartbeat
from incidents.heartbeats.services import heartbeat_record_ping, heartbeats_check
from tests import factories

from .conftest import GRACE, INTERVAL, T0, make_heartbeat

pytestmark = pytest.mark.django_db

NOW = T0 + timedelta(hours=2)


def words(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def row(response, heartbeat: Heartbeat) -> str:
    """Return the words of the heartbeat's row in the panel."""
    page = response.content.decode()
    match = re.search(rf'<tr id="heartbeat-{heartbeat.pk}"[^>]*>(.*?)</tr>', page, re.S)
    assert match, f"{heartbeat.name} is in the panel"
    return words(match.group(1))


@pytest.fixture
def four(payments, freeze):
    """A heartbeat in each state, seen at NOW."""
    waiting, _ = make_heartbeat(payments, name="new-exporter")
    up, _ = make_heartbeat(payments, name="nightly-backup")
    down, _ = make_heartbeat(payments, name="billing-export")
    paused, _ = make_heartbeat(payments, name="old-cron")
    heartbeat_record_ping(heartbeat=down, at=T0)
    (incident,) = heartbeats_check(now=T0 + INTERVAL + GRACE)
    heartbeat_record_ping(heartbeat=up, at=NOW - timedelta(minutes=3))
    heartbeat_record_ping(heartbeat=paused, at=T0)
    Heartbeat.objects.filter(pk=paused.pk).update(is_active=False)
    freeze(NOW)
    return waiting, up, down, paused, incident


def test_each_heartbeats_state_last_ping_and_next_expected_time(client, viewer_user, four):
    waiting, up, down, paused, incident = four
    client.force_login(viewer_user)

    response = client.get(reverse("alerting:triage"))

    assert response.status_code == 200
    assert "Heartbeats" in words(response.content.decode())
    assert row(response, waiting) == (
        "new-exporter every 10 min, 5 min grace Payments API Waiting for the first ping "
        "never after the first ping"
    )
    assert row(response, up) == (
        "nightly-backup every 10 min, 5 min grace Payments API Up "
        "2026-11-27 10:57 UTC 3 min ago 2026-11-27 11:07 UTC"
    )
    assert row(response, down) == (
        f"billing-export every 10 min, 5 min grace Payments API Missed {incident.reference} "
        "Triggered 2026-11-27 09:00 UTC 2 h ago 2026-11-27 09:10 UTC overdue by 1 h 50 min"
    )
    assert row(response, paused) == (
        "old-cron every 10 min, 5 min grace Payments API Paused 2026-11-27 09:00 UTC 2 h ago paused"
    )


def test_missed_heartbeats_come_first_and_link_to_their_incident(client, alice, four):
    _, _, down, _, incident = four
    client.force_login(alice)

    page = client.get(reverse("alerting:triage")).content.decode()

    order = re.findall(r'<tr id="heartbeat-(\d+)"', page)
    assert order[0] == str(down.pk)
    assert f'href="{reverse("incidents:detail", args=[incident.pk])}"' in page
    assert "Manage heartbeats" not in page


def test_managers_are_offered_the_back_office(client, four):
    client.force_login(factories.manager("mia"))

    page = client.get(reverse("alerting:triage")).content.decode()

    assert reverse("admin:heartbeats_heartbeat_changelist") in page


def test_without_heartbeats_there_is_no_panel(client, viewer_user):
    client.force_login(viewer_user)

    page = client.get(reverse("alerting:triage")).content.decode()

    assert 'id="heartbeats"' not in page
    assert "Nothing waits in triage" in words(page)
