"""The Slack endpoints refuse what Slack did not sign, and answer what needs no work at once."""

# Fixtures are imported from slack_requests and then named as test arguments.
# ruff: noqa: F811

import time

import pytest

from incidents.chat.commands import USAGE
from incidents.chat.models import ChatCommand, ChatEvent
from incidents.models import Incident
from tests.fakes.slack import SIGNING_SECRET, signed_headers

from .slack_requests import (  # noqa: F401 - fixtures
    COMMANDS,
    EVENTS,
    FORM,
    INTERACTIVITY,
    incident_in_channel,
    people,
    slack,
    slash,
    slash_body,
)

ENDPOINTS = [COMMANDS, INTERACTIVITY, EVENTS]


def declare_body(slack):
    return slash_body(slack, 'P1 "payment service down"')


def nothing_stored():
    return not Incident.objects.exists() and not ChatCommand.objects.exists()


def test_a_bad_signature_is_refused_and_nothing_happens(client, people, slack):
    body = declare_body(slack)
    headers = signed_headers("not-the-signing-secret", body)
    response = client.post(COMMANDS, data=body, content_type=FORM, **headers)
    assert response.status_code == 401
    assert nothing_stored()


def test_a_body_changed_after_signing_is_refused(client, people, slack):
    headers = signed_headers(SIGNING_SECRET, declare_body(slack))
    tampered = slash_body(slack, 'P1 "something else"')
    response = client.post(COMMANDS, data=tampered, content_type=FORM, **headers)
    assert response.status_code == 401
    assert nothing_stored()


def test_a_stale_timestamp_is_refused(client, people, slack):
    body = declare_body(slack)
    headers = signed_headers(SIGNING_SECRET, body, timestamp=int(time.time()) - 301)
    response = client.post(COMMANDS, data=body, content_type=FORM, **headers)
    assert response.status_code == 401
    assert nothing_stored()


def test_a_timestamp_from_the_future_is_refused(client, people, slack):
    body = declare_body(slack)
    headers = signed_headers(SIGNING_SECRET, body, timestamp=int(time.time()) + 301)
    assert client.post(COMMANDS, data=body, content_type=FORM, **headers).status_code == 401


@pytest.mark.parametrize("drop", ["HTTP_X_SLACK_SIGNATURE", "HTTP_X_SLACK_REQUEST_TIMESTAMP"])
def test_missing_signature_headers_are_refused(client, people, slack, drop):
    body = declare_body(slack)
    headers = signed_headers(SIGNING_SECRET, body)
    del headers[drop]
    assert client.post(COMMANDS, data=body, content_type=FORM, **headers).status_code == 401
    assert nothing_stored()


def test_a_malformed_timestamp_is_refused(client, people, slack):
    body = declare_body(slack)
    headers = signed_headers(SIGNING_SECRET, body)
    headers["HTTP_X_SLACK_REQUEST_TIMESTAMP"] = "yesterday"
    assert client.post(COMMANDS, data=body, content_type=FORM, **headers).status_code == 401


@pytest.mark.parametrize("path", ENDPOINTS)
def test_every_endpoint_checks_the_signature(client, slack, path):
    response = client.post(path, data=b"{}", content_type="application/json")
    assert response.status_code == 401
    assert not ChatEvent.objects.exists()


@pytest.mark.parametrize("path", ENDPOINTS)
def test_a_body_over_512_kb_is_refused(client, slack, path):
    body = b"text=" + b"x" * (512 * 1024)
    response = client.post(
        path, data=body, content_type=FORM, **signed_headers(SIGNING_SECRET, body)
    )
    assert response.status_code == 413


@pytest.mark.parametrize("path", ENDPOINTS)
def test_without_slack_configured_the_endpoints_do_not_exist(client, db, settings, path):
    settings.FIREBREAK_SLACK_BOT_TOKEN = ""
    settings.FIREBREAK_SLACK_SIGNING_SECRET = ""
    body = b"payload=%7B%7D"
    response = client.post(path, data=body, content_type=FORM, **signed_headers("x", body))
    assert response.status_code == 404


@pytest.mark.parametrize("path", ENDPOINTS)
def test_only_post_is_allowed(client, slack, path):
    assert client.get(path).status_code == 405


def test_a_signed_body_that_is_no_slash_command_is_a_bad_request(client, slack):
    body = b"text=hello"
    response = client.post(
        COMMANDS, data=body, content_type=FORM, **signed_headers(SIGNING_SECRET, body)
    )
    assert response.status_code == 400


@pytest.mark.parametrize("text", ["", "help"])
def test_help_is_answered_at_once_and_privately(client, people, slack, text):
    response = slash(client, slack, text)
    assert response.status_code == 200
    assert response.json() == {"response_type": "ephemeral", "text": USAGE}
    assert not ChatCommand.objects.exists()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("P9", "P9 is not a severity; use one of P1, P2, P3, P4."),
        ('P1 ""', "The title is empty"),
        ('P1 "payments down', "quotes are not balanced"),
        ("resolve please now", None),  # a note: fine, but not in an incident channel
    ],
)
def test_mistakes_are_answered_at_once_with_the_fix(client, people, slack, text, says):
    response = slash(client, slack, text)
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    if says:
        assert says in body["text"]
        assert '/incident P1 "payment service down"' in body["text"]
    else:
        assert "This is not an incident channel" in body["text"]
    assert nothing_stored()


def test_incident_commands_outside_an_incident_channel_are_refused(client, people, slack):
    response = slash(client, slack, "ack", channel_id="CGENERAL")
    assert "This is not an incident channel" in response.json()["text"]
    assert not ChatCommand.objects.exists()


def test_a_command_is_acknowledged_at_once_and_recorded_by_its_trigger(
    client, people, slack, incident_in_channel, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = slash(client, slack, "severity P2", channel_id="CINC", trigger_id="T-1")
    assert response.status_code == 200
    assert response.json()["response_type"] == "ephemeral"
    assert "Working on it" in response.json()["text"]
    record = ChatCommand.objects.get()
    assert (record.key, record.command, record.incident) == ("T-1", "severity", incident_in_channel)
    assert record.finished_at is None  # the work is left to the task
    assert len(callbacks) == 1


def test_a_repeated_trigger_acts_once(
    client, people, slack, incident_in_channel, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        slash(client, slack, "severity P2", channel_id="CINC", trigger_id="T-1")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = slash(client, slack, "severity P3", channel_id="CINC", trigger_id="T-1")
    assert response.status_code == 200
    assert callbacks == []
    assert ChatCommand.objects.count() == 1
    incident_in_channel.refresh_from_db()
    assert incident_in_channel.severity.code == "P2"
