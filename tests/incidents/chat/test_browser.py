"""The incident page's Slack channel in a real headless Chromium, against the fake Slack.

The live server runs in this process, so it sees the settings the `fake_slack` fixture sets, and
Celery is eager here: opening the channel, the announcement and the welcome all happen in the
request that the button sends.
"""

import pytest

from incidents.chat.models import ChatPost, IncidentChannel
from tests import factories
from tests.fakes.slack import FakeSlack

from .outbound import buttons, rendered

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in_at(page, path: str, username: str) -> None:
    page.goto(page.base_url + path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**" + path)


def test_the_ic_opens_the_slack_channel_from_the_incident_page(
    browser_page, fake_slack: FakeSlack, settings
):
    page = browser_page
    settings.FIREBREAK_BASE_URL = page.base_url
    settings.FIREBREAK_SLACK_ANNOUNCE_CHANNEL = "#incidents"
    alice = factories.responder("alice", first_name="Alice")
    fake_slack.add_user("UALICE", email=alice.email, name="alice")
    incident = factories.declared(alice, "P3", title="Search is slow")  # P3: no channel yet
    assert not IncidentChannel.objects.exists()

    log_in_at(page, f"/incidents/{incident.pk}/", "alice")
    panel = page.locator(".chat-channel")
    sync_api.expect(panel).to_contain_text("no channel")
    page.get_by_role("button", name="Open Slack channel").click()
    page.wait_for_url(f"**/incidents/{incident.pk}/")

    channel = IncidentChannel.objects.get(incident=incident)
    assert channel.name == f"inc-{incident.pk}-search-is-slow"
    link = panel.get_by_role("link", name=f"#{channel.name}")
    sync_api.expect(link).to_be_visible()
    sync_api.expect(link).to_have_attribute(
        "href", f"https://slack.com/app_redirect?channel={channel.channel_id}"
    )
    sync_api.expect(page.get_by_role("button", name="Open Slack channel")).to_have_count(0)

    # Slack: one channel, the IC in it, announced once in #incidents, welcomed once.
    assert [call["name"] for call in fake_slack.called("conversations.create")] == [channel.name]
    assert "UALICE" in fake_slack.channel(channel.channel_id).members
    [announcement] = fake_slack.messages("incidents")
    assert announcement["text"] == "⚠️ INCIDENT: Search is slow. Investigating. IC: <@UALICE>"
    assert f"|#{channel.name}>" in rendered(announcement)
    [welcome] = fake_slack.messages(channel.channel_id)
    assert "Incident Commander: <@UALICE>" in rendered(welcome)
    assert [label for _, label, _ in buttons(welcome)] == ["Acknowledge", "Post update", "Resolve"]

    # Reloading the page changes nothing in Slack.
    page.reload()
    sync_api.expect(link).to_be_visible()
    assert len(fake_slack.called("conversations.create")) == 1
    assert {post.state for post in ChatPost.objects.filter(incident=incident)} == {"posted"}


def test_without_slack_the_incident_page_shows_nothing_of_it(browser_page, settings):
    page = browser_page
    settings.FIREBREAK_SLACK_BOT_TOKEN = ""
    settings.FIREBREAK_SLACK_SIGNING_SECRET = ""
    alice = factories.responder("alice", first_name="Alice")
    incident = factories.declared(alice, "P1")  # a P1 would get a channel with Slack on

    log_in_at(page, f"/incidents/{incident.pk}/", "alice")

    sync_api.expect(page.locator(".incident-head")).to_contain_text("P1 Critical")
    sync_api.expect(page.locator(".chat-channel")).to_have_count(0)
    sync_api.expect(page.get_by_text("Slack")).to_have_count(0)
    sync_api.expect(page.get_by_role("button", name="Open Slack channel")).to_have_count(0)
    assert not IncidentChannel.objects.exists()
