"""Acknowledge links: a confirm page on GET, acknowledgement on POST, once, for a limited time."""

import time
from datetime import timedelta

import pytest
from django.core import mail, signing
from django.template import Context, Template
from django.test import RequestFactory

from incidents.oncall.acks import ack_token, page_acknowledge_as
from incidents.oncall.models import Page
from incidents.oncall.paging import incident_engage
from tests import factories


@pytest.fixture
def page(paging_team, people, clock):
    incident = factories.triggered("P1", team=paging_team)
    incident_engage(incident_id=incident.pk)
    clock.sweep()
    return Page.objects.get(incident=incident, kind="escalation")


def link(page):
    return f"/ack/{ack_token(page)}/"


def test_the_link_in_the_mail_shows_a_confirm_page_and_acknowledges_only_on_post(client, page):
    (mail_to_oncall,) = [m for m in mail.outbox if m.to == ["olga@example.com"]]
    assert f"http://testserver{link(page)}" in mail_to_oncall.body or link(page) in (
        mail_to_oncall.body
    )

    response = client.get(link(page))  # what a mail scanner does
    assert response.status_code == 200
    assert b"Acknowledge as Olga" in response.content
    page.incident.refresh_from_db()
    assert page.incident.status == "triggered"

    response = client.post(link(page))
    assert response.status_code == 200
    page.refresh_from_db()
    page.incident.refresh_from_db()
    assert page.incident.status == "acknowledged"
    assert page.incident.timeline.get(kind="acknowledged").actor.username == "olga"
    assert page.used_at is not None and page.acknowledged_at is not None
    assert not page.incident.pages.filter(kind="escalation", step_number=1).exists()


def test_a_used_link_is_refused(client, page):
    assert client.post(link(page)).status_code == 200
    for response in (client.get(link(page)), client.post(link(page))):
        assert response.status_code == 410
        assert b"already used" in response.content


def test_a_page_answered_another_way_spends_its_link(client, page):
    """Acknowledged from a chat button, the page's mailed link no longer acknowledges again."""
    answered, acted = page_acknowledge_as(page_id=page.pk, actor=page.recipient, source="slack")
    assert acted and answered.incident.status == "acknowledged"
    first_ack = answered.acknowledged_at

    response = client.post(link(page))

    assert response.status_code == 410
    assert b"already used" in response.content
    page.refresh_from_db()
    assert page.acknowledged_at == first_ack
    assert page_acknowledge_as(page_id=page.pk, actor=page.recipient, source="slack")[1] is False


def test_an_expired_link_is_refused(client, page, monkeypatch):
    token = ack_token(page)
    later = time.time() + 2 * 3600
    monkeypatch.setattr(signing.time, "time", lambda: later)
    response = client.post(f"/ack/{token}/")
    assert response.status_code == 410
    assert b"expired" in response.content
    page.incident.refresh_from_db()
    assert page.incident.status == "triggered"


def test_a_forged_or_truncated_link_is_refused(client, page):
    token = ack_token(page)
    assert client.get(f"/ack/{token[:-3]}/").status_code == 400
    forged = signing.TimestampSigner(salt="firebreak.oncall.ack-link").sign(f"{page.pk}.wrong")
    response = client.post(f"/ack/{forged}/")
    assert response.status_code == 400
    assert b"not valid" in response.content


def test_the_engagement_panel_shows_pages_and_the_next_escalation(page, people, clock):
    request = RequestFactory().get("/")
    request.user = people.em
    html = Template("{% include 'oncall/_incident_engagement.html' %}").render(
        Context({"incident": page.incident, "request": request})
    )
    assert "Not acknowledged yet" in html
    assert "Olga" in html and "Paged (escalation)" in html
    assert "Next escalation: step 2 pages <strong>engineering managers</strong>" in html
    assert "Page more people" in html  # no IC yet: any responder may


def test_page_more_from_the_incident_page(client, alice, bob, paging_team, clock):
    incident = factories.declared(alice, "P2", team=paging_team)
    client.force_login(alice)
    response = client.post(f"/schedules/incidents/{incident.pk}/page/", {"users": [bob.pk]})
    assert response.status_code == 302
    assert response["Location"].endswith(f"/incidents/{incident.pk}/#engagement")
    clock.advance(timedelta(seconds=1))
    clock.sweep()
    assert incident.pages.get(kind="manual").recipient == bob
    assert "bob@example.com" in {m.to[0] for m in mail.outbox}
