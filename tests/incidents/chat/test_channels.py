"""The incident's own channel: opened once, announced once, welcomed once, people invited."""

import re
from datetime import timedelta

import pytest

from incidents.chat.models import ChatPost, IncidentChannel
from incidents.chat.services.channels import channel_name, channel_open_schedule
from incidents.models import ServiceLink
from incidents.oncall.models import Page
from incidents.services import incident_role_assign
from portal.models import Timer
from tests import factories

from .outbound import buttons, channel_of, headlines, posts, rendered


@pytest.fixture
def payments(db):
    team = factories.TeamFactory(name="Payments", slug="payments", email="payments@example.com")
    service = factories.ServiceFactory(name="Payments API", slug="payments-api", team=team)
    ServiceLink.objects.create(
        service=service,
        kind=ServiceLink.Kind.DASHBOARD,
        title="API p99 latency",
        url="https://grafana.example.com/d/p99",
    )
    ServiceLink.objects.create(
        service=service,
        kind=ServiceLink.Kind.RUNBOOK,
        title="Payments runbook",
        url="https://wiki.example.com/payments",
    )
    return service


def declare_p1(crew, payments):
    return factories.declared(
        crew.alice,
        "P1",
        services=[payments],
        bridge_url="https://meet.example.com/inc",
    )


def test_a_p1_declared_on_the_web_gets_its_war_room(
    slack, crew, payments, django_capture_on_commit_callbacks
):
    # Eager Celery: the on-commit wake-ups open the channel and send the posts, no sweep needed.
    with django_capture_on_commit_callbacks(execute=True):
        incident = declare_p1(crew, payments)

    channel = channel_of(incident)
    assert channel.name == f"inc-{incident.pk}-payments-service-returning-503"
    assert channel.opened_at is not None
    assert slack.channel(channel.channel_id).name == channel.name
    assert "UALICE" in slack.channel(channel.channel_id).members

    [announcement] = slack.messages("CINCIDENTS")
    assert announcement["text"] == (
        "⚠️ INCIDENT: Payments service returning 503. Investigating. IC: <@UALICE>"
    )
    assert f"<https://slack.com/app_redirect?channel={channel.channel_id}|#{channel.name}>" in (
        rendered(announcement)
    )
    assert f"https://firebreak.example.com/incidents/{incident.pk}/" in rendered(announcement)

    [welcome] = slack.messages(channel.channel_id)
    shown = rendered(welcome)
    assert "Incident Commander: <@UALICE>" in shown
    assert "every 15 minutes" in shown
    for line in (
        "*Status:* INVESTIGATING | MITIGATING | RESOLVED",
        "*Impact:* [describe what's broken and who's affected]",
        "*Last Action:* [what we just tried]",
        "*Next Action:* [what we're doing now]",
        '*ETA:* [estimate if known, "unknown" if not]',
    ):
        assert line in shown
    assert "<https://meet.example.com/inc|Join the bridge>" in shown
    assert "<https://grafana.example.com/d/p99|Dashboard: API p99 latency>" in shown
    assert "<https://wiki.example.com/payments|Runbook: Payments runbook>" in shown
    assert f"<https://firebreak.example.com/incidents/{incident.pk}/|" in shown
    assert buttons(welcome) == [
        ("incident_ack", "Acknowledge", str(incident.pk)),
        ("incident_update", "Post update", str(incident.pk)),
        ("incident_resolve", "Resolve", str(incident.pk)),
    ]
    assert {post.state for post in posts(incident)} == {ChatPost.State.POSTED}


def test_asking_twice_and_running_the_opening_twice_makes_one_channel(slack, crew, payments, clock):
    incident = factories.declared(crew.alice, "P3", services=[payments])
    channel_open_schedule(incident=incident, requested_by=crew.alice)
    channel_open_schedule(incident=incident, requested_by=crew.alice)
    clock.sweep()
    # A retried declare (Slack's, say) asks again once the channel is open.
    channel_open_schedule(incident=incident, requested_by=crew.alice)
    opening = Timer.objects.get(key=f"inc-{incident.pk}:chat-open")
    from incidents.chat.services.channels import open_incident_channel

    assert open_incident_channel(opening).endswith("already open")
    clock.sweep()

    assert IncidentChannel.objects.filter(incident=incident).count() == 1
    assert len(slack.called("conversations.create")) == 1
    assert len(slack.messages("CINCIDENTS")) == 1
    assert len(slack.messages(channel_of(incident).channel_id)) == 1


def test_a_taken_name_is_reused_not_doubled(slack, crew, payments, clock):
    incident = factories.declared(crew.alice, "P3", services=[payments])
    existing = slack.add_channel(channel_name(incident), members={"UBOT"})

    channel_open_schedule(incident=incident, requested_by=crew.alice)
    clock.sweep()

    assert channel_of(incident).channel_id == existing.id
    assert [c["name"] for c in slack.called("conversations.create")] == [existing.name]
    assert len(slack.messages(existing.id)) == 1  # the welcome, in the existing channel


def test_a_crash_after_slack_created_the_channel_reuses_it(
    slack, crew, payments, clock, monkeypatch
):
    incident = factories.declared(crew.alice, "P3", services=[payments])
    channel_open_schedule(incident=incident, requested_by=crew.alice)
    save = IncidentChannel.save

    def killed(self, *args, **kwargs):
        monkeypatch.setattr(IncidentChannel, "save", save)
        raise RuntimeError("worker killed before the commit")

    monkeypatch.setattr(IncidentChannel, "save", killed)
    clock.sweep()  # Slack created the channel; our record of it was rolled back
    assert channel_of(incident).channel_id == ""

    clock.advance(timedelta(minutes=1))
    clock.sweep()

    channel = channel_of(incident)
    assert len(slack.called("conversations.create")) == 2  # the second answered name_taken
    assert channel.channel_id == slack.channel_named(channel.name).id
    assert len(slack.messages(channel.channel_id)) == 1
    assert len(slack.messages("CINCIDENTS")) == 1


def test_a_rate_limited_opening_comes_back_after_retry_after(slack, crew, payments, clock):
    incident = factories.declared(crew.alice, "P3", services=[payments])
    slack.rate_limit("conversations.create", retry_after=30)
    channel_open_schedule(incident=incident, requested_by=crew.alice)
    clock.sweep()
    assert channel_of(incident).opened_at is None
    assert slack.messages("CINCIDENTS") == []

    clock.advance(timedelta(seconds=31))
    clock.sweep()

    assert channel_of(incident).opened_at is not None
    assert len(slack.messages("CINCIDENTS")) == 1


def test_channel_names_follow_slacks_rules(crew):
    incident = factories.declared(
        crew.alice, "P3", title="Zahlungen: 50% der Anfragen schlagen fehl — Ärger! " * 3
    )
    name = channel_name(incident)
    assert len(name) <= 80
    assert re.fullmatch(r"[a-z0-9_-]+", name)
    assert name.startswith(f"inc-{incident.pk}-zahlungen-50-der-anfragen")
    assert not name.endswith("-")
    emoji_only = factories.declared(crew.alice, "P3", title="🔥🔥🔥")
    assert channel_name(emoji_only) == f"inc-{emoji_only.pk}"


def test_role_holders_and_paged_people_are_invited_unknown_ones_skipped(
    slack, crew, payments, clock
):
    incident = factories.declared(crew.alice, "P3", services=[payments])
    incident_role_assign(incident=incident, actor=crew.alice, role="scribe", user=crew.bob)
    incident_role_assign(incident=incident, actor=crew.alice, role="investigator", user=crew.nina)
    Page.objects.create(
        incident=incident,
        kind=Page.Kind.ESCALATION,
        step="esc-0.0-0",
        step_number=0,
        recipient=crew.olga,
        channel="email",
        address="olga@example.com",
        state=Page.State.SENT,
    )

    channel_open_schedule(incident=incident, requested_by=crew.alice)
    clock.sweep()

    members = slack.channel(channel_of(incident).channel_id).members
    assert {"UALICE", "UBOB", "UOLGA"} <= members
    invite = Timer.objects.get(kind="chat.invite")
    assert "not in the chat: nina" in invite.outcome


def test_an_alert_triggered_p1_gets_a_channel_without_an_ic(slack, crew, payments, clock):
    incident = factories.triggered("P1", services=[payments])
    clock.sweep()

    [announcement] = slack.messages("CINCIDENTS")
    assert announcement["text"] == "⚠️ INCIDENT: PaymentsDown. Triggered. IC: nobody yet"
    welcome = slack.messages(channel_of(incident).channel_id)[0]
    assert "Incident Commander: nobody yet" in rendered(welcome)


def test_a_p3_gets_no_channel_until_someone_asks(slack, crew, payments, clock):
    incident = factories.declared(crew.alice, "P3", services=[payments])
    clock.sweep()
    assert not IncidentChannel.objects.filter(incident=incident).exists()
    assert ChatPost.objects.count() == 0
    assert slack.called("conversations.create") == []


def test_raising_a_p3_to_p2_opens_a_channel(slack, crew, payments, clock):
    from incidents.services import incident_change_severity

    incident = factories.declared(crew.alice, "P3", services=[payments])
    incident_change_severity(incident=incident, actor=crew.alice, severity=factories.severity("P2"))
    clock.sweep()
    channel = channel_of(incident)
    assert channel.opened_at is not None
    assert headlines(slack, "CINCIDENTS")[0].startswith("⚠️ INCIDENT: Payments service")


# --- The incident page ------------------------------------------------------------------------


def test_the_ic_opens_a_channel_from_the_incident_page(client, slack, crew, payments, clock):
    incident = factories.declared(crew.alice, "P3", services=[payments])
    client.force_login(crew.alice)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Open Slack channel" in page

    response = client.post(f"/incidents/{incident.pk}/chat/open/")
    assert response.status_code == 302
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "(opening…)" in page
    assert "Open Slack channel" not in page

    clock.sweep()
    channel = channel_of(incident)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert f"#{channel.name}</a>" in page
    assert f"https://slack.com/app_redirect?channel={channel.channel_id}" in page
    assert "Open Slack channel" not in page


def test_only_who_may_assign_roles_opens_a_channel(client, slack, crew, payments, viewer_user):
    incident = factories.declared(crew.alice, "P3", services=[payments])
    client.force_login(crew.bob)  # a responder, but alice is IC
    assert "Open Slack channel" not in client.get(f"/incidents/{incident.pk}/").content.decode()
    response = client.post(f"/incidents/{incident.pk}/chat/open/")
    assert response.status_code == 403
    client.force_login(viewer_user)
    assert client.post(f"/incidents/{incident.pk}/chat/open/").status_code == 403
    assert not IncidentChannel.objects.exists()


def test_without_slack_there_is_no_button_and_no_channel(client, crew, payments, clock):
    incident = factories.declared(crew.alice, "P1", services=[payments])
    clock.sweep()
    client.force_login(crew.alice)
    page = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "Open Slack channel" not in page
    assert "chat-channel" not in page
    assert client.post(f"/incidents/{incident.pk}/chat/open/").status_code == 404
    assert not IncidentChannel.objects.exists()
    assert ChatPost.objects.count() == 0
