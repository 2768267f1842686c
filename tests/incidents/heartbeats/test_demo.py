"""The demo data has one heartbeat, recently pinged, whose printed address pings it."""

import re
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.utils import timezone

from incidents.heartbeats.models import Heartbeat
from incidents.heartbeats.services import heartbeats_check

pytestmark = pytest.mark.django_db


def test_the_demo_heartbeat_is_up_and_its_printed_address_pings_it(client):
    out = StringIO()
    call_command("demo_data", stdout=out)

    heartbeat = Heartbeat.objects.get()
    assert (heartbeat.state, heartbeat.service.slug, heartbeat.ping_count) == (
        "up",
        "payments-api",
        1,
    )
    assert heartbeats_check(now=timezone.now()) == []
    (address,) = re.findall(r"curl -fsS (\S+/hooks/heartbeat/\S+)", out.getvalue())
    assert client.get(urlsplit(address).path).json()["status"] == "up"
    # Loading again changes nothing.
    call_command("demo_data", stdout=StringIO())
    heartbeat.refresh_from_db()
    assert heartbeat.ping_count == 2
