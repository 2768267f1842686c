"""An alert storm in Slack: one message in the announcement channel, edited as alerts join.

`AlertsGrouped` is published here as alert ingestion publishes it: inside the transaction that
put the alerts on the grouped incident. Timers run as the beat sweep runs them.
"""

import itertools
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from incidents.alerting.events import AlertsGrouped
from incidents.alerting.models import Alert, AlertGroup, AlertSource
from incidents.chat.models import ChatPost
from incidents.models import Severity
from incidents.services import incident_change_severity, incident_resolve
from portal import events
from tests import factories

from .outbound import rendered

EDIT_SECONDS = 10
_numbers = itertools.count(1)


@pytest.fixture
def storm(slack, payments, clock, settings):
    """A triggered P3 on Payments API, opened by one alert, at the start of an edit bucket."""
    settings.FIREBREAK_SLACK_STORM_EDIT_SECONDS = EDIT_SECONDS
    now = clock.now
    bucket_start = now.timestamp() // EDIT_SECONDS * EDIT_SECONDS + EDIT_SECONDS
    clock.at(now + timedelta(seconds=bucket_start - now.timestamp()))
    incident = factories.triggered("P3", services=[payments], title="DiskFilling")
    add_alerts(incident, 1)
    clock.sweep()
    return incident


def add_alerts(incident, count: int) -> None:
    source = AlertSource.objects.first() or _source()
    group = AlertGroup.objects.create(
        source=source, key=f"storm-{next(_numbers)}", key_digest=f"{next(_numbers):064d}"
    )
    now = timezone.now()
    for _ in range(count):
        Alert.objects.create(
            source=source,
            group=group,
            fingerprint=f"fp-{next(_numbers)}",
            starts_at=now,
            status=Alert.Status.FIRING,
            title="DiskFilling",
            severity=Severity.objects.get(code="P3"),
            first_seen_at=now,
            last_seen_at=now,
            incident=incident,
        )


def _source() -> AlertSource:
    source = AlertSource(name="prod-alertmanager", kind=AlertSource.Kind.ALERTMANAGER)
    source.issue_secret()
    source.save()
    return source


def join(incident, count: int, *, kind: str = "storm") -> None:
    """Put `count` more alerts on the incident and publish it, as one delivery does."""
    with transaction.atomic():
        add_alerts(incident, count)
        events.publish(
            AlertsGrouped(
                incident_id=incident.pk,
                grouping_id=1,
                kind=kind,
                service_id=incident.services.get().pk,
                joined=count,
                members=Alert.objects.filter(incident=incident).count(),
                at=timezone.now().isoformat(),
            )
        )


def announced(slack) -> list[str]:
    return [rendered(message) for message in slack.messages("#incidents")]


def test_a_storm_posts_one_message_and_edits_it_at_most_once_per_bucket(slack, storm, clock):
    join(storm, 2)
    clock.sweep()
    [message] = announced(slack)
    assert message.startswith("🌩 Alert storm on Payments API: 3 alerts since ")
    assert f"· P3 · <https://firebreak.example.com/incidents/{storm.pk}/|{storm.reference}>" in (
        message
    )

    for _ in range(6):  # six deliveries within the bucket
        clock.advance(timedelta(seconds=1))
        join(storm, 10)
        clock.sweep()
    assert slack.called("chat.update") == []  # not one edit per delivery

    clock.advance(timedelta(seconds=4))  # the bucket's end
    clock.sweep()
    assert len(slack.called("chat.update")) == 1
    [message] = announced(slack)
    assert "Payments API: 63 alerts since" in message

    clock.advance(timedelta(seconds=3))
    join(storm, 100)
    join(storm, 100)
    clock.advance(timedelta(seconds=EDIT_SECONDS))
    clock.sweep()
    assert len(slack.called("chat.update")) == 2
    assert "Payments API: 263 alerts since" in announced(slack)[0]
    posts = slack.called("chat.postMessage")
    assert [post["channel"] for post in posts] == ["#incidents"]  # one post, ever
    assert ChatPost.objects.get().kind == ChatPost.Kind.STORM


def test_joins_before_the_post_went_out_need_no_edit(slack, storm, clock):
    for _ in range(3):
        join(storm, 5)
    clock.sweep()
    clock.advance(timedelta(seconds=EDIT_SECONDS))
    clock.sweep()
    assert "16 alerts since" in announced(slack)[0]  # the post read the latest count
    assert slack.called("chat.update") == []  # the bucket's edit would change nothing


def test_the_resolution_edits_the_message_a_last_time(slack, storm, clock, crew):
    join(storm, 4)
    clock.sweep()
    clock.advance(timedelta(minutes=30))
    incident_change_severity(
        incident=storm, actor=crew.alice, severity=factories.severity("P2"), reason="Spreading"
    )
    incident_resolve(incident=storm, actor=crew.alice)
    clock.advance(timedelta(seconds=EDIT_SECONDS))
    clock.sweep()

    assert len(slack.called("chat.update")) == 1  # severity and resolution, one edit
    # (Raised to P2, the incident also got its channel, announced there too.)
    [message] = [text for text in announced(slack) if "Alert storm" in text]
    assert message.startswith("✅ Alert storm on Payments API resolved: 5 alerts from ")
    assert " · P2 · " in message
    clock.advance(timedelta(minutes=5))
    clock.sweep()
    assert len(slack.called("chat.update")) == 1


def test_a_grouping_rules_incident_says_grouped_alerts(slack, storm, clock):
    join(storm, 1, kind="labels")
    clock.sweep()
    assert announced(slack)[0].startswith("🧩 Grouped alerts on Payments API: 2 alerts since ")


def test_slack_errors_are_retried_and_nothing_doubles(slack, storm, clock):
    slack.rate_limit("chat.postMessage", retry_after=30)
    join(storm, 2)
    clock.sweep()
    assert announced(slack) == []

    clock.advance(timedelta(seconds=1))
    join(storm, 3)  # an edit is due at the bucket's end, before the post can go out
    clock.advance(timedelta(seconds=EDIT_SECONDS))
    clock.sweep()
    assert announced(slack) == []
    assert slack.called("chat.update") == []  # the edit waits for the post

    clock.advance(timedelta(seconds=20))
    clock.sweep()
    [message] = announced(slack)
    assert "6 alerts since" in message  # the post, once it could go, read the latest
    assert slack.called("chat.update") == []  # and the waiting edit had nothing to add

    slack.server_error("chat.update", status=503)
    join(storm, 4)

    clock.advance(timedelta(seconds=EDIT_SECONDS))
    clock.sweep()  # the edit meets a 503…
    assert "6 alerts since" in announced(slack)[0]
    clock.advance(timedelta(seconds=30))
    clock.sweep()  # …and is tried again
    [message] = announced(slack)
    assert "10 alerts since" in message
    assert len(slack.called("chat.postMessage")) == 2  # the 429, then the one post
    assert len(slack.called("chat.update")) == 2  # the 503, then the one edit


def test_nothing_is_written_while_slack_is_off(payments, clock, settings):
    settings.FIREBREAK_SLACK_BOT_TOKEN = ""
    incident = factories.triggered("P3", services=[payments], title="DiskFilling")
    for _ in range(3):
        join(incident, 5)
    assert not ChatPost.objects.exists()
