"""Public and signed-in pages refuse text no database can store with a 400, not a 500."""

import pytest
from django.test import Client

from incidents.models import Incident

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "/status/unsubscribe/%00/",
        "/status/subscribe/confirm/%00/",
        "/schedules/ical/%00.ics",
        "/status/?page=%00",
    ],
)
def test_a_nul_in_a_public_address_is_a_400(url):
    response = Client().get(url)

    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_a_one_click_unsubscribe_post_with_a_nul_token_is_a_400():
    response = Client().post("/status/unsubscribe/%00/", {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 400


def test_a_nul_in_a_submitted_form_field_is_a_400_and_nothing_is_declared(client, alice):
    client.force_login(alice)

    response = client.post("/incidents/declare/", {"title": "Payments down", "severity": "P1\x00"})

    assert response.status_code == 400
    assert "severity" in response.content.decode()
    assert Incident.objects.count() == 0
