"""What the issue asks that the other chat tests left open: declare end to end with its repeats,
a button acted on after the answer, a configurable archive delay, and the app manifest."""

# Fixtures are imported from slack_requests and then named as test arguments.
# ruff: noqa: F811

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from django.urls import resolve, reverse

from incidents.chat import hooks
from incidents.chat.models import ChatCommand, IncidentChannel
from incidents.chat.services.channels import channel_open_schedule
from incidents.chat.tasks import fire_command_run
from incidents.models import Incident, IncidentRole, IncidentStatus, RoleAssignment
from incidents.services import incident_close, incident_resolve
from portal.models import Timer
from tests import factories

from .outbound import buttons, rendered
from .slack_requests import (  # noqa: F401 - fixtures
    button_payload,
    interact,
    people,
    replies,
    slack,
    slash,
    triggered_in_channel,
)

ROOT = Path(__file__).resolve().parents[3]
MANIFEST = ROOT / "deploy" / "slack-app-manifest.yml"
ADAPTER = ROOT / "portal" / "integrations" / "slack.py"


# --- Declare end to end, repeated ---------------------------------------------------------------


def test_a_declare_repeated_by_slack_and_run_twice_is_one_incident_one_channel_one_announcement(
    client, slack, people, settings, django_capture_on_commit_callbacks
):
    settings.FIREBREAK_SLACK_ANNOUNCE_CHANNEL = "#incidents"
    text = "declare P2 “checkout errors for EU cards”"
    with django_capture_on_commit_callbacks(execute=True):
        first = slash(client, slack, text, channel_id="CGENERAL", trigger_id="T-declare")
    assert first.json()["response_type"] == "ephemeral"
    # Slack delivers the same command again (same trigger id), and the task runs once more.
    with django_capture_on_commit_callbacks(execute=True) as again:
        repeat = slash(client, slack, text, channel_id="CGENERAL", trigger_id="T-declare")
    assert (repeat.status_code, repeat.content, again) == (200, b"", [])
    record = ChatCommand.objects.get()
    again = Timer(kind="chat.command_run", key="again", payload={"command_id": record.pk})
    assert fire_command_run(again) == "done before"

    incident = Incident.objects.get()
    assert (incident.title, incident.severity.code) == ("checkout errors for EU cards", "P2")
    commander = RoleAssignment.objects.get(incident=incident, role=IncidentRole.COMMANDER)
    assert commander.user == people["alice"]
    channel = IncidentChannel.objects.get(incident=incident)
    assert channel.name == f"inc-{incident.pk}-checkout-errors-for-eu-cards"
    assert [call["name"] for call in slack.called("conversations.create")] == [channel.name]
    assert "UALICE" in slack.channel(channel.channel_id).members  # the IC is in the war room

    [announcement] = slack.messages("incidents")
    assert announcement["text"] == (
        "⚠️ INCIDENT: checkout errors for EU cards. Investigating. IC: <@UALICE>"
    )
    assert f"|#{channel.name}>" in rendered(announcement)
    [welcome] = slack.messages(channel.channel_id)
    assert "*Status:* INVESTIGATING | MITIGATING | RESOLVED" in rendered(welcome)
    assert f"/incidents/{incident.pk}/" in rendered(welcome)
    assert [label for _, label, _ in buttons(welcome)] == ["Acknowledge", "Post update", "Resolve"]
    assert len(replies(slack, "cmd")) == 1


# --- Buttons are answered at once and acted on in a task -----------------------------------------


def test_a_button_is_answered_at_once_and_acted_on_after_the_answer(
    client, slack, people, triggered_in_channel, django_capture_on_commit_callbacks
):
    payload = button_payload(slack, "incident_ack", str(triggered_in_channel.pk), member_id="UBOB")
    with django_capture_on_commit_callbacks() as callbacks:
        response = interact(client, payload)

    assert response.status_code == 200
    triggered_in_channel.refresh_from_db()
    assert triggered_in_channel.status == IncidentStatus.TRIGGERED  # nothing done in the request
    assert ChatCommand.objects.get().finished_at is None
    assert len(callbacks) == 1

    callbacks[0]()
    triggered_in_channel.refresh_from_db()
    assert triggered_in_channel.status == IncidentStatus.ACKNOWLEDGED


# --- The archive delay is the setting's ----------------------------------------------------------


def test_the_channel_is_archived_after_the_configured_delay(slack, people, settings, clock):
    settings.FIREBREAK_SLACK_ARCHIVE_AFTER_HOURS = 2.0
    incident = factories.declared(people["alice"], "P3")
    channel_open_schedule(incident=incident, requested_by=people["alice"])
    clock.sweep()
    incident_resolve(incident=incident, actor=people["alice"])
    incident = incident_close(incident=incident, actor=people["alice"])
    clock.sweep()
    channel = IncidentChannel.objects.get(incident=incident)

    clock.advance(timedelta(hours=1, minutes=59))
    clock.sweep()
    assert not slack.channel(channel.channel_id).archived

    clock.advance(timedelta(minutes=2))
    clock.sweep()
    assert slack.channel(channel.channel_id).archived
    assert Timer.objects.get(kind="chat.archive").due_at == incident.closed_at + timedelta(hours=2)


# --- The app manifest ----------------------------------------------------------------------------

# The bot scope each Web API method the adapter calls needs on a public channel or a DM
# (docs.slack.dev/reference/methods/<method>); users.info needs users:read.email for the email
# that maps a member to a portal user. views.open and response urls need none.
SCOPES_BY_METHOD = {
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "conversations.archive": {"channels:manage"},
    "conversations.create": {"channels:manage"},
    "conversations.history": {"channels:history"},
    "conversations.invite": {"channels:manage"},
    "conversations.join": {"channels:join"},
    "conversations.list": {"channels:read"},
    "conversations.open": {"im:write"},
    "conversations.setTopic": {"channels:manage"},
    "conversations.unarchive": {"channels:manage"},
    "users.info": {"users:read", "users:read.email"},
    "users.lookupByEmail": {"users:read.email"},
    "views.open": set(),
    "response_url": set(),
}
SCOPES_BY_EVENT = {"pin_added": {"pins:read"}}


@pytest.fixture(scope="module")
def manifest():
    return yaml.safe_load(MANIFEST.read_text())


def test_the_manifest_points_slack_at_the_three_hook_urls(manifest):
    [command] = manifest["features"]["slash_commands"]
    settings_ = manifest["settings"]
    urls = {
        "commands": command["url"],
        "interactivity": settings_["interactivity"]["request_url"],
        "events": settings_["event_subscriptions"]["request_url"],
    }
    views = {
        "commands": hooks.slack_command,
        "interactivity": hooks.slack_interactivity,
        "events": hooks.slack_events,
    }
    for name, url in urls.items():
        path = urlsplit(url).path
        assert path == reverse(f"slack_hooks:{name}"), url
        assert resolve(path).func is views[name]
    assert command["command"] == "/incident"
    # Mentions must arrive as <@U…|name> for `role scribe @user` and `page @user`.
    assert command["should_escape"] is True
    assert settings_["interactivity"]["is_enabled"] is True


def test_the_manifest_grants_every_scope_the_adapter_and_the_events_need(manifest):
    granted = set(manifest["oauth_config"]["scopes"]["bot"])
    called = set(re.findall(r'_translated\("([^"]+)"\)', ADAPTER.read_text()))
    unknown = called - SCOPES_BY_METHOD.keys()
    assert not unknown, f"the adapter calls {unknown}: add their scopes here and in the manifest"
    needed = set().union(*(SCOPES_BY_METHOD[method] for method in called))
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert events == set(SCOPES_BY_EVENT)
    needed |= set().union(*SCOPES_BY_EVENT.values()) | {"commands"}
    assert needed - granted == set()


# --- A name held by a channel the app cannot see --------------------------------------------------


def test_a_name_held_by_a_channel_the_app_cannot_see_opens_under_a_new_one(slack, people, clock):
    incident = factories.declared(people["alice"], "P3", title="Search is slow")
    # A private channel of that name (an earlier install's, say): name_taken, and not listed.
    hidden = slack.add_channel(f"inc-{incident.pk}-search-is-slow", is_private=True)

    channel_open_schedule(incident=incident, requested_by=people["alice"])
    clock.sweep()

    channel = IncidentChannel.objects.get(incident=incident)
    assert channel.opened_at is not None
    assert channel.name == f"inc-{incident.pk}-search-is-slow-2"
    assert channel.channel_id != hidden.id
    assert len(slack.messages(channel.channel_id)) == 1  # the welcome
    assert slack.messages(hidden.id) == []
