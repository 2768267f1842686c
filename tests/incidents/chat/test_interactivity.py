"""Buttons and the update form: opened inside the request, errors in Slack's shape, same rules."""

# Fixtures are imported from slack_requests and then named as test arguments.
# ruff: noqa: F811

import pytest

from incidents.chat.models import ChatCommand, ChatFormSubmission, ChatPost
from incidents.models import Incident, IncidentStatus, Source, StatusUpdate, TimelineEvent
from incidents.oncall.models import Page
from incidents.services import incident_mitigate, status_update_post
from tests import factories

from .slack_requests import (  # noqa: F401 - fixtures
    button_payload,
    incident_in_channel,
    interact,
    people,
    replies,
    reply_text,
    slack,
    slash,
    submission_payload,
    triggered_in_channel,
)

FIELDS = {
    "status": "INVESTIGATING",
    "impact": "Checkout fails for 30% of EU users",
    "last_action": "Rolled back payments-api to v41",
    "next_action": "Watching the error rate",
    "eta": "20 minutes",
}


def initial_values(view):
    return {
        block["block_id"]: block["element"].get("initial_value", "")
        for block in view["blocks"]
        if block["type"] == "input"
    }


def test_update_opens_the_form_inside_the_request(
    client, slack, people, incident_in_channel, django_capture_on_commit_callbacks
):
    Incident.objects.filter(pk=incident_in_channel.pk).update(impact="Payments fail for everyone")
    incident_mitigate(incident=incident_in_channel, actor=people["alice"])

    with django_capture_on_commit_callbacks() as callbacks:
        response = slash(client, slack, "update", channel_id="CINC", trigger_id="T-open")

    # Opened before the answer, with nothing left for later: the trigger expires in 3 s.
    assert [view["trigger_id"] for view in slack.views] == ["T-open"]
    assert callbacks == []
    assert response.status_code == 200
    assert response.content == b""
    view = slack.views[0]["view"]
    assert view["callback_id"] == "incident_status_update"
    assert view["private_metadata"] == str(incident_in_channel.pk)
    assert initial_values(view) == {
        "status": "MITIGATING",
        "impact": "Payments fail for everyone",
        "last_action": "",
        "next_action": "",
        "eta": "unknown",
    }
    assert not ChatCommand.objects.exists()


def test_the_form_starts_from_the_last_update_impact(client, slack, people, incident_in_channel):
    status_update_post(
        incident=incident_in_channel, actor=people["alice"], **dict(FIELDS, impact="Only EU")
    )
    slash(client, slack, "update", channel_id="CINC")
    assert initial_values(slack.views[0]["view"])["impact"] == "Only EU"


def test_update_outside_an_incident_channel_opens_nothing(client, slack, people):
    response = slash(client, slack, "update", channel_id="CGENERAL")
    assert "This is not an incident channel" in response.json()["text"]
    assert slack.views == []


def test_an_expired_trigger_is_explained(client, slack, people, incident_in_channel):
    slack.expire_trigger("T-old")
    response = slash(client, slack, "update", channel_id="CINC", trigger_id="T-old")
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert "couldn't open the update form (expired_trigger_id)" in body["text"]
    assert f"/incidents/{incident_in_channel.pk}/" in body["text"]


@pytest.mark.parametrize(
    ("member_id", "says"),
    [
        ("USTRANGER", "I don't know who you are in Firebreak"),
        ("UVERA", "Only responders may post status updates."),
    ],
)
def test_the_form_is_not_opened_for_who_may_not_post(
    client, slack, people, incident_in_channel, member_id, says
):
    response = slash(client, slack, "update", channel_id="CINC", member_id=member_id)
    assert says in response.json()["text"]
    assert slack.views == []


def test_the_post_update_button_refuses_privately(client, slack, people, incident_in_channel):
    payload = button_payload(
        slack, "incident_update", str(incident_in_channel.pk), member_id="UVERA", response_key="v"
    )
    assert interact(client, payload).status_code == 200
    assert slack.views == []
    assert "Only responders may post status updates." in reply_text(replies(slack, "v")[0])


def test_the_post_update_button_opens_the_form(client, slack, people, incident_in_channel):
    payload = button_payload(
        slack, "incident_update", str(incident_in_channel.pk), trigger_id="T-button"
    )
    response = interact(client, payload)
    assert response.status_code == 200
    assert [view["trigger_id"] for view in slack.views] == ["T-button"]
    assert not ChatCommand.objects.exists()


def test_a_submitted_update_is_posted(client, slack, people, incident_in_channel):
    response = interact(
        client,
        submission_payload(
            incident_id=incident_in_channel.pk, values=dict(FIELDS, status="mitigating")
        ),
    )

    assert response.status_code == 200
    assert response.content == b""  # closes the form
    update = StatusUpdate.objects.get()
    assert (update.incident, update.author, update.source) == (
        incident_in_channel,
        people["alice"],
        Source.SLACK,
    )
    assert update.status == "MITIGATING"
    assert update.impact == FIELDS["impact"]
    assert update.eta == "20 minutes"
    event = incident_in_channel.timeline.get(kind=TimelineEvent.Kind.STATUS_UPDATE)
    assert event.source == Source.SLACK


def test_a_form_submitted_twice_posts_one_update_and_one_message(
    client, slack, people, incident_in_channel
):
    payload = submission_payload(incident_id=incident_in_channel.pk, values=FIELDS)

    first = interact(client, payload)
    again = interact(client, payload)  # a double click: same view id and hash

    # Both close the form: the update the person sent is posted, once.
    assert (first.status_code, first.content) == (200, b"")
    assert (again.status_code, again.content) == (200, b"")
    update = StatusUpdate.objects.get()
    assert update.impact == FIELDS["impact"]
    assert incident_in_channel.timeline.filter(kind=TimelineEvent.Kind.STATUS_UPDATE).count() == 1
    # One message owed to the incident's channel, not two.
    posts = ChatPost.objects.filter(incident=incident_in_channel, kind=ChatPost.Kind.STATUS_UPDATE)
    assert [post.status_update for post in posts] == [update]


def test_a_refused_form_can_be_corrected_and_sent_again(client, slack, people, incident_in_channel):
    refused = interact(
        client,
        submission_payload(
            incident_id=incident_in_channel.pk, values=dict(FIELDS, impact=""), view_id="VFORM"
        ),
    )
    assert refused.json()["errors"] == {"impact": "This field is required."}

    corrected = interact(
        client,
        submission_payload(incident_id=incident_in_channel.pk, values=FIELDS, view_id="VFORM"),
    )

    assert corrected.content == b""
    update = StatusUpdate.objects.get()
    assert update.impact == FIELDS["impact"]
    assert ChatFormSubmission.objects.get(view_id="VFORM").status_update == update


def test_two_forms_post_two_updates(client, slack, people, incident_in_channel):
    for impact in ("Checkout fails in the EU", "Checkout fails everywhere"):
        interact(
            client,
            submission_payload(
                incident_id=incident_in_channel.pk, values=dict(FIELDS, impact=impact)
            ),
        )
    assert StatusUpdate.objects.count() == 2


def test_a_submission_without_a_view_id_is_refused(client, slack, people, incident_in_channel):
    payload = submission_payload(incident_id=incident_in_channel.pk, values=FIELDS)
    del payload["view"]["id"]
    response = interact(client, payload)
    assert response.status_code == 400
    assert not StatusUpdate.objects.exists()


def test_an_empty_eta_means_unknown(client, slack, people, incident_in_channel):
    interact(
        client,
        submission_payload(incident_id=incident_in_channel.pk, values=dict(FIELDS, eta=None)),
    )
    assert StatusUpdate.objects.get().eta == "unknown"


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"impact": "   "}, {"impact": "This field is required."}),
        ({"status": "FIXED"}, {"status": "Write INVESTIGATING, MITIGATING or RESOLVED."}),
        (
            {"last_action": "", "next_action": None},
            {"last_action": "This field is required.", "next_action": "This field is required."},
        ),
        ({"eta": "x" * 101}, {"eta": "Ensure this value has at most 100 characters (it has 101)."}),
    ],
)
def test_field_errors_come_back_in_the_form(
    client, slack, people, incident_in_channel, changes, errors
):
    response = interact(
        client,
        submission_payload(incident_id=incident_in_channel.pk, values=dict(FIELDS, **changes)),
    )
    assert response.status_code == 200
    assert response.json() == {"response_action": "errors", "errors": errors}
    assert not StatusUpdate.objects.exists()


def test_a_viewer_cannot_post_an_update(client, slack, people, incident_in_channel):
    response = interact(
        client,
        submission_payload(incident_id=incident_in_channel.pk, values=FIELDS, member_id="UVERA"),
    )
    assert response.json() == {
        "response_action": "errors",
        "errors": {"status": "Only responders may post status updates."},
    }
    assert not StatusUpdate.objects.exists()


def test_an_unknown_member_cannot_post_an_update(client, slack, people, incident_in_channel):
    response = interact(
        client,
        submission_payload(
            incident_id=incident_in_channel.pk, values=FIELDS, member_id="USTRANGER"
        ),
    )
    assert "I don't know who you are in Firebreak" in response.json()["errors"]["status"]
    assert not StatusUpdate.objects.exists()


@pytest.fixture
def press(client, slack, django_capture_on_commit_callbacks):
    """Click a button as a member and run what it enqueued; return the private replies."""

    def press(action_id, value, *, member_id="UALICE", channel_id="CINC", key="button"):
        payload = button_payload(
            slack, action_id, value, member_id=member_id, channel_id=channel_id, response_key=key
        )
        with django_capture_on_commit_callbacks(execute=True):
            response = interact(client, payload)
        assert response.status_code == 200
        return [reply_text(reply) for reply in replies(slack, key)]

    return press


def test_the_acknowledge_button(press, people, triggered_in_channel):
    answers = press("incident_ack", str(triggered_in_channel.pk), member_id="UBOB")
    triggered_in_channel.refresh_from_db()
    assert triggered_in_channel.status == IncidentStatus.ACKNOWLEDGED
    event = triggered_in_channel.timeline.get(kind=TimelineEvent.Kind.ACKNOWLEDGED)
    assert (event.actor, event.source) == (people["bob"], Source.SLACK)
    assert "Acknowledged" in answers[0]


def test_the_resolve_button_follows_the_same_rules(press, people, incident_in_channel):
    answers = press("incident_resolve", str(incident_in_channel.pk), member_id="UBOB")
    incident_in_channel.refresh_from_db()
    assert incident_in_channel.status == IncidentStatus.INVESTIGATING
    assert "Incident Commander (or staff) may resolve it." in answers[0]

    press("incident_resolve", str(incident_in_channel.pk), key="ic")
    incident_in_channel.refresh_from_db()
    assert incident_in_channel.status == IncidentStatus.RESOLVED


def test_link_buttons_are_ignored(client, slack, people):
    response = interact(client, button_payload(slack, "open_incident", "https://x"))
    assert response.status_code == 200
    assert not ChatCommand.objects.exists()


@pytest.fixture
def page_for_bob(people, slack):
    incident = factories.triggered("P1")
    return Page.objects.create(
        incident=incident,
        kind=Page.Kind.ESCALATION,
        step="esc-0.0-1",
        step_number=1,
        recipient=people["bob"],
        channel="slack",
        address="UBOB",
        state=Page.State.SENT,
    )


def test_acknowledge_from_a_page_dm(press, people, page_for_bob):
    answers = press("page_ack", str(page_for_bob.pk), member_id="UBOB", channel_id="DUBOB")

    page_for_bob.refresh_from_db()
    incident = page_for_bob.incident
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.ACKNOWLEDGED
    event = incident.timeline.get(kind=TimelineEvent.Kind.ACKNOWLEDGED)
    assert (event.actor, event.source) == (people["bob"], Source.SLACK)
    assert page_for_bob.acknowledged_at is not None
    assert f"Acknowledged {incident.reference}" in answers[0]
    assert ChatCommand.objects.get().incident == incident


def test_a_page_acknowledged_twice_says_so(press, page_for_bob):
    press("page_ack", str(page_for_bob.pk), member_id="UBOB", channel_id="DUBOB")
    answers = press(
        "page_ack", str(page_for_bob.pk), member_id="UBOB", channel_id="DUBOB", key="again"
    )
    assert "was acknowledged already" in answers[0]
    assert page_for_bob.incident.timeline.filter(kind=TimelineEvent.Kind.ACKNOWLEDGED).count() == 1


def test_a_viewer_cannot_acknowledge_someone_elses_page(press, page_for_bob):
    answers = press("page_ack", str(page_for_bob.pk), member_id="UVERA", channel_id="DUVERA")
    page_for_bob.refresh_from_db()
    assert page_for_bob.acknowledged_at is None
    assert page_for_bob.incident.status == IncidentStatus.TRIGGERED
    assert "This page was for Bob" in answers[0]
