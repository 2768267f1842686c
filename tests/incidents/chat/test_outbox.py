"""The chat outbox: nothing lost, nothing posted twice, in order per channel, no sleeping."""

from datetime import timedelta

import pytest
from django.db import transaction

from incidents.chat.models import ChatPost
from incidents.chat.services.channels import channel_open_schedule
from incidents.chat.services.outbox import POST_MAX_ATTEMPTS, chat_post_enqueue, send_chat_post
from incidents.models import TimelineEvent
from incidents.services import (
    incident_mitigate,
    incident_role_assign,
    timeline_note_add,
)
from portal import timers
from portal.models import Timer
from tests import factories

from .outbound import channel_of, headlines, posts


@pytest.fixture
def war_room(slack, crew, clock):
    """A P3 incident whose channel is open, its welcome and announcement posted."""
    incident = factories.declared(crew.alice, "P3")
    channel_open_schedule(incident=incident, requested_by=crew.alice)
    clock.sweep()
    channel = channel_of(incident)
    assert len(slack.messages(channel.channel_id)) == 1
    return incident


def post_timer(post: ChatPost) -> Timer:
    return Timer.objects.filter(key__startswith=f"inc-{post.incident_id}:chat-post-{post.pk}:")[0]


def test_a_rate_limited_post_is_delivered_once_after_retry_after(slack, crew, war_room, clock):
    channel = channel_of(war_room)
    slack.rate_limit("chat.postMessage", retry_after=20)
    incident_role_assign(incident=war_room, actor=crew.alice, role="scribe", user=crew.bob)
    clock.sweep()

    post = posts(war_room)[-1]
    assert post.state == ChatPost.State.PENDING
    timer = post_timer(post)
    # Postponed to Retry-After, not slept through, and not counted as a failed attempt.
    assert timer.state == Timer.State.PENDING
    assert timer.attempts == 0
    assert timer.due_at >= clock.now + timedelta(seconds=20)
    assert len(slack.messages(channel.channel_id)) == 1

    clock.advance(timedelta(seconds=10))
    clock.sweep()
    assert len(slack.messages(channel.channel_id)) == 1  # not before Retry-After

    clock.advance(timedelta(seconds=11))
    clock.sweep()
    assert headlines(slack, channel.channel_id)[1:] == [
        "👥 <@UBOB> is Scribe (assigned by <@UALICE>)"
    ]
    post.refresh_from_db()
    assert post.state == ChatPost.State.POSTED
    assert post.attempts == 1
    assert post.message_id == slack.messages(channel.channel_id)[1]["ts"]
    assert len(slack.called("chat.postMessage")) == 4  # announcement, welcome, 429, the post


def test_running_the_same_timer_twice_posts_once(slack, crew, war_room, clock):
    channel = channel_of(war_room)
    incident_mitigate(incident=war_room, actor=crew.alice)
    post = posts(war_room)[-1]
    timer = post_timer(post)

    assert timers.timer_fire(timer_id=timer.pk).endswith(f"posted to {channel.channel_id}")
    assert timers.timer_fire(timer_id=timer.pk) is None  # done: nobody claims it again
    with transaction.atomic():
        assert send_chat_post(timer).endswith("already posted")  # a duplicate task
    clock.sweep()

    mitigated = [text for text in headlines(slack, channel.channel_id) if "🩹" in text]
    assert mitigated == ["🩹 Mitigated by <@UALICE>: service restored, monitoring"]


def test_reporting_the_same_thing_twice_writes_one_post(crew, war_room, clock, slack):
    event = war_room.timeline.get(kind=TimelineEvent.Kind.DECLARED)
    for _ in range(2):
        chat_post_enqueue(
            incident=war_room,
            platform="slack",
            key=f"inc-{war_room.pk}:event-{event.pk}",
            kind=ChatPost.Kind.EVENT,
            event=event,
        )
    assert ChatPost.objects.filter(key=f"inc-{war_room.pk}:event-{event.pk}").count() == 1


def test_a_resend_after_a_crash_finds_the_message_instead_of_posting_it_again(
    slack, crew, war_room, clock, monkeypatch
):
    channel = channel_of(war_room)
    incident_mitigate(incident=war_room, actor=crew.alice)
    save = ChatPost.save

    def killed(self, *args, **kwargs):
        if self.state == ChatPost.State.POSTED:
            monkeypatch.setattr(ChatPost, "save", save)
            raise RuntimeError("worker killed after Slack accepted the message")
        return save(self, *args, **kwargs)

    monkeypatch.setattr(ChatPost, "save", killed)
    clock.sweep()
    post = posts(war_room)[-1]
    assert post.state == ChatPost.State.PENDING  # the record was rolled back…
    assert len(slack.messages(channel.channel_id)) == 2  # …but Slack has the message

    clock.advance(timedelta(minutes=1))
    clock.sweep()

    post.refresh_from_db()
    assert post.state == ChatPost.State.POSTED
    assert len(slack.messages(channel.channel_id)) == 2
    assert post.message_id == slack.messages(channel.channel_id)[1]["ts"]
    assert slack.called("conversations.history")  # it looked before posting again


def test_an_unavailable_slack_is_retried_with_backoff(slack, crew, war_room, clock):
    channel = channel_of(war_room)
    slack.server_error("chat.postMessage", times=2)
    incident_mitigate(incident=war_room, actor=crew.alice)
    clock.sweep()
    post = posts(war_room)[-1]
    assert (post.state, post.attempts) == (ChatPost.State.PENDING, 1)
    assert "unavailable" in post.last_error.lower() or "503" in post.last_error

    clock.advance(timedelta(seconds=16))
    clock.sweep()
    clock.advance(timedelta(seconds=31))
    clock.sweep()

    post.refresh_from_db()
    assert post.state == ChatPost.State.POSTED
    assert len(slack.messages(channel.channel_id)) == 2
    # A timed-out post may have arrived: the retries looked for it first.
    assert len(slack.called("conversations.history")) == 2


def test_a_post_that_keeps_failing_is_given_up_and_the_next_ones_still_go_out(
    slack, crew, war_room, clock
):
    channel = channel_of(war_room)
    slack.server_error("chat.postMessage", times=POST_MAX_ATTEMPTS)
    incident_mitigate(incident=war_room, actor=crew.alice)
    clock.sweep()
    incident_role_assign(incident=war_room, actor=crew.alice, role="scribe", user=crew.bob)
    for _ in range(POST_MAX_ATTEMPTS + 1):
        clock.advance(timedelta(minutes=5))
        clock.sweep()

    mitigated, scribe = posts(war_room)[-2:]
    assert mitigated.state == ChatPost.State.FAILED
    assert mitigated.attempts == POST_MAX_ATTEMPTS
    assert scribe.state == ChatPost.State.POSTED
    assert headlines(slack, channel.channel_id)[-1].startswith("👥 <@UBOB> is Scribe")


def test_posts_to_one_channel_go_out_in_order(slack, crew, war_room, clock):
    channel = channel_of(war_room)
    slack.rate_limit("chat.postMessage", retry_after=5)
    incident_mitigate(incident=war_room, actor=crew.alice, message="Rolled back 1.42")
    incident_role_assign(incident=war_room, actor=crew.alice, role="scribe", user=crew.bob)
    incident_role_assign(incident=war_room, actor=crew.alice, role="communicator", user=crew.olga)
    clock.sweep()  # the first is rate limited; the others wait for it
    assert len(slack.messages(channel.channel_id)) == 1

    clock.advance(timedelta(seconds=6))
    clock.sweep()

    assert headlines(slack, channel.channel_id)[1:] == [
        "🩹 Mitigated by <@UALICE>: service restored, monitoring",
        "👥 <@UBOB> is Scribe (assigned by <@UALICE>)",
        "👥 <@UOLGA> is Communicator (assigned by <@UALICE>)",
    ]


def test_with_the_broker_down_the_sweep_still_sends(
    slack, crew, war_room, clock, monkeypatch, django_capture_on_commit_callbacks
):
    from portal.tasks import timer_fire_task

    def broker_down(*args, **kwargs):
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(timer_fire_task, "apply_async", broker_down)
    monkeypatch.setattr(timer_fire_task, "delay", broker_down)
    channel = channel_of(war_room)
    with django_capture_on_commit_callbacks(execute=True):
        incident_mitigate(incident=war_room, actor=crew.alice)  # the wake-up is lost…
    assert len(slack.messages(channel.channel_id)) == 1
    assert posts(war_room)[-1].state == ChatPost.State.PENDING

    clock.sweep()  # …the beat's sweep sends it
    assert len(slack.messages(channel.channel_id)) == 2


def test_a_rolled_back_change_posts_nothing(slack, crew, war_room, clock):
    before = ChatPost.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        incident_mitigate(incident=war_room, actor=crew.alice)
        raise RuntimeError("the request failed after the service")
    clock.sweep()
    assert ChatPost.objects.count() == before
    assert len(slack.messages(channel_of(war_room).channel_id)) == 1


def test_scribe_notes_are_not_mirrored(slack, crew, war_room, clock):
    timeline_note_add(incident=war_room, actor=crew.alice, body="Checked the load balancer")
    clock.sweep()
    assert len(slack.messages(channel_of(war_room).channel_id)) == 1
