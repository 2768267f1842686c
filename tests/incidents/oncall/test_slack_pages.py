"""Pages as Slack direct messages: an Acknowledge button and the ack link, retried like any."""

from datetime import timedelta

import pytest

from incidents.chat.models import IncidentChannel
from incidents.oncall.models import ContactMethod, Page
from incidents.oncall.paging import incident_engage
from tests import factories
from tests.incidents.chat.outbound import buttons, rendered

pytestmark = pytest.mark.django_db


@pytest.fixture
def slack(fake_slack, settings):
    settings.FIREBREAK_BASE_URL = "https://firebreak.example.com"
    fake_slack.add_user("UOLGA", email="olga@example.com", name="olga")
    return fake_slack


@pytest.fixture
def olga_on_slack(paging_team, people):
    ContactMethod.objects.create(
        user=people.oncall, kind=ContactMethod.Kind.SLACK, address="UOLGA", position=0
    )
    ContactMethod.objects.create(
        user=people.oncall, kind=ContactMethod.Kind.EMAIL, address="olga@example.com", position=1
    )
    return paging_team


def slack_page(incident) -> Page:
    return Page.objects.get(incident=incident, channel=ContactMethod.Kind.SLACK)


def test_a_page_arrives_as_a_dm_with_an_acknowledge_button(slack, olga_on_slack, clock):
    incident = factories.triggered("P2", team=olga_on_slack)
    incident_engage(incident_id=incident.pk)
    clock.sweep()

    page = slack_page(incident)
    [dm] = slack.messages("DUOLGA")
    assert dm["text"] == f"[P2] PAGE {incident.reference}: PaymentsDown"
    assert buttons(dm) == [("page_ack", "Acknowledge", str(page.pk))]
    assert "https://firebreak.example.com/ack/" in rendered(dm)
    assert f"https://firebreak.example.com/incidents/{incident.pk}/" in rendered(dm)
    assert page.state == Page.State.SENT
    assert page.provider_message_id == dm["ts"]
    # Her email method carries the same page too.
    assert (
        Page.objects.get(incident=incident, channel="email", recipient__username="olga").state
        == Page.State.SENT
    )


def test_a_rate_limited_dm_is_sent_once_after_retry_after(slack, olga_on_slack, clock):
    slack.rate_limit("conversations.open", retry_after=30)
    incident = factories.triggered("P2", team=olga_on_slack)
    incident_engage(incident_id=incident.pk)
    clock.sweep()
    page = slack_page(incident)
    assert page.state == Page.State.PENDING
    assert page.attempts == 0  # a rate limit is not a failed attempt

    clock.advance(timedelta(seconds=31))
    clock.sweep()

    page.refresh_from_db()
    assert page.state == Page.State.SENT
    assert len(slack.messages("DUOLGA")) == 1


def test_an_unreachable_slack_is_retried_like_other_channels(slack, olga_on_slack, clock):
    slack.server_error("conversations.open")
    incident = factories.triggered("P2", team=olga_on_slack)
    incident_engage(incident_id=incident.pk)
    clock.sweep()
    page = slack_page(incident)
    assert (page.state, page.attempts) == (Page.State.PENDING, 1)
    assert "Slack unavailable" in page.last_error

    clock.advance(timedelta(seconds=16))
    clock.sweep()

    page.refresh_from_db()
    assert (page.state, page.attempts) == (Page.State.SENT, 2)


def test_an_unknown_member_fails_the_slack_page_at_once(slack, olga_on_slack, people, clock):
    ContactMethod.objects.filter(kind=ContactMethod.Kind.SLACK).update(address="UGONE")
    incident = factories.triggered("P2", team=olga_on_slack)
    incident_engage(incident_id=incident.pk)
    clock.sweep()

    page = slack_page(incident)
    assert (page.state, page.attempts) == (Page.State.FAILED, 1)
    assert "user_not_found" in page.last_error
    assert (
        Page.objects.get(incident=incident, channel="email", recipient__username="olga").state
        == Page.State.SENT
    )


def test_without_slack_the_slack_method_is_not_used(olga_on_slack, clock):
    incident = factories.triggered("P2", team=olga_on_slack)
    incident_engage(incident_id=incident.pk)
    clock.sweep()
    assert not Page.objects.filter(incident=incident, channel=ContactMethod.Kind.SLACK).exists()
    assert Page.objects.get(incident=incident, kind="escalation").channel == "email"
    assert not IncidentChannel.objects.exists()


def test_an_fyi_dm_has_no_acknowledge_button_nor_link(slack, olga_on_slack, people, clock):
    slack.add_user("UERIN", email="erin@example.com", name="erin")
    ContactMethod.objects.create(user=people.em, kind=ContactMethod.Kind.SLACK, address="UERIN")
    incident = factories.triggered("P1", team=olga_on_slack)
    incident_engage(incident_id=incident.pk)
    clock.sweep()

    [dm] = slack.messages("DUERIN")
    assert dm["text"] == f"[P1] FYI {incident.reference}: PaymentsDown"
    assert buttons(dm) == []
    assert "/ack/" not in rendered(dm)
    assert f"https://firebreak.example.com/incidents/{incident.pk}/" in rendered(dm)
    [paged] = slack.messages("DUOLGA")
    assert [label for _, label, _ in buttons(paged)] == ["Acknowledge"]
