"""Status update reminders: five minutes after declaration, then once per missed interval."""

from datetime import timedelta

from django.core import mail

from incidents.oncall.paging import incident_engage
from incidents.services import incident_resolve, incident_role_assign, status_update_post
from tests import factories


def reminders(to):
    return [m for m in mail.outbox if "status update due" in m.subject and to in m.to]


def test_the_ic_and_communicator_are_reminded_once_per_missed_interval(
    paging_team, alice, bob, clock
):
    start = clock.now
    incident = factories.declared(alice, "P1", team=paging_team)
    incident_role_assign(incident=incident, actor=alice, role="communicator", user=bob)
    incident_engage(incident_id=incident.pk)

    clock.at(start + timedelta(minutes=4))
    clock.sweep()
    assert reminders("alice@example.com") == []
    clock.at(start + timedelta(minutes=5, seconds=1))
    clock.sweep()
    clock.sweep()
    (first,) = reminders("alice@example.com")
    assert "bob@example.com" in first.to
    assert "No internal status update" in first.body

    clock.at(start + timedelta(minutes=15, seconds=1))
    clock.sweep()
    clock.at(start + timedelta(minutes=20))
    clock.sweep()
    assert len(reminders("alice@example.com")) == 2  # the 15-minute interval, once
    clock.at(start + timedelta(minutes=30, seconds=1))
    clock.sweep()
    assert len(reminders("alice@example.com")) == 3


def test_an_update_in_time_moves_the_next_reminder(paging_team, alice, clock):
    start = clock.now
    incident = factories.declared(alice, "P1", team=paging_team)
    incident_engage(incident_id=incident.pk)
    clock.at(start + timedelta(minutes=3))
    status_update_post(
        incident=incident,
        actor=alice,
        status="INVESTIGATING",
        impact="Card payments fail",
        last_action="Paged payments",
        next_action="Roll back",
    )
    clock.at(start + timedelta(minutes=16))
    clock.sweep()
    assert reminders("alice@example.com") == []  # due at 18 minutes now
    clock.at(start + timedelta(minutes=18, seconds=1))
    clock.sweep()
    assert len(reminders("alice@example.com")) == 1


def test_no_reminders_for_p3_or_after_resolve(paging_team, alice, clock):
    start = clock.now
    quiet = factories.declared(alice, "P3", team=paging_team)
    incident_engage(incident_id=quiet.pk)
    loud = factories.declared(alice, "P1", team=paging_team)
    incident_engage(incident_id=loud.pk)
    incident_resolve(incident=loud, actor=alice)
    clock.at(start + timedelta(hours=1))
    clock.sweep()
    assert reminders("alice@example.com") == []
