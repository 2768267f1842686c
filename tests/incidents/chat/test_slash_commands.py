"""Every `/incident` subcommand end to end: signed request → task → same service → private reply."""

# Fixtures are imported from slack_requests and then named as test arguments.
# ruff: noqa: F811

import pytest

from incidents.chat.models import ChatAccount, ChatCommand
from incidents.chat.tasks import fire_command_run
from incidents.models import (
    Incident,
    IncidentRole,
    IncidentStatus,
    RoleAssignment,
    Source,
    TimelineEvent,
)
from incidents.oncall.models import Page
from portal.integrations.chat import ChatRateLimited
from portal.integrations.slack import SlackPlatform
from portal.models import Timer
from tests import factories

from .slack_requests import (  # noqa: F401 - fixtures
    incident_in_channel,
    open_channel,
    people,
    replies,
    reply_text,
    retries_run_at_once,
    slack,
    slash,
    triggered_in_channel,
)


@pytest.fixture
def run(client, slack, django_capture_on_commit_callbacks):
    """Send `/incident <text>` and run what it enqueued; return the private replies."""

    def run(text, *, member_id="UALICE", channel_id="CINC", key="cmd"):
        with django_capture_on_commit_callbacks(execute=True):
            response = slash(
                client, slack, text, member_id=member_id, channel_id=channel_id, response_key=key
            )
        assert response.status_code == 200
        return [reply_text(reply) for reply in replies(slack, key)]

    return run


def test_declare_makes_the_caller_incident_commander(run, people):
    answers = run("P1 “payment service down”", channel_id="CGENERAL")

    incident = Incident.objects.get()
    assert (incident.title, incident.severity.code) == ("payment service down", "P1")
    assert incident.status == IncidentStatus.INVESTIGATING
    assert incident.source == Source.SLACK
    assert incident.declared_by == people["alice"]
    commander = RoleAssignment.objects.get(incident=incident, role=IncidentRole.COMMANDER)
    assert commander.user == people["alice"]
    assert incident.timeline.filter(kind=TimelineEvent.Kind.DECLARED, source=Source.SLACK).exists()
    assert len(answers) == 1
    assert f"Declared {incident.reference} (P1): payment service down" in answers[0]
    assert "You are Incident Commander" in answers[0]
    assert f"/incidents/{incident.pk}/" in answers[0]
    assert '"response_type": "ephemeral"' in answers[0]
    record = ChatCommand.objects.get()
    assert record.incident == incident
    assert record.finished_at is not None


def test_declare_opens_one_channel_and_announces_it(run, people, slack):
    pytest.importorskip("incidents.chat.services.channels")
    from incidents.chat.models import IncidentChannel

    run('P1 "payment service down"', channel_id="CGENERAL")

    incident = Incident.objects.get()
    channel = IncidentChannel.objects.get(incident=incident)
    assert channel.channel_id
    assert channel.name.startswith(f"inc-{incident.pk}-")
    assert len(slack.called("conversations.create")) == 1
    announcements = [
        message for message in slack.messages("incidents") if "INCIDENT" in message["text"]
    ]
    assert len(announcements) == 1
    assert "payment service down" in announcements[0]["text"]


@pytest.mark.parametrize("code", ["P3", "P4"])
def test_a_less_severe_declaration_gets_no_channel_unless_asked(run, people, slack, code):
    from incidents.chat.models import ChatPost, IncidentChannel

    answers = run(f'{code} "search is slow"', channel_id="CGENERAL")

    incident = Incident.objects.get()
    assert incident.severity.code == code
    # As for any other way of declaring it: the war room is for P1 and P2.
    assert not IncidentChannel.objects.filter(incident=incident).exists()
    assert not ChatPost.objects.filter(incident=incident).exists()
    assert slack.called("conversations.create") == []
    assert f"Declared {incident.reference} ({code}): search is slow" in answers[0]
    assert "get no channel of their own; open one from the incident page" in answers[0]
    assert f"/incidents/{incident.pk}/" in answers[0]


def test_a_member_is_recognised_by_email_once(run, slack, alice):
    alice.email = "alice@slack.example.com"
    alice.save()

    run('P2 "search is slow"', channel_id="CGENERAL")

    incident = Incident.objects.get()
    assert incident.declared_by == alice
    assert ChatAccount.objects.get(member_id="UALICE").user == alice


@pytest.fixture
def answer(client, slack, django_capture_on_commit_callbacks):
    """Send `/incident <text>`; return the immediate answer and the replies sent later."""

    def answer(text, *, member_id, channel_id="CGENERAL"):
        with django_capture_on_commit_callbacks(execute=True):
            response = slash(
                client, slack, text, member_id=member_id, channel_id=channel_id, response_key="k"
            )
        assert response.status_code == 200
        return response.json()["text"], [reply_text(reply) for reply in replies(slack, "k")]

    return answer


def test_an_unknown_member_is_refused_at_once_and_nothing_happens(answer, people):
    now, later = answer('P2 "payment service down"', member_id="USTRANGER")

    # The first and only answer is the refusal, never "Declaring P2 …".
    assert "I don't know who you are in Firebreak" in now
    assert "Slack member ID" in now
    assert later == []
    assert not Incident.objects.exists()
    assert not ChatCommand.objects.exists()


def test_an_unknown_member_cannot_act_in_an_incident_channel(answer, triggered_in_channel):
    now, later = answer("ack", member_id="USTRANGER", channel_id="CINC")

    assert "I don't know who you are in Firebreak" in now
    assert later == []
    triggered_in_channel.refresh_from_db()
    assert triggered_in_channel.status == IncidentStatus.TRIGGERED


def test_a_member_lookup_slack_refuses_is_explained_at_once(answer, slack, people):
    slack.fail("users.info", "missing_scope")
    now, later = answer('P1 "payment service down"', member_id="USTRANGER")
    assert "I couldn't look you up in Slack (missing_scope)" in now
    assert later == []
    assert not Incident.objects.exists()


def test_a_member_lookup_slack_refuses_when_the_command_runs_is_explained(run, slack, people):
    slack.rate_limit("users.info")  # busy when the command arrives: taken all the same
    slack.fail("users.info", "missing_scope")  # and refused when it runs
    answers = run('P1 "payment service down"', member_id="USTRANGER", channel_id="CGENERAL")
    assert not Incident.objects.exists()
    assert "I couldn't look you up in Slack (missing_scope)" in answers[0]


def test_a_viewer_cannot_declare_and_is_told_at_once(answer, people):
    now, later = answer('P1 "payment service down"', member_id="UVERA")
    assert now == "Only responders may declare incidents."
    assert later == []
    assert not Incident.objects.exists()


def test_ack_acknowledges_a_triggered_incident(run, people, triggered_in_channel):
    answers = run("ack", member_id="UBOB")

    incident = Incident.objects.get(pk=triggered_in_channel.pk)
    assert incident.status == IncidentStatus.ACKNOWLEDGED
    event = incident.timeline.get(kind=TimelineEvent.Kind.ACKNOWLEDGED)
    assert (event.actor, event.source) == (people["bob"], Source.SLACK)
    assert f"Acknowledged {incident.reference}" in answers[0]


def test_ack_on_a_declared_incident_says_it_is_acknowledged(run, incident_in_channel):
    answers = run("ack", member_id="UBOB")
    assert "is already acknowledged; it is investigating" in answers[0]


def test_severity_by_the_incident_commander(run, incident_in_channel):
    answers = run("severity p2 smaller blast radius")

    incident = Incident.objects.get(pk=incident_in_channel.pk)
    assert incident.severity.code == "P2"
    event = incident.timeline.get(kind=TimelineEvent.Kind.SEVERITY_CHANGED)
    assert event.source == Source.SLACK
    assert "smaller blast radius" in event.message
    assert "is now P2 (was P1)" in answers[0]


def test_severity_by_a_responder_who_is_not_ic_is_refused(run, incident_in_channel):
    answers = run("severity P3", member_id="UBOB")

    assert Incident.objects.get(pk=incident_in_channel.pk).severity.code == "P1"
    assert "Only INC-" in answers[0] and "Incident Commander (or staff) may change" in answers[0]
    assert ChatCommand.objects.get().outcome.startswith("✗")


def test_role_to_a_mentioned_member(run, people, incident_in_channel):
    answers = run("role scribe <@UBOB|bob>")

    assignment = RoleAssignment.objects.get(
        incident=incident_in_channel, role=IncidentRole.SCRIBE, ended_at__isnull=True
    )
    assert assignment.user == people["bob"]
    assert assignment.assigned_by == people["alice"]
    event = incident_in_channel.timeline.filter(kind=TimelineEvent.Kind.ROLE_ASSIGNED).last()
    assert event.source == Source.SLACK
    assert "Bob is Scribe of" in answers[0]


def test_role_taken_by_oneself(run, people, incident_in_channel):
    answers = run("role investigator me", member_id="UBOB")
    assert (
        RoleAssignment.objects.get(
            incident=incident_in_channel, role=IncidentRole.INVESTIGATOR
        ).user
        == people["bob"]
    )
    assert "You are Investigator of" in answers[0]


def test_role_for_an_unknown_member_is_refused(run, incident_in_channel):
    answers = run("role scribe <@USTRANGER|stranger>")
    assert not RoleAssignment.objects.filter(role=IncidentRole.SCRIBE).exists()
    assert "I don't know who" in answers[0] and "USTRANGER" in answers[0]


def test_role_given_by_a_responder_who_is_not_ic_is_refused(run, incident_in_channel):
    answers = run("role commander <@UCAROL>", member_id="UBOB")
    commander = RoleAssignment.objects.get(
        incident=incident_in_channel, role=IncidentRole.COMMANDER, ended_at__isnull=True
    )
    assert commander.user.username == "alice"
    assert "may assign or take away roles" in answers[0]


def test_page_more_people(run, people, incident_in_channel):
    answers = run("page <@UBOB|bob> <@UCAROL|carol>")

    paged = set(
        Page.objects.filter(incident=incident_in_channel, kind=Page.Kind.MANUAL).values_list(
            "recipient__username", flat=True
        )
    )
    assert paged == {"bob", "carol"}
    note = incident_in_channel.timeline.get(kind=TimelineEvent.Kind.NOTE)
    assert note.source == Source.SLACK
    assert "Paged Bob, Carol for" in answers[0]


def test_page_with_an_unknown_member_pages_nobody(run, incident_in_channel):
    answers = run("page <@UBOB|bob> <@USTRANGER>")
    assert not Page.objects.filter(kind=Page.Kind.MANUAL).exists()
    assert "so I paged nobody" in answers[0]


def test_mitigated_then_resolve(run, incident_in_channel):
    run("mitigated rolled back to v41")
    incident = Incident.objects.get(pk=incident_in_channel.pk)
    assert incident.status == IncidentStatus.MITIGATED
    assert incident.timeline.get(kind=TimelineEvent.Kind.MITIGATED).message == (
        "rolled back to v41"
    )

    answers = run("resolve", key="second")
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert incident.timeline.get(kind=TimelineEvent.Kind.RESOLVED).source == Source.SLACK
    assert f"{incident.reference} is resolved." in answers[0]


def test_a_viewer_cannot_resolve(run, incident_in_channel):
    answers = run("resolve", member_id="UVERA")
    assert Incident.objects.get(pk=incident_in_channel.pk).status == IncidentStatus.INVESTIGATING
    assert "Incident Commander (or staff) may resolve it." in answers[0]


def test_a_responder_who_is_not_ic_cannot_resolve(run, incident_in_channel):
    answers = run("resolve", member_id="UBOB")
    assert Incident.objects.get(pk=incident_in_channel.pk).status == IncidentStatus.INVESTIGATING
    assert "Incident Commander (or staff) may resolve it." in answers[0]


def test_any_responder_may_resolve_while_there_is_no_ic(run, triggered_in_channel):
    run("resolve", member_id="UBOB")
    assert Incident.objects.get(pk=triggered_in_channel.pk).status == IncidentStatus.RESOLVED


def test_an_illegal_transition_is_explained(run, incident_in_channel):
    run("resolve")
    answers = run("mitigated", key="again")
    assert "is resolved; it can't move to mitigated" in answers[0]


def test_a_duplicate_task_run_acts_and_replies_once(run, slack, incident_in_channel):
    run("severity P2")
    record = ChatCommand.objects.get()

    again = Timer(kind="chat.command_run", key="again", payload={"command_id": record.pk})
    assert fire_command_run(again) == "done before"

    incident = Incident.objects.get(pk=incident_in_channel.pk)
    assert incident.timeline.filter(kind=TimelineEvent.Kind.SEVERITY_CHANGED).count() == 1
    assert len(replies(slack, "cmd")) == 1


def test_a_rate_limited_member_lookup_is_retried_and_declares_once(
    run, slack, alice, retries_run_at_once
):
    alice.email = "alice@slack.example.com"
    alice.save()
    # Busy when the command arrives (it is taken all the same) and when it first runs.
    slack.rate_limit("users.info", retry_after=1, times=2)

    assert run('P1 "payment service down"', channel_id="CGENERAL") == []
    retries_run_at_once()
    retries_run_at_once()
    answers = [reply_text(reply) for reply in replies(slack, "cmd")]

    assert len(slack.called("users.info")) == 3
    assert Incident.objects.count() == 1
    assert len(answers) == 1


def test_a_rate_limited_reply_is_delivered_once_later(
    run, slack, incident_in_channel, monkeypatch, retries_run_at_once
):
    real_reply = SlackPlatform.reply
    attempts = []

    def busy_once(self, **kwargs):
        attempts.append(kwargs["response_url"])
        if len(attempts) == 1:
            raise ChatRateLimited("Slack response_url failed: ratelimited", retry_after=1)
        return real_reply(self, **kwargs)

    monkeypatch.setattr(SlackPlatform, "reply", busy_once)

    assert run("severity P2") == []
    retries_run_at_once()
    answers = [reply_text(reply) for reply in replies(slack, "cmd")]

    assert len(attempts) == 2
    assert len(answers) == 1
    incident = Incident.objects.get(pk=incident_in_channel.pk)
    assert incident.timeline.filter(kind=TimelineEvent.Kind.SEVERITY_CHANGED).count() == 1


def test_an_expired_response_url_leaves_the_action_done(run, slack, incident_in_channel):
    slack.expire_response_url("cmd")
    run("severity P2")
    assert Incident.objects.get(pk=incident_in_channel.pk).severity.code == "P2"
    assert ChatCommand.objects.get().finished_at is not None


def test_an_incident_deleted_meanwhile_is_explained(
    run, slack, people, django_capture_on_commit_callbacks, client
):
    incident = factories.triggered("P2")
    open_channel(slack, incident)
    with django_capture_on_commit_callbacks() as callbacks:
        slash(client, slack, "ack", channel_id="CINC", response_key="late")
    Incident.objects.filter(pk=incident.pk).delete()
    with django_capture_on_commit_callbacks(execute=True):
        for callback in callbacks:
            callback()
    assert "not an incident channel" in reply_text(replies(slack, "late")[0])
