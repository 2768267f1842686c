"""What happens in the portal shows up in the incident's channel, in order, each once."""

from datetime import timedelta

import pytest

from incidents.chat.models import ChatPost, IncidentChannel
from incidents.chat.services.channels import channel_open_schedule
from incidents.chat.services.pins import chat_pin_record
from incidents.models import IncidentStatus, TimelineEvent
from incidents.oncall.escalation import PlanTarget
from incidents.oncall.models import ContactMethod
from incidents.oncall.paging import incident_engage, page_more
from incidents.services import (
    incident_acknowledge,
    incident_change_severity,
    incident_mitigate,
    incident_resolve,
    incident_role_assign,
    incident_role_release,
    incident_start_investigating,
    status_update_post,
)
from tests import factories
from tests.incidents.oncall.conftest import make_rotation, make_schedule

from .outbound import channel_of, headlines, posts, rendered


def opened(incident, actor, clock):
    channel_open_schedule(incident=incident, requested_by=actor)
    clock.sweep()
    return channel_of(incident)


def test_the_lifecycle_is_mirrored_in_order(slack, crew, clock):
    incident = factories.declared(crew.alice, "P3")
    channel = opened(incident, crew.alice, clock)

    incident_change_severity(
        incident=incident, actor=crew.alice, severity=factories.severity("P4"), reason="one region"
    )
    incident_role_assign(incident=incident, actor=crew.alice, role="scribe", user=crew.bob)
    status_update_post(
        incident=incident,
        actor=crew.bob,
        status="INVESTIGATING",
        impact="Checkout fails for 30% of EU users",
        last_action="Rolled back payments-api to 1.41",
        next_action="Watching the error rate",
        eta="20 min",
    )
    incident_mitigate(incident=incident, actor=crew.alice, message="Rollback holds")
    incident_start_investigating(incident=incident, actor=crew.alice, reason="Errors are back")
    incident_role_release(incident=incident, actor=crew.bob, role="scribe")
    incident_resolve(incident=incident, actor=crew.alice, message="Fixed for good")
    clock.sweep()

    messages = slack.messages(channel.channel_id)
    assert [message["text"] for message in messages[1:]] == [
        "⬇️ Severity lowered P3 → P4 by <@UALICE>",
        "👥 <@UBOB> is Scribe (assigned by <@UALICE>)",
        f"📣 Status update on {incident.reference} from <@UBOB>",
        "🩹 Mitigated by <@UALICE>: service restored, monitoring",
        "🔎 Investigating again: the mitigation did not hold by <@UALICE>",
        "👥 <@UBOB> left the Scribe role",
        "✅ Resolved by <@UALICE>",
    ]
    assert "Why: one region" in rendered(messages[1])
    update = rendered(messages[3])
    for line in (
        "*Status:* INVESTIGATING",
        "*Impact:* Checkout fails for 30% of EU users",
        "*Last Action:* Rolled back payments-api to 1.41",
        "*Next Action:* Watching the error rate",
        "*ETA:* 20 min",
    ):
        assert line in update
    assert "Errors are back" in rendered(messages[5])
    assert "Fixed for good" in rendered(messages[7])
    assert "UBOB" in slack.channel(channel.channel_id).members  # the new scribe was invited


def test_events_before_the_channel_exists_follow_the_welcome(
    slack, crew, clock, django_capture_on_commit_callbacks
):
    incident = factories.triggered("P3")
    channel_open_schedule(incident=incident, requested_by=crew.alice)
    # Acknowledged while Slack is still creating the channel.
    incident_acknowledge(incident=incident, actor=crew.alice)
    incident_role_assign(incident=incident, actor=crew.alice, role="commander")
    with django_capture_on_commit_callbacks(execute=True):
        clock.sweep()

    texts = headlines(slack, channel_of(incident).channel_id)
    assert texts[0].startswith(f"{incident.reference} · P3")  # the welcome
    assert texts[1:] == [
        "✅ Acknowledged by <@UALICE>",
        "👥 <@UALICE> is Incident Commander",
    ]


def test_pins_from_the_channel_are_not_echoed_back(slack, crew, clock):
    incident = factories.declared(crew.alice, "P3")
    channel = opened(incident, crew.alice, clock)
    ts = slack.add_message(channel.channel_id, text="Root cause: expired cert", user="UBOB")

    event = chat_pin_record(
        channel_id=channel.channel_id, message_ts=ts, pinned_by="UALICE", author_member_id="UBOB"
    )
    clock.sweep()

    assert event is not None and event.kind == TimelineEvent.Kind.NOTE
    assert not ChatPost.objects.filter(event=event).exists()
    assert len(slack.messages(channel.channel_id)) == 2  # the welcome and Bob's message


def test_pages_are_mirrored_with_their_step(slack, crew, clock):
    team = factories.TeamFactory(name="Payments", slug="payments")
    make_rotation(make_schedule(team), [crew.olga], start_date=clock.now.date() - timedelta(days=3))
    incident = factories.triggered("P2", team=team)  # P3 would wait for business hours
    channel = opened(incident, crew.alice, clock)

    incident_engage(incident_id=incident.pk)
    clock.sweep()
    incident_acknowledge(incident=incident, actor=crew.olga)
    page_more(
        incident=incident, actor=crew.olga, targets=[PlanTarget(kind="user", user_id=crew.bob.pk)]
    )
    clock.sweep()

    texts = headlines(slack, channel.channel_id)
    assert texts[1:] == [
        "📟 Paged <@UOLGA> (step 1)",
        "✅ Acknowledged by <@UOLGA>",
        "📟 Paged <@UBOB> (asked by <@UOLGA>)",
    ]
    members = slack.channel(channel.channel_id).members
    assert {"UOLGA", "UBOB"} <= members


def test_a_removed_app_rejoins_and_posts(slack, crew, clock):
    incident = factories.declared(crew.alice, "P3")
    channel = opened(incident, crew.alice, clock)
    slack.channel(channel.channel_id).members.discard("UBOT")  # someone removed the app

    incident_mitigate(incident=incident, actor=crew.alice)
    clock.sweep()

    assert headlines(slack, channel.channel_id)[-1].startswith("🩹 Mitigated")
    assert slack.called("conversations.join")
    assert channel_of(incident).channel_id == channel.channel_id


def test_a_channel_not_found_is_opened_again_under_its_name(slack, crew, clock):
    incident = factories.declared(crew.alice, "P3")
    channel = opened(incident, crew.alice, clock)
    slack.fail("chat.postMessage", "channel_not_found")

    incident_mitigate(incident=incident, actor=crew.alice)
    clock.sweep()

    post = posts(incident)[-1]
    assert post.state == ChatPost.State.POSTED
    assert headlines(slack, channel.channel_id)[-1].startswith("🩹 Mitigated")
    assert IncidentChannel.objects.filter(incident=incident).count() == 1


def test_an_announcement_channel_that_does_not_exist_fails_the_post_only(
    slack, crew, clock, settings
):
    settings.FIREBREAK_SLACK_ANNOUNCE_CHANNEL = "#no-such-channel"
    incident = factories.declared(crew.alice, "P3")
    channel = opened(incident, crew.alice, clock)

    announcement = ChatPost.objects.get(incident=incident, kind=ChatPost.Kind.ANNOUNCEMENT)
    assert announcement.state == ChatPost.State.FAILED
    assert "channel_not_found" in announcement.last_error
    assert len(slack.messages(channel.channel_id)) == 1  # the welcome went out all the same


def test_without_slack_nothing_is_queued_and_nothing_breaks(crew, clock, client):
    team = factories.TeamFactory(name="Payments", slug="payments")
    make_rotation(make_schedule(team), [crew.olga], start_date=clock.now.date() - timedelta(days=3))
    ContactMethod.objects.create(user=crew.olga, kind=ContactMethod.Kind.SLACK, address="UOLGA")
    incident = factories.triggered("P1", team=team)
    incident_engage(incident_id=incident.pk)
    clock.sweep()
    incident_acknowledge(incident=incident, actor=crew.olga)
    incident_resolve(incident=incident, actor=crew.olga)
    clock.sweep()

    incident.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert ChatPost.objects.count() == 0
    assert IncidentChannel.objects.count() == 0
    # Her Slack contact method is not used; the page went to her email instead.
    page = incident.pages.get(recipient=crew.olga, kind="escalation")
    assert page.channel == ContactMethod.Kind.EMAIL


@pytest.mark.parametrize("kind", ["alert", "details"])
def test_alerts_and_detail_edits_are_not_mirrored(slack, crew, clock, kind):
    from incidents.services import incident_update_details, timeline_record

    incident = factories.declared(crew.alice, "P3")
    channel = opened(incident, crew.alice, clock)
    if kind == "alert":
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.ALERT,
            actor=None,
            source="alert",
            occurred_at=clock.now,
            message="PaymentsDown fired again",
        )
    else:
        incident_update_details(incident=incident, actor=crew.alice, summary="Cert expired")
    clock.sweep()
    assert len(slack.messages(channel.channel_id)) == 1
