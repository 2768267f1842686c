"""The initial status page update: a P1/P2 unpublished after 5 minutes reminds the IC, once."""

from datetime import timedelta

import pytest
from django.core import mail

from incidents.models import TimelineEvent
from incidents.services import (
    incident_change_severity,
    incident_resolve,
    incident_role_assign,
    incident_update_details,
)
from incidents.statuspage.services import public_update_publish
from tests import factories

pytestmark = pytest.mark.django_db


def reminders() -> list:
    return [m for m in mail.outbox if "publish to the status page" in m.subject]


@pytest.fixture
def sweep(status_clock, django_capture_on_commit_callbacks):
    """Fire what is due at `minutes` after the clock's start, running the after-commit mail."""
    start = status_clock.now

    def at(minutes: float) -> None:
        status_clock.at(start + timedelta(minutes=minutes))
        with django_capture_on_commit_callbacks(execute=True):
            status_clock.sweep()

    return at


def publish(incident, actor):
    public_update_publish(
        incident=incident,
        actor=actor,
        status="investigating",
        body="We are investigating failing card payments.",
        name="Card payments are failing",
    )


def test_the_ic_and_communicator_are_reminded_once(sweep, alice, bob):
    incident = factories.declared(alice, "P1")
    incident_role_assign(incident=incident, actor=alice, role="communicator", user=bob)

    sweep(4.9)
    assert reminders() == []
    sweep(5.1)
    (reminder,) = reminders()
    assert sorted(reminder.to) == ["alice@example.com", "bob@example.com"]
    assert f"/incidents/{incident.pk}/public-updates/" in reminder.body
    assert incident.reference in reminder.subject
    note = TimelineEvent.objects.get(incident=incident, data__reminder__isnull=False)
    assert note.message.startswith("Reminded Alice, Bob")

    sweep(30)
    sweep(60)
    assert len(reminders()) == 1


def test_publishing_in_time_means_no_reminder(sweep, alice):
    incident = factories.declared(alice, "P2")
    sweep(3)
    publish(incident, alice)
    sweep(10)
    assert reminders() == []


def test_p3_and_p4_are_not_reminded_unless_raised(sweep, alice):
    quiet = factories.declared(alice, "P3")
    factories.declared(alice, "P4")
    sweep(20)
    assert reminders() == []

    # Raised to P2 twenty minutes in: the five minutes run from the raise.
    incident_change_severity(incident=quiet, actor=alice, severity=factories.severity("P2"))
    sweep(24)
    assert reminders() == []
    sweep(25.5)
    (reminder,) = reminders()
    assert "P2" in reminder.subject


def test_no_reminder_after_resolving_or_for_internal_incidents(sweep, alice):
    resolved = factories.declared(alice, "P1")
    internal = factories.declared(alice, "P1", customer_facing=False)
    incident_resolve(incident=resolved, actor=alice)
    sweep(10)
    assert reminders() == []
    assert not TimelineEvent.objects.filter(
        incident__in=[resolved, internal], data__reminder__isnull=False
    ).exists()


def test_an_incident_made_internal_after_declaring_is_not_reminded(sweep, alice):
    incident = factories.declared(alice, "P1")
    incident_update_details(incident=incident, actor=alice, customer_facing=False)
    sweep(10)
    assert reminders() == []


def test_a_triggered_p1_with_nobody_in_charge_notes_it_on_the_timeline(sweep):
    incident = factories.triggered("P1")
    sweep(6)
    assert reminders() == []
    note = TimelineEvent.objects.get(incident=incident, data__reminder__isnull=False)
    assert "no Incident Commander or Communicator" in note.message


def test_lowering_below_p2_stops_the_reminder(sweep, alice):
    incident = factories.declared(alice, "P2")
    incident_change_severity(incident=incident, actor=alice, severity=factories.severity("P3"))
    sweep(10)
    assert reminders() == []
