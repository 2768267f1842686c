"""Reading what Slack sends: signatures, slash commands, interactivity, events, escaped text."""

import json
from urllib.parse import urlencode

import pytest

from portal.integrations.slack_inbound import (
    SlackRequestInvalid,
    ephemeral_reply,
    event_envelope_parse,
    interaction_parse,
    mention_member_id,
    modal_errors,
    pin_added_parse,
    plain_text,
    request_verified,
    slash_command_parse,
    ts_seconds,
)
from tests.fakes.slack import slack_signature

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NOW = 1_700_000_000
BODY = b"token=x&command=%2Fincident&text=ack"


def headers(*, timestamp=NOW, body=BODY, secret=SECRET):
    return {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": slack_signature(secret, str(timestamp), body),
    }


def verified(request_headers, *, body=BODY, now=NOW):
    return request_verified(signing_secret=SECRET, body=body, headers=request_headers, now=now)


def test_a_signed_request_within_five_minutes_is_valid():
    assert verified(headers())
    assert verified(headers(timestamp=NOW - 300))
    assert verified({k.lower(): v for k, v in headers().items()})


@pytest.mark.parametrize("age", [301, -301, 3600])
def test_a_stale_or_future_request_is_invalid(age):
    assert not verified(headers(timestamp=NOW - age))


def test_a_wrong_secret_or_changed_body_is_invalid():
    assert not verified(headers(secret="another"))
    assert not verified(headers(), body=BODY + b"&x=1")


@pytest.mark.parametrize("missing", ["X-Slack-Request-Timestamp", "X-Slack-Signature"])
def test_missing_headers_are_invalid(missing):
    request_headers = headers()
    del request_headers[missing]
    assert not verified(request_headers)


def test_malformed_headers_and_an_empty_secret_are_invalid():
    assert not verified({**headers(), "X-Slack-Request-Timestamp": "12e3"})
    assert not verified({**headers(), "X-Slack-Signature": ""})
    assert not request_verified(signing_secret=" ", body=BODY, headers=headers(), now=NOW)


def test_a_body_that_is_not_utf8_is_invalid_not_an_error():
    body = b"\xff\xfe"
    assert not verified(headers(body=body), body=body)


def test_mentions():
    assert mention_member_id("<@U024BE7LH|bob>") == "U024BE7LH"
    assert mention_member_id("<@W0123>") == "W0123"
    assert mention_member_id("@bob") is None
    assert mention_member_id("<#C123|general>") is None


def test_plain_text_reads_as_people_see_it():
    escaped = (
        "<@U1|ann> moved <#C9|payments> traffic &amp; paged <!here>: "
        "<https://grafana.example.com/d/1|p99> &lt;3 <mailto:a@b.example|a@b.example> "
        "<https://x.example/>"
    )
    assert plain_text(escaped) == (
        "@ann moved #payments traffic & paged @here: p99 (https://grafana.example.com/d/1) "
        "<3 a@b.example https://x.example/"
    )


def test_ts_seconds():
    assert ts_seconds("1700000123.000200") == pytest.approx(1700000123.0002)
    with pytest.raises(SlackRequestInvalid):
        ts_seconds("soon")


def test_slash_command_fields():
    body = urlencode(
        {
            "command": "/incident",
            "text": 'P1 "payments down"',
            "user_id": "U1",
            "user_name": "ann",
            "channel_id": "C1",
            "channel_name": "general",
            "team_id": "T1",
            "api_app_id": "A1",
            "trigger_id": "1.2.abc",
            "response_url": "https://hooks.slack.com/commands/T1/1/x",
        }
    ).encode()
    command = slash_command_parse(body)
    assert (command.command, command.text, command.member_id, command.channel_id) == (
        "/incident",
        'P1 "payments down"',
        "U1",
        "C1",
    )
    assert command.trigger_id == "1.2.abc"
    assert command.response_url.startswith("https://hooks.slack.com/")


def test_a_body_without_slash_command_fields_is_refused():
    with pytest.raises(SlackRequestInvalid, match="no command, user_id"):
        slash_command_parse(b"text=hello")


def form(payload):
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_block_actions():
    interaction = interaction_parse(
        form(
            {
                "type": "block_actions",
                "user": {"id": "U1"},
                "trigger_id": "t.1",
                "response_url": "https://hooks.slack.com/actions/1",
                "container": {"type": "message", "channel_id": "D1", "message_ts": "1.2"},
                "actions": [{"action_id": "page_ack", "value": "42", "type": "button"}],
            }
        )
    )
    assert interaction.kind == "block_actions"
    (action,) = interaction.actions
    assert (action.action_id, action.value, action.member_id, action.channel_id) == (
        "page_ack",
        "42",
        "U1",
        "D1",
    )
    assert (action.trigger_id, action.message_ts) == ("t.1", "1.2")


def test_view_submission_values_by_block():
    interaction = interaction_parse(
        form(
            {
                "type": "view_submission",
                "user": {"id": "U1"},
                "view": {
                    "callback_id": "incident_status_update",
                    "private_metadata": "7",
                    "state": {
                        "values": {
                            "impact": {"value": {"type": "plain_text_input", "value": "EU"}},
                            "eta": {"value": {"type": "plain_text_input", "value": None}},
                        }
                    },
                },
            }
        )
    )
    submission = interaction.submission
    assert submission is not None
    assert (submission.callback, submission.member_id, submission.metadata) == (
        "incident_status_update",
        "U1",
        "7",
    )
    assert submission.values == {"impact": "EU", "eta": ""}


@pytest.mark.parametrize(
    "body", [b"", b"payload=not-json", form([1, 2]), form({"type": "block_actions"})]
)
def test_malformed_interactivity_is_refused(body):
    with pytest.raises(SlackRequestInvalid):
        interaction_parse(body)


def test_other_interactions_are_passed_through():
    assert interaction_parse(form({"type": "view_closed"})).kind == "view_closed"


def test_event_envelopes():
    check = event_envelope_parse(b'{"type": "url_verification", "challenge": "abc"}')
    assert (check.kind, check.challenge) == ("url_verification", "abc")
    callback = event_envelope_parse(
        json.dumps(
            {"type": "event_callback", "event_id": "Ev1", "event": {"type": "pin_added"}}
        ).encode()
    )
    assert (callback.kind, callback.event_id, callback.event_type) == (
        "event_callback",
        "Ev1",
        "pin_added",
    )


@pytest.mark.parametrize(
    "body",
    [
        b"nope",
        b"[]",
        b'{"type": "url_verification"}',
        b'{"type": "event_callback", "event": {"type": "pin_added"}}',
    ],
)
def test_malformed_events_are_refused(body):
    with pytest.raises(SlackRequestInvalid):
        event_envelope_parse(body)


def test_pin_added():
    pin = pin_added_parse(
        {
            "type": "pin_added",
            "user": "U2",
            "channel_id": "C1",
            "item": {
                "type": "message",
                "channel": "C1",
                "message": {"user": "U3", "text": "Root cause", "ts": "1.5"},
            },
        }
    )
    assert pin is not None
    assert (pin.channel_id, pin.message_ts, pin.pinned_by, pin.author_member_id, pin.text) == (
        "C1",
        "1.5",
        "U2",
        "U3",
        "Root cause",
    )


def test_a_pinned_file_is_not_a_message():
    assert pin_added_parse({"type": "pin_added", "item": {"type": "file"}}) is None


def test_answers():
    assert ephemeral_reply("hi") == {"response_type": "ephemeral", "text": "hi"}
    assert modal_errors({"impact": "Fill it in"}) == {
        "response_action": "errors",
        "errors": {"impact": "Fill it in"},
    }
