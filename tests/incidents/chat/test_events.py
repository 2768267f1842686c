"""Events API: the URL check, each event once, and pins in incident channels on the timeline."""

# Fixtures are imported from slack_requests and then named as test arguments.
# ruff: noqa: F811

from datetime import UTC, datetime

import pytest

from incidents.chat.models import ChatEvent
from incidents.models import Source, TimelineEvent

from .slack_requests import (  # noqa: F401 - fixtures
    event,
    incident_in_channel,
    people,
    retries_run_at_once,
    slack,
)

PINNED_TS = "1700000123.000200"


def pin_envelope(*, event_id="Ev01", channel="CINC", pinner="UBOB", message=None):
    item_message = (
        message
        if message is not None
        else {
            "type": "message",
            "user": "UCAROL",
            "text": "Root cause: the ledger migration locked <@UBOB|bob>'s table &amp; more",
            "ts": PINNED_TS,
        }
    )
    return {
        "token": "deprecated",
        "team_id": "TFIREBREAK",
        "api_app_id": "AFIREBREAK",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1700000200,
        "event": {
            "type": "pin_added",
            "user": pinner,
            "channel_id": channel,
            "item": {
                "type": "message",
                "channel": channel,
                "created": 1700000200,
                "created_by": pinner,
                "message": item_message,
            },
            "event_ts": "1700000200.000300",
        },
    }


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    def deliver(envelope, **headers):
        with django_capture_on_commit_callbacks(execute=True):
            response = event(client, envelope, **headers)
        assert response.status_code == 200
        return response

    return deliver


def pins(incident):
    return incident.timeline.filter(kind=TimelineEvent.Kind.NOTE, source=Source.SLACK)


def test_url_verification_is_answered(client, slack):
    response = event(client, {"type": "url_verification", "token": "t", "challenge": "3eZbrw1a"})
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1a"}


def test_a_pin_becomes_a_timeline_note_with_author_and_time(deliver, people, incident_in_channel):
    deliver(pin_envelope())

    note = pins(incident_in_channel).get()
    assert note.occurred_at == datetime.fromtimestamp(1700000123.0002, tz=UTC)
    assert note.actor == people["bob"]  # who pinned it
    assert note.message == "Root cause: the ledger migration locked @bob's table & more"
    assert note.data["channel"] == "CINC"
    assert note.data["ts"] == PINNED_TS
    assert note.data["author"] == "UCAROL"
    assert note.data["author_name"] == "Carol"


def test_a_retried_delivery_is_recorded_once(deliver, incident_in_channel):
    deliver(pin_envelope())
    deliver(pin_envelope(), HTTP_X_SLACK_RETRY_NUM="1", HTTP_X_SLACK_RETRY_REASON="http_timeout")

    assert ChatEvent.objects.filter(event_id="Ev01").count() == 1
    assert pins(incident_in_channel).count() == 1


def test_pinning_the_same_message_again_records_it_once(deliver, incident_in_channel):
    deliver(pin_envelope(event_id="Ev01"))
    deliver(pin_envelope(event_id="Ev02"))
    assert pins(incident_in_channel).count() == 1


def test_a_pin_in_another_channel_is_ignored(deliver, slack, incident_in_channel):
    deliver(pin_envelope(channel="CRANDOM"))
    assert not pins(incident_in_channel).exists()
    assert slack.called("conversations.history") == []


def test_a_pin_without_its_text_is_read_from_the_channel(deliver, slack, incident_in_channel):
    ts = slack.add_message("CINC", text="Mitigation: traffic moved to eu-west-2", user="UCAROL")
    deliver(pin_envelope(message={"type": "message", "ts": ts}))

    note = pins(incident_in_channel).get()
    assert note.message == "Mitigation: traffic moved to eu-west-2"
    assert note.data["author"] == "UCAROL"
    assert len(slack.called("conversations.history")) == 1


def test_a_pin_by_someone_unknown_keeps_their_name(deliver, incident_in_channel):
    deliver(pin_envelope(pinner="USTRANGER"))
    note = pins(incident_in_channel).get()
    assert note.actor is None
    assert note.data["pinned_by"] == "USTRANGER"
    assert note.data["pinned_by_name"] == "stranger"


def test_other_events_are_recorded_and_ignored(deliver, incident_in_channel):
    deliver(
        {
            "type": "event_callback",
            "event_id": "Ev09",
            "event": {"type": "reaction_added", "user": "UBOB", "reaction": "eyes"},
        }
    )
    assert ChatEvent.objects.get().kind == "reaction_added"
    assert not pins(incident_in_channel).exists()


def test_a_rate_limited_lookup_still_records_the_pin_once(
    deliver, slack, incident_in_channel, retries_run_at_once
):
    slack.rate_limit("users.info", retry_after=1)
    deliver(pin_envelope(pinner="USTRANGER"))
    assert pins(incident_in_channel).count() == 0  # waiting for the time Slack asked for
    retries_run_at_once()
    retries_run_at_once()
    assert pins(incident_in_channel).count() == 1
