"""Requests signed the way Slack signs them, sent through the Django test client."""

import itertools
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from incidents.chat.models import ChatAccount, IncidentChannel
from tests import factories
from tests.fakes.slack import SIGNING_SECRET, FakeSlack, signed_headers

COMMANDS = "/hooks/slack/commands/"
INTERACTIVITY = "/hooks/slack/interactivity/"
EVENTS = "/hooks/slack/events/"
FORM = "application/x-www-form-urlencoded"

_triggers = itertools.count(1)


def new_trigger() -> str:
    return f"trigger.{next(_triggers)}.abc"


def post_signed(client, path: str, body: bytes, content_type: str, **extra: Any):
    return client.post(
        path,
        data=body,
        content_type=content_type,
        **signed_headers(SIGNING_SECRET, body),
        **extra,
    )


def slash_body(
    fake: FakeSlack,
    text: str,
    *,
    member_id: str = "UALICE",
    channel_id: str = "CGENERAL",
    trigger_id: str | None = None,
    response_key: str = "cmd",
) -> bytes:
    return urlencode(
        {
            "token": "deprecated-verification-token",
            "team_id": "TFIREBREAK",
            "channel_id": channel_id,
            "channel_name": "general",
            "user_id": member_id,
            "user_name": member_id.lower(),
            "command": "/incident",
            "text": text,
            "api_app_id": "AFIREBREAK",
            "response_url": fake.response_url(response_key),
            "trigger_id": trigger_id or new_trigger(),
        }
    ).encode()


def slash(client, fake: FakeSlack, text: str, **kwargs: Any):
    """Send `/incident <text>` as Slack does."""
    return post_signed(client, COMMANDS, slash_body(fake, text, **kwargs), FORM)


def interact(client, payload: dict[str, Any]):
    body = urlencode({"payload": json.dumps(payload)}).encode()
    return post_signed(client, INTERACTIVITY, body, FORM)


def button_payload(
    fake: FakeSlack,
    action_id: str,
    value: str,
    *,
    member_id: str = "UALICE",
    channel_id: str = "CINC",
    trigger_id: str | None = None,
    response_key: str = "button",
) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": member_id, "username": member_id.lower(), "team_id": "TFIREBREAK"},
        "api_app_id": "AFIREBREAK",
        "container": {
            "type": "message",
            "message_ts": "1700000000.000100",
            "channel_id": channel_id,
        },
        "trigger_id": trigger_id or new_trigger(),
        "team": {"id": "TFIREBREAK"},
        "channel": {"id": channel_id, "name": "inc"},
        "message": {"type": "message", "ts": "1700000000.000100", "text": "…"},
        "response_url": fake.response_url(response_key),
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "actions",
                "value": value,
                "text": {"type": "plain_text", "text": "Go"},
                "action_ts": "1700000001.000200",
            }
        ],
    }


def submission_payload(
    *,
    incident_id: int,
    values: dict[str, str | None],
    member_id: str = "UALICE",
    view_id: str | None = None,
) -> dict[str, Any]:
    """A `view_submission` of the update form; each call is a new form unless `view_id` says."""
    view_id = view_id or f"V{next(_triggers):08d}"
    return {
        "type": "view_submission",
        "team": {"id": "TFIREBREAK"},
        "user": {"id": member_id, "username": member_id.lower()},
        "api_app_id": "AFIREBREAK",
        "trigger_id": new_trigger(),
        "view": {
            "id": view_id,
            "hash": f"1700000000.{view_id}",
            "type": "modal",
            "callback_id": "incident_status_update",
            "private_metadata": str(incident_id),
            "state": {
                "values": {
                    block: {"value": {"type": "plain_text_input", "value": value}}
                    for block, value in values.items()
                }
            },
        },
    }


def event(client, envelope: dict[str, Any], **extra: Any):
    return post_signed(client, EVENTS, json.dumps(envelope).encode(), "application/json", **extra)


def map_member(user, member_id: str) -> None:
    ChatAccount.objects.create(user=user, member_id=member_id)


@pytest.fixture
def slack(fake_slack: FakeSlack, db) -> FakeSlack:
    """A fake Slack that knows alice (UALICE), bob (UBOB), carol (UCAROL) and vera (UVERA)."""
    for member_id, name in (("UALICE", "alice"), ("UBOB", "bob"), ("UCAROL", "carol")):
        fake_slack.add_user(member_id, name=name, email=f"{name}@slack.example.com")
    fake_slack.add_user("UVERA", name="vera")
    fake_slack.add_user("USTRANGER", name="stranger", email="stranger@elsewhere.example.com")
    return fake_slack


@pytest.fixture
def people(slack, alice, bob, carol, viewer_user):
    """Portal users mapped to the fake's members by stored member id."""
    map_member(alice, "UALICE")
    map_member(bob, "UBOB")
    map_member(carol, "UCAROL")
    map_member(viewer_user, "UVERA")
    return {"alice": alice, "bob": bob, "carol": carol, "vera": viewer_user}


def open_channel(slack: FakeSlack, incident, channel_id: str = "CINC") -> IncidentChannel:
    """Make `channel_id` the incident's own channel, in the portal and in the fake."""
    name = f"inc-{incident.pk}-war-room"
    slack.add_channel(name, channel_id=channel_id, members={slack.bot_user_id})
    # A P1 reserves its channel when it opens; this one is open already.
    channel, _ = IncidentChannel.objects.update_or_create(
        incident=incident,
        platform="slack",
        defaults={"name": name, "channel_id": channel_id, "opened_at": timezone.now()},
    )
    return channel


@pytest.fixture
def incident_in_channel(slack, people):
    """A P1 that alice declared (she is IC), with its channel CINC."""
    incident = factories.declared(people["alice"], "P1")
    open_channel(slack, incident)
    return incident


@pytest.fixture
def triggered_in_channel(slack, people):
    """A P1 an alert opened (nobody acknowledged it, no IC), with its channel CINC."""
    incident = factories.triggered("P1")
    open_channel(slack, incident)
    return incident


def replies(slack: FakeSlack, key: str) -> list[dict[str, Any]]:
    """Return what was answered through one response url."""
    return [response for response in slack.responses if response["_key"] == key]


def reply_text(response: dict[str, Any]) -> str:
    """Return all the text of a reply (fallback text and blocks)."""
    return json.dumps(response, ensure_ascii=False)


@pytest.fixture
def retries_run_at_once(monkeypatch):
    """Return a function that lets the delay a busy chat asked for pass and fires what is due.

    A postponed timer waits for its time; the beat sweep then runs it, as this does.
    """
    from datetime import timedelta

    from django.utils import timezone

    from portal import timers

    def later(seconds: float = 5.0) -> int:
        moment = timezone.now() + timedelta(seconds=seconds)
        monkeypatch.setattr(timezone, "now", lambda: moment)
        fired = 0
        while count := timers.timers_sweep():
            fired += count
        return fired

    return later
