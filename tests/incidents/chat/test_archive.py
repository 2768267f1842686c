"""An incident's channel is archived a configured while after the close; reopening cancels it."""

from datetime import timedelta

from incidents.chat.models import ChatPost
from incidents.chat.services.channels import channel_open_schedule
from incidents.services import incident_close, incident_reopen, incident_resolve
from portal.models import Timer
from tests import factories

from .outbound import channel_of, headlines, posts, rendered


def closed_war_room(crew, clock):
    incident = factories.declared(crew.alice, "P3")
    channel_open_schedule(incident=incident, requested_by=crew.alice)
    clock.sweep()
    incident_resolve(incident=incident, actor=crew.alice)
    incident = incident_close(incident=incident, actor=crew.alice)
    clock.sweep()
    return incident


def test_the_channel_is_archived_a_day_after_the_close_with_a_notice_first(slack, crew, clock):
    incident = closed_war_room(crew, clock)
    channel = channel_of(incident)
    closed = slack.messages(channel.channel_id)[-1]
    assert closed["text"] == "🔒 Closed by <@UALICE>"
    assert "This channel will be archived after" in rendered(closed)

    clock.advance(timedelta(hours=23, minutes=59))
    clock.sweep()
    assert not slack.channel(channel.channel_id).archived

    clock.advance(timedelta(minutes=2))
    clock.sweep()

    assert slack.channel(channel.channel_id).archived
    assert headlines(slack, channel.channel_id)[-1] == (
        f"🗄️ {incident.reference} is closed: this channel is archived now."
    )
    channel.refresh_from_db()
    assert channel.archived_at is not None
    timer = Timer.objects.get(kind="chat.archive")
    assert timer.due_at == incident.closed_at + timedelta(hours=24)


def test_reopening_a_closed_incident_cancels_the_archiving(slack, crew, clock):
    # Closed is final in today's lifecycle; should an incident come back from closed (an admin
    # fixing a mistaken close), its REOPENED event cancels the archiving and the timer, late or
    # not, re-checks that the incident is still closed.
    from incidents.models import Incident, IncidentStatus, Source, TimelineEvent
    from incidents.services import timeline_record

    incident = closed_war_room(crew, clock)
    channel = channel_of(incident)
    Incident.objects.filter(pk=incident.pk).update(
        status=IncidentStatus.INVESTIGATING, closed_at=None
    )
    incident.refresh_from_db()
    timeline_record(
        incident=incident,
        kind=TimelineEvent.Kind.REOPENED,
        actor=crew.alice,
        source=Source.WEB,
        occurred_at=clock.now,
        from_value=IncidentStatus.CLOSED,
        to_value=IncidentStatus.INVESTIGATING,
        message="Closed by mistake",
    )

    assert Timer.objects.get(kind="chat.archive").state == Timer.State.CANCELLED
    clock.advance(timedelta(days=2))
    clock.sweep()
    assert not slack.channel(channel.channel_id).archived
    assert headlines(slack, channel.channel_id)[-1] == "↩️ Reopened by <@UALICE>"


def test_an_archive_timer_firing_late_for_an_incident_no_longer_closed_does_nothing(
    slack, crew, clock
):
    from incidents.models import Incident, IncidentStatus

    incident = closed_war_room(crew, clock)
    channel = channel_of(incident)
    Incident.objects.filter(pk=incident.pk).update(status=IncidentStatus.INVESTIGATING)
    clock.advance(timedelta(hours=25))
    clock.sweep()
    assert not slack.channel(channel.channel_id).archived
    assert "not archived" in Timer.objects.get(kind="chat.archive").outcome


def test_a_resolved_then_reopened_incident_keeps_its_channel(slack, crew, clock, settings):
    settings.FIREBREAK_SLACK_ARCHIVE_AFTER_HOURS = 1.0
    incident = factories.declared(crew.alice, "P3")
    channel_open_schedule(incident=incident, requested_by=crew.alice)
    clock.sweep()
    incident = incident_resolve(incident=incident, actor=crew.alice)
    # Not closed yet: no archiving planned.
    assert not Timer.objects.filter(kind="chat.archive").exists()
    incident_reopen(incident=incident, actor=crew.alice, reason="errors are back")
    clock.advance(timedelta(hours=2))
    clock.sweep()
    assert not slack.channel(channel_of(incident).channel_id).archived
    assert headlines(slack, channel_of(incident).channel_id)[-1] == "↩️ Reopened by <@UALICE>"


def test_a_channel_archived_by_hand_is_fine(slack, crew, clock):
    incident = closed_war_room(crew, clock)
    channel = channel_of(incident)
    slack.channel(channel.channel_id).archived = True

    clock.advance(timedelta(hours=25))
    clock.sweep()

    channel.refresh_from_db()
    assert channel.archived_at is not None
    archive = posts(incident)[-1]
    assert (archive.kind, archive.state) == (ChatPost.Kind.ARCHIVE, ChatPost.State.POSTED)


def test_a_rate_limited_archive_posts_its_notice_once(slack, crew, clock):
    incident = closed_war_room(crew, clock)
    channel = channel_of(incident)
    slack.rate_limit("conversations.archive", retry_after=10)

    clock.advance(timedelta(hours=25))
    clock.sweep()
    assert not slack.channel(channel.channel_id).archived
    clock.advance(timedelta(seconds=11))
    clock.sweep()

    assert slack.channel(channel.channel_id).archived
    notices = [text for text in headlines(slack, channel.channel_id) if text.startswith("🗄️")]
    assert len(notices) == 1


def test_a_channel_archived_for_an_incident_that_comes_back_is_unarchived(slack, crew, clock):
    from incidents.models import Incident, IncidentStatus, Source, TimelineEvent
    from incidents.services import timeline_record

    incident = closed_war_room(crew, clock)
    channel = channel_of(incident)
    clock.advance(timedelta(hours=25))
    clock.sweep()
    assert slack.channel(channel.channel_id).archived

    Incident.objects.filter(pk=incident.pk).update(
        status=IncidentStatus.INVESTIGATING, closed_at=None
    )
    incident.refresh_from_db()
    timeline_record(
        incident=incident,
        kind=TimelineEvent.Kind.REOPENED,
        actor=crew.alice,
        source=Source.WEB,
        occurred_at=clock.now,
        message="Closed by mistake",
    )
    clock.sweep()

    assert not slack.channel(channel.channel_id).archived
    assert channel_of(incident).channel_id == channel.channel_id
    assert headlines(slack, channel.channel_id)[-1] == "↩️ Reopened by <@UALICE>"
    assert len(slack.called("conversations.create")) == 2  # the second found it by name
