"""The check: a missed heartbeat opens one incident on its service; a ping ends the miss."""

from datetime import timedelta

import pytest

from incidents.heartbeats.models import Heartbeat
from incidents.heartbeats.services import (
    heartbeat_configure,
    heartbeat_record_ping,
    heartbeats_check,
)
from incidents.models import Incident, TimelineEvent
from incidents.services import incident_acknowledge, incident_start_investigating
from portal.models import Timer
from tests import factories

from .conftest import GRACE, INTERVAL, T0, make_heartbeat, ping_url

pytestmark = pytest.mark.django_db

ALARM = T0 + INTERVAL + GRACE  # missed from here on, after a ping at T0


def pinged(heartbeat: Heartbeat, at=T0) -> Heartbeat:
    heartbeat_record_ping(heartbeat=heartbeat, at=at)
    heartbeat.refresh_from_db()
    return heartbeat


def missed(heartbeat: Heartbeat, at=ALARM) -> Incident:
    pinged(heartbeat)
    (incident,) = heartbeats_check(now=at)
    return incident


def texts(incident: Incident, kind: str) -> list[str]:
    return list(
        incident.timeline.filter(kind=kind)
        .order_by("occurred_at", "id")
        .values_list("message", flat=True)
    )


def test_a_heartbeat_never_pinged_never_alarms(beat):
    heartbeat, _ = beat

    assert heartbeats_check(now=T0 + timedelta(days=30)) == []

    heartbeat.refresh_from_db()
    assert heartbeat.state == "waiting"
    assert not Incident.objects.exists()


def test_up_to_its_alarm_time_nothing_happens(beat):
    heartbeat = pinged(beat[0])

    assert heartbeats_check(now=ALARM - timedelta(seconds=1)) == []

    heartbeat.refresh_from_db()
    assert heartbeat.state == "up"


def test_a_missed_heartbeat_opens_one_alert_incident_on_its_service(beat, payments):
    heartbeat = pinged(beat[0])

    (incident,) = heartbeats_check(now=ALARM)

    assert (incident.status, incident.source, incident.severity.code) == (
        "triggered",
        "alert",
        "P2",
    )
    assert incident.title == "Heartbeat missed: nightly-backup"
    assert list(incident.services.all()) == [payments]
    assert incident.team == payments.team
    assert (incident.detected_at, incident.impact_started_at) == (ALARM, T0 + INTERVAL)
    (note,) = texts(incident, TimelineEvent.Kind.ALERT)
    assert note == (
        "Heartbeat nightly-backup missed: last seen at 2026-11-27 09:00:00 UTC (15 min ago); "
        "it pings every 10 min with 5 min of grace, so a ping was due by 2026-11-27 09:15:00 UTC."
    )
    # Engaged and paged as alert incidents are: the on-call subscriber's timer, for this one.
    (engage,) = Timer.objects.filter(kind="event.oncall.engage")
    assert engage.payload["data"]["incident_id"] == incident.pk
    heartbeat.refresh_from_db()
    assert (heartbeat.state, heartbeat.missed_at, heartbeat.incident) == ("missed", ALARM, incident)


def test_checking_again_opens_nothing_more(beat):
    incident = missed(beat[0])

    for minutes in (0, 1, 60, 600):
        assert heartbeats_check(now=ALARM + timedelta(minutes=minutes)) == []

    assert list(Incident.objects.all()) == [incident]


def test_a_late_ping_inside_the_grace_keeps_it_up(beat):
    heartbeat = pinged(beat[0])
    pinged(heartbeat, at=ALARM - timedelta(seconds=1))  # 4 min 59 s late, inside the grace

    assert heartbeats_check(now=ALARM + timedelta(minutes=1)) == []

    heartbeat.refresh_from_db()
    assert heartbeat.state == "up"
    assert heartbeat.alarm_at == ALARM - timedelta(seconds=1) + INTERVAL + GRACE


def test_a_check_that_fails_leaves_the_miss_to_the_next_check(beat, monkeypatch):
    from incidents.heartbeats import services

    heartbeat = pinged(beat[0])
    real = services.incident_trigger

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "incident_trigger", broken)
    assert heartbeats_check(now=ALARM) == []
    heartbeat.refresh_from_db()
    assert heartbeat.state == "up"  # the whole miss rolled back

    monkeypatch.setattr(services, "incident_trigger", real)
    (incident,) = heartbeats_check(now=ALARM + timedelta(seconds=10))
    assert Incident.objects.get() == incident


def test_each_missed_heartbeat_gets_its_own_incident(payments):
    first, _ = make_heartbeat(payments, name="backup")
    second, _ = make_heartbeat(payments, name="billing-export", severity=factories.severity("P3"))
    pinged(first)
    pinged(second)

    opened = heartbeats_check(now=ALARM)

    assert sorted((i.title, i.severity.code) for i in opened) == [
        ("Heartbeat missed: backup", "P2"),
        ("Heartbeat missed: billing-export", "P3"),
    ]


class TestResume:
    def test_a_ping_resolves_the_untouched_incident(self, client, beat, freeze):
        heartbeat, secret = beat
        incident = missed(heartbeat)
        back = freeze(ALARM + timedelta(minutes=20))

        response = client.get(ping_url(secret))

        assert response.json()["status"] == "resumed"
        assert (response.json()["incident"], response.json()["incident_resolved"]) == (
            incident.reference,
            True,
        )
        incident.refresh_from_db()
        assert (incident.status, incident.resolved_at) == ("resolved", back)
        assert texts(incident, TimelineEvent.Kind.RESOLVED) == [
            "Heartbeat nightly-backup resumed at 2026-11-27 09:35:00 UTC after 35 min of silence."
        ]
        heartbeat.refresh_from_db()
        assert (heartbeat.state, heartbeat.incident, heartbeat.last_ping_at) == ("up", None, back)

    def test_an_acknowledged_incident_is_resolved_too(self, beat, alice):
        heartbeat, _ = beat
        incident = missed(heartbeat)
        incident_acknowledge(incident=incident, actor=alice)

        result = heartbeat_record_ping(heartbeat=heartbeat, at=ALARM + timedelta(minutes=5))

        assert result.incident_resolved
        incident.refresh_from_db()
        assert incident.status == "resolved"

    def test_an_incident_someone_works_on_stays_theirs_with_a_note(self, beat, alice):
        heartbeat, _ = beat
        incident = missed(heartbeat)
        incident_start_investigating(incident=incident, actor=alice)

        result = heartbeat_record_ping(heartbeat=heartbeat, at=ALARM + timedelta(minutes=5))

        assert (result.outcome, result.incident_resolved) == ("resumed", False)
        incident.refresh_from_db()
        assert incident.status == "investigating"
        assert texts(incident, TimelineEvent.Kind.ALERT)[-1] == (
            "Heartbeat nightly-backup resumed at 2026-11-27 09:20:00 UTC after 20 min of "
            "silence. The incident is being worked, so it stays open for its responders."
        )
        heartbeat.refresh_from_db()
        assert heartbeat.state == "up"

    def test_a_second_miss_after_resuming_opens_a_new_incident(self, beat):
        heartbeat, _ = beat
        first = missed(heartbeat)
        back = ALARM + timedelta(minutes=1)
        heartbeat_record_ping(heartbeat=heartbeat, at=back)

        (second,) = heartbeats_check(now=back + INTERVAL + GRACE)

        assert second != first
        assert Incident.objects.count() == 2


class TestConfiguration:
    def test_a_longer_interval_moves_the_alarm_time_at_once(self, beat):
        heartbeat = pinged(beat[0])
        heartbeat.interval = timedelta(hours=1)

        heartbeat_configure(heartbeat=heartbeat)

        assert heartbeats_check(now=ALARM + timedelta(minutes=30)) == []
        heartbeat.refresh_from_db()
        assert heartbeat.alarm_at == T0 + timedelta(hours=1) + GRACE

    def test_an_edit_keeps_a_miss_recorded_meanwhile(self, beat):
        heartbeat = pinged(beat[0])
        stale = Heartbeat.objects.get(pk=heartbeat.pk)  # the admin's copy, read before the miss
        incident = missed(heartbeat)
        stale.description = "Nightly pg_dump of the payments database."

        heartbeat_configure(heartbeat=stale)

        heartbeat.refresh_from_db()
        assert (heartbeat.state, heartbeat.incident) == ("missed", incident)
        assert heartbeat.description == "Nightly pg_dump of the payments database."

    def test_resuming_a_paused_heartbeat_waits_for_the_next_ping(self, beat):
        heartbeat = pinged(beat[0])
        heartbeat.is_active = False
        heartbeat = heartbeat_configure(heartbeat=heartbeat)
        assert heartbeats_check(now=ALARM + timedelta(days=7)) == []

        heartbeat.is_active = True
        heartbeat_configure(heartbeat=heartbeat)

        assert heartbeats_check(now=ALARM + timedelta(days=7)) == []
        heartbeat.refresh_from_db()
        assert (heartbeat.state, heartbeat.alarm_at) == ("waiting", None)

    def test_a_heartbeat_paused_while_missed_ends_its_miss_at_the_next_ping(self, beat):
        heartbeat, _ = beat
        incident = missed(heartbeat)
        heartbeat.refresh_from_db()
        heartbeat.is_active = False
        heartbeat = heartbeat_configure(heartbeat=heartbeat)
        heartbeat.is_active = True
        heartbeat_configure(heartbeat=heartbeat)

        assert heartbeats_check(now=ALARM + timedelta(days=7)) == []
        heartbeat.refresh_from_db()
        assert (heartbeat.state, heartbeat.incident) == ("missed", incident)

        result = heartbeat_record_ping(heartbeat=heartbeat, at=ALARM + timedelta(hours=1))

        assert (result.outcome, result.incident_resolved) == ("resumed", True)
        incident.refresh_from_db()
        assert incident.status == "resolved"
        assert Incident.objects.count() == 1
