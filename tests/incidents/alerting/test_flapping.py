"""Flapping: an alert that fires again soon after it resolved reopens its resolved incident."""

from datetime import UTC, datetime, timedelta

import pytest

from incidents.alerting.models import Alert, AlertSource
from incidents.models import Incident, IncidentStatus
from incidents.services import incident_acknowledge, incident_close
from portal.models import Timer

from .conftest import firing, hook_url, make_source, resolved, sample

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def reopened(incident: Incident):
    return incident.timeline.filter(kind="reopened")


class TestGenericAndPagerDuty:
    def test_a_key_firing_again_inside_the_window_reopens_its_incident(
        self, payments, send_check, clock
    ):
        send_check("disk-1", title="Disk full on db-1")
        send_check("disk-1", resolved=True)
        incident = Incident.objects.get()
        assert incident.status == IncidentStatus.RESOLVED
        clock.advance(timedelta(minutes=4))

        send_check("disk-1", title="Disk full on db-1")

        incident.refresh_from_db()
        assert Incident.objects.count() == 1
        assert incident.status == IncidentStatus.TRIGGERED  # paged again, as a new one would be
        assert incident.resolved_at is None
        assert [a.incident_id for a in Alert.objects.order_by("pk")] == [incident.pk] * 2
        event = reopened(incident).get()
        assert event.message == (
            "Reopened: the alert fired again 4 minutes after it resolved (flapping window 15 min)"
            ": Disk full on db-1"
        )
        assert (event.actor, event.source, event.to_value) == (None, "alert", "triggered")
        # Engagement follows the reopening's own event.
        assert Timer.objects.filter(kind="event.oncall.engage_reopened").exists()

    def test_it_resolves_again_with_its_alert(self, payments, send_check, clock):
        send_check("disk-1")
        send_check("disk-1", resolved=True)
        clock.advance(timedelta(minutes=1))
        send_check("disk-1")
        assert Incident.objects.get().status == IncidentStatus.TRIGGERED

        send_check("disk-1", resolved=True)

        assert Incident.objects.get().status == IncidentStatus.RESOLVED

    def test_outside_the_window_a_new_incident_opens(self, payments, send_check, clock):
        send_check("disk-1")
        send_check("disk-1", resolved=True)
        clock.advance(timedelta(minutes=16))

        send_check("disk-1")

        first, second = Incident.objects.order_by("pk")
        assert (first.status, second.status) == ("resolved", "triggered")
        assert not reopened(first).exists()

    def test_the_service_sets_the_window(self, payments, send_check, clock):
        payments.flap_window_minutes = 30
        payments.save()
        send_check("disk-1")
        send_check("disk-1", resolved=True)
        clock.advance(timedelta(minutes=20))

        send_check("disk-1")

        incident = Incident.objects.get()
        assert "(flapping window 30 min)" in reopened(incident).get().message

    def test_a_closed_incident_is_not_reopened(self, payments, send_check, clock, alice):
        send_check("disk-1")
        send_check("disk-1", resolved=True)
        incident_close(incident=Incident.objects.get(), actor=alice)
        clock.advance(timedelta(minutes=1))

        send_check("disk-1")

        first, second = Incident.objects.order_by("pk")
        assert (first.status, second.status) == ("closed", "triggered")
        assert Alert.objects.get(status="firing").incident == second

    def test_a_reopened_incident_keeps_its_first_acknowledgement(
        self, post_hook, payments, clock, alice
    ):
        _, routing_key = make_source(AlertSource.Kind.PAGERDUTY, "pd", default_service=payments)

        def send(action):
            event = sample("pagerduty-events-v2-trigger.json")
            event.update(routing_key=routing_key, event_action=action)
            assert post_hook(hook_url("pagerduty"), event).status_code == 202

        send("trigger")
        incident = Incident.objects.get()
        clock.advance(timedelta(minutes=2))
        incident_acknowledge(incident=incident, actor=alice)
        first_ack = Incident.objects.get().acknowledged_at
        send("resolve")  # PagerDuty: resolves it, acknowledged or not
        clock.advance(timedelta(minutes=3))

        send("trigger")  # the same dedup key
        incident.refresh_from_db()
        assert (Incident.objects.count(), incident.status) == (1, "triggered")
        clock.advance(timedelta(minutes=1))
        incident_acknowledge(incident=incident, actor=alice)

        incident.refresh_from_db()
        assert incident.status == "acknowledged"
        assert incident.acknowledged_at == first_ack  # time to acknowledge: the first response


class TestAlertmanager:
    def test_a_new_episode_of_a_known_group_inside_the_window_reopens(
        self, send_am, payments_rule, clock
    ):
        clock.at(T0 + timedelta(minutes=10))
        send_am(firing(starts_at=iso(T0)))
        send_am(resolved(starts_at=iso(T0), alert={"endsAt": iso(T0 + timedelta(minutes=9))}))
        clock.advance(timedelta(minutes=3))

        send_am(firing(starts_at=iso(T0 + timedelta(minutes=12))))

        incident = Incident.objects.get()
        assert incident.status == IncidentStatus.TRIGGERED
        assert Alert.objects.filter(incident=incident).count() == 2
        assert "fired again 3 minutes after it resolved" in reopened(incident).get().message

    def test_the_same_episode_firing_again_reopens(self, send_am, payments_rule, clock):
        clock.at(T0 + timedelta(minutes=10))
        send_am(firing(starts_at=iso(T0)))
        send_am(resolved(starts_at=iso(T0), alert={"endsAt": iso(T0 + timedelta(minutes=10))}))
        clock.advance(timedelta(minutes=2))

        send_am(firing(starts_at=iso(T0)))  # Alertmanager's resolve_timeout; it fires on

        incident = Incident.objects.get()
        assert incident.status == IncidentStatus.TRIGGERED
        assert Alert.objects.get().status == "firing"
        assert "fired again 2 minutes after it resolved" in reopened(incident).get().message

    def test_a_new_episode_after_the_window_opens_a_new_incident(
        self, send_am, payments_rule, clock
    ):
        clock.at(T0 + timedelta(minutes=10))
        send_am(firing(starts_at=iso(T0)))
        send_am(resolved(starts_at=iso(T0), alert={"endsAt": iso(T0 + timedelta(minutes=9))}))
        clock.advance(timedelta(minutes=30))

        send_am(firing(starts_at=iso(T0 + timedelta(minutes=39))))

        assert Incident.objects.count() == 2
        assert not reopened(Incident.objects.order_by("pk").first()).exists()

    def test_another_alert_of_the_group_is_not_flapping(self, send_am, payments_rule, clock):
        clock.at(T0 + timedelta(minutes=10))
        send_am(firing(starts_at=iso(T0)))
        send_am(resolved(starts_at=iso(T0), alert={"endsAt": iso(T0 + timedelta(minutes=9))}))
        clock.advance(timedelta(minutes=1))

        send_am(firing(fingerprint="another", starts_at=iso(T0 + timedelta(minutes=10))))

        assert Incident.objects.count() == 2
