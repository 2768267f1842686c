"""Acknowledge links: a confirm page on GET, acknowledgement on POST, once, for a limited time."""

import time
from datetime import timedelta

import pytest
from django.core import mail, signing
from django.template import Context, Template
from django.test import RequestFactory

from incidents.oncall.acks import IncidentAlreadyResolved, ack_token, page_acknowledge_as
from incidents.oncall.models import Page
from incidents.oncall.paging import incident_engage
from incidents.services import incident_resolve
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
    # The token is signed with the second it was made: compare the page it names.
    assert f"/ack/{page.pk}.{page.nonce}:" in mail_to_oncall.body

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


def test_a_link_of_a_resolved_incident_says_so_and_acknowledges_nothing(client, page, people):
    incident_resolve(incident=page.incident, actor=None, message="Recovered on its own")

    for response in (client.get(link(page)), client.post(link(page))):
        assert response.status_code == 409
        body = response.content.decode()
        assert f"{page.incident.reference} is already resolved" in body
        assert f'href="/incidents/{page.incident.pk}/"' in body
        assert "Acknowledge as" not in body
        assert "recorded as acknowledged" not in body
    page.refresh_from_db()
    assert page.acknowledged_at is None and page.used_at is None
    assert not page.incident.timeline.filter(kind="acknowledged").exists()
    # A chat button of the same page says the same.
    with pytest.raises(IncidentAlreadyResolved, match="already resolved"):
        page_acknowledge_as(page_id=page.pk, actor=people.oncall, source="slack")


def test_a_link_whose_incident_is_resolved_after_the_confirm_page_acknowledges_nothing(
    client, page
):
    assert b"Acknowledge as Olga" in client.get(link(page)).content
    incident_resolve(incident=page.incident, actor=None)

    response = client.post(link(page))

    assert response.status_code == 409
    assert b"is already resolved" in response.content
    page.refresh_from_db()
    assert page.acknowledged_at is None


def test_fyi_pages_and_pages_to_people_who_may_not_acknowledge_carry_no_link(
    paging_team, people, clock
):
    """The EM (a responder) and the VP (no responder) hear of a P1 at once, for information;
    when nobody acknowledges, escalation pages the EM, then the VP."""
    incident = factories.triggered("P1", team=paging_team)
    incident_engage(incident_id=incident.pk)
    clock.sweep()
    clock.advance(timedelta(hours=2))
    clock.sweep()

    mails = {(m.to[0], m.subject.split()[1]): m for m in mail.outbox}
    assert set(mails) >= {
        ("olga@example.com", "PAGE"),
        ("erin@example.com", "FYI"),
        ("victor@example.com", "FYI"),
        ("erin@example.com", "PAGE"),
        ("victor@example.com", "PAGE"),
    }
    for asked_to_act in (("olga@example.com", "PAGE"), ("erin@example.com", "PAGE")):
        assert "/ack/" in mails[asked_to_act].body
    for only_told in (
        ("erin@example.com", "FYI"),
        ("victor@example.com", "FYI"),
        ("victor@example.com", "PAGE"),  # not a responder: may not acknowledge
    ):
        assert "/ack/" not in mails[only_told].body
        assert "Acknowledge" not in mails[only_told].body
        assert f"/incidents/{incident.pk}/" in mails[only_told].body
