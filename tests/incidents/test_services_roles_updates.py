"""Roles, status updates and scribe notes."""

import zoneinfo
from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import selectors
from incidents.models import IncidentStatus, RoleAssignment, StatusUpdate, TeamNotification
from incidents.services import (
    RoleTaken,
    incident_acknowledge,
    incident_mitigate,
    incident_role_assign,
    incident_role_release,
    status_update_post,
    timeline_note_add,
)
from portal.errors import InvalidInputError, PermissionDeniedError
from tests import factories


def holders(incident) -> dict[str, str]:
    return {
        role: assignment.user.username
        for role, assignment in selectors.incident_current_roles(incident=incident).items()
    }


class TestRoles:
    def test_a_responder_takes_a_free_role(self, alice, bob):
        incident = factories.declared(alice)
        incident_role_assign(incident=incident, actor=bob, role="scribe")
        assert holders(incident) == {"commander": "alice", "scribe": "bob"}

    def test_taking_a_held_role_is_refused_with_who_holds_it(self, alice, bob, carol):
        incident = factories.declared(alice)
        incident_role_assign(incident=incident, actor=bob, role="scribe")
        with pytest.raises(RoleTaken, match="Bob is Scribe"):
            incident_role_assign(incident=incident, actor=carol, role="scribe")
        assert holders(incident)["scribe"] == "bob"

    def test_taking_the_ic_role_from_its_holder_asks_them(self, alice, bob):
        incident = factories.declared(alice)
        with pytest.raises(RoleTaken) as error:
            incident_role_assign(incident=incident, actor=bob, role="commander")
        assert error.value.message == (
            f"Alice is Incident Commander of {incident.reference}; ask them to hand it over."
        )

    def test_ic_hands_over_and_history_is_kept(self, alice, bob):
        incident = factories.declared(alice)
        incident_role_assign(incident=incident, actor=alice, role="commander", user=bob)

        assert holders(incident)["commander"] == "bob"
        history = RoleAssignment.objects.filter(incident=incident, role="commander")
        assert [(a.user.username, a.ended_at is None) for a in history] == [
            ("alice", False),
            ("bob", True),
        ]
        assert "handed over from Alice to Bob" in incident.timeline.last().message

    def test_the_new_ic_holds_the_ic_rights_and_the_old_one_loses_them(self, alice, bob):
        incident = factories.declared(alice)
        incident_role_assign(incident=incident, actor=alice, role="commander", user=bob)
        with pytest.raises(PermissionDeniedError):
            incident_mitigate(incident=incident, actor=alice)
        assert incident_mitigate(incident=incident, actor=bob).status == "mitigated"

    def test_a_non_ic_cannot_assign_others(self, alice, bob, carol):
        incident = factories.declared(alice)
        with pytest.raises(PermissionDeniedError):
            incident_role_assign(incident=incident, actor=bob, role="scribe", user=carol)
        assert "scribe" not in holders(incident)

    def test_without_an_ic_any_responder_may_assign(self, alice, bob, carol):
        incident = factories.triggered()
        incident_acknowledge(incident=incident, actor=bob)
        incident_role_assign(incident=incident, actor=bob, role="commander", user=carol)
        assert holders(incident) == {"commander": "carol"}

    def test_only_responders_can_hold_roles(self, alice, viewer_user):
        incident = factories.declared(alice)
        with pytest.raises(InvalidInputError):
            incident_role_assign(incident=incident, actor=alice, role="scribe", user=viewer_user)

    def test_unknown_role(self, alice):
        with pytest.raises(InvalidInputError, match="Unknown role"):
            incident_role_assign(incident=factories.declared(alice), actor=alice, role="chef")

    def test_leave_and_relieve(self, alice, bob, carol):
        incident = factories.declared(alice)
        incident_role_assign(incident=incident, actor=bob, role="scribe")
        incident_role_assign(incident=incident, actor=carol, role="investigator")
        incident_role_release(incident=incident, actor=bob, role="scribe")
        with pytest.raises(PermissionDeniedError):
            incident_role_release(incident=incident, actor=bob, role="investigator")
        incident_role_release(incident=incident, actor=alice, role="investigator")
        assert holders(incident) == {"commander": "alice"}

    def test_a_viewer_cannot_release_even_a_free_role(self, alice, viewer_user):
        incident = factories.declared(alice)
        with pytest.raises(PermissionDeniedError):
            incident_role_release(incident=incident, actor=viewer_user, role="scribe")

    def test_incident_without_ic_is_flagged_past_acknowledged(self, alice):
        incident = factories.declared(alice)
        assert not selectors.incident_needs_commander(incident)
        incident_role_release(incident=incident, actor=alice, role="commander")
        assert selectors.incident_needs_commander(incident)
        triggered = factories.triggered()
        assert not selectors.incident_needs_commander(triggered)


class TestStatusUpdates:
    def post(self, incident, actor, **overrides):
        fields = {
            "status": "INVESTIGATING",
            "impact": "Payments returning 503 for 38% of requests",
            "last_action": "Rolled back deploy 4121",
            "next_action": "Watching error rate",
            "eta": "15 min",
        }
        fields.update(overrides)
        return status_update_post(incident=incident, actor=actor, **fields)

    def test_update_resets_the_next_due_time(self, alice):
        incident = factories.declared(alice, "P1")
        first_due = selectors.incident_next_update_due(incident)
        assert first_due == incident.acknowledged_at + timedelta(minutes=15)

        update = self.post(incident, alice)

        fresh = selectors.incident_get(pk=incident.pk)
        assert selectors.incident_next_update_due(fresh) == update.posted_at + timedelta(minutes=15)
        assert "Last Action: Rolled back deploy 4121" in incident.timeline.last().message

    def test_overdue_flag(self, alice):
        incident = factories.declared(alice, "P2", at=timezone.now() - timedelta(minutes=31))
        assert selectors.incident_update_overdue(selectors.incident_get(pk=incident.pk))
        self.post(incident, alice)
        assert not selectors.incident_update_overdue(selectors.incident_get(pk=incident.pk))

    def test_p3_has_no_update_cadence(self, alice):
        assert selectors.incident_next_update_due(factories.declared(alice, "P3")) is None

    def test_missing_field_names_it_and_writes_nothing(self, alice):
        incident = factories.declared(alice)
        with pytest.raises(InvalidInputError) as error:
            self.post(incident, alice, next_action="  ")
        assert error.value.field == "next_action"
        assert not StatusUpdate.objects.exists()

    def test_resolved_update_never_resolves_silently(self, alice):
        incident = factories.declared(alice)
        self.post(incident, alice, status="RESOLVED")
        incident.refresh_from_db()
        assert incident.status == IncidentStatus.INVESTIGATING

    def test_resolved_update_with_resolve_resolves_in_the_same_step(self, alice):
        incident = factories.declared(alice)
        self.post(incident, alice, status="RESOLVED", resolve=True)
        incident.refresh_from_db()
        assert incident.status == IncidentStatus.RESOLVED

    def test_resolve_needs_the_right_to_resolve_and_then_nothing_is_posted(self, alice, bob):
        incident = factories.declared(alice)
        with pytest.raises(PermissionDeniedError):
            self.post(incident, bob, status="RESOLVED", resolve=True)
        assert not StatusUpdate.objects.exists()
        incident.refresh_from_db()
        assert incident.status == IncidentStatus.INVESTIGATING

    def test_resolve_flag_needs_a_resolved_status(self, alice):
        with pytest.raises(InvalidInputError):
            self.post(factories.declared(alice), alice, resolve=True)

    def test_eta_defaults_to_unknown(self, alice):
        assert self.post(factories.declared(alice), alice, eta="").eta == "unknown"


class TestNotes:
    def test_note_dated_within_the_window(self, alice, bob):
        start = timezone.now() - timedelta(minutes=30)
        incident = factories.declared(alice, impact_started_at=start)
        earlier = start + timedelta(minutes=5)
        note = timeline_note_add(
            incident=incident, actor=bob, body="Identified bad deploy", occurred_at=earlier
        )
        assert note.occurred_at == earlier
        # Ordered by event time: the note comes before the declaration.
        assert selectors.incident_timeline(incident=incident).first() == note

    def test_the_window_is_told_in_the_readers_time_zone(self, alice):
        start = timezone.now() - timedelta(hours=1)
        incident = factories.declared(alice, impact_started_at=start)
        berlin = timezone.localtime(start, zoneinfo.ZoneInfo("Europe/Berlin"))
        with timezone.override("Europe/Berlin"), pytest.raises(InvalidInputError) as error:
            timeline_note_add(
                incident=incident, actor=alice, body="x", occurred_at=start - timedelta(hours=2)
            )
        assert f"({berlin:%Y-%m-%d %H:%M} CE" in error.value.message

    def test_note_outside_the_window_is_refused(self, alice):
        incident = factories.declared(alice)
        for when in (
            incident.impact_started_at - timedelta(seconds=1),
            timezone.now() + timedelta(hours=1),
        ):
            with pytest.raises(InvalidInputError) as error:
                timeline_note_add(incident=incident, actor=alice, body="x", occurred_at=when)
            assert error.value.field == "occurred_at"

    def test_correction_is_a_new_event_pointing_at_the_old(self, alice):
        incident = factories.declared(alice)
        wrong = timeline_note_add(incident=incident, actor=alice, body="Rolled back at 14:15")
        fix = timeline_note_add(
            incident=incident, actor=alice, body="Rolled back at 14:16", corrects=wrong
        )
        wrong.refresh_from_db()
        assert wrong.message == "Rolled back at 14:15"
        assert fix.corrects == wrong

    def test_viewer_cannot_write_notes(self, alice, viewer_user):
        with pytest.raises(PermissionDeniedError):
            timeline_note_add(incident=factories.declared(alice), actor=viewer_user, body="hi")


class TestTeamNotification:
    def test_declaring_tells_the_team_once(
        self, alice, payments, django_capture_on_commit_callbacks, mailoutbox
    ):
        from incidents.services import incident_notify_team

        with django_capture_on_commit_callbacks(execute=True):
            incident = factories.declared(alice, "P1", services=[payments])

        assert len(mailoutbox) == 1
        assert mailoutbox[0].to == ["payments@example.com"]
        assert mailoutbox[0].subject == f"[P1] {incident.reference} declared: {incident.title}"
        declared = incident.timeline.get(kind="declared")
        assert incident_notify_team(event_id=declared.pk) is None
        assert len(mailoutbox) == 1

    def test_the_mail_gives_the_status_as_of_the_event(
        self, alice, payments, django_capture_on_commit_callbacks, mailoutbox
    ):
        from incidents.services import incident_resolve

        with django_capture_on_commit_callbacks(execute=True):
            incident = factories.declared(alice, "P1", services=[payments])
        incident_resolve(incident=incident, actor=alice)  # before the queued mail is sent
        from incidents.services import incident_notify_team

        mailoutbox.clear()
        declared = incident.timeline.get(kind="declared")
        TeamNotification.objects.filter(event=declared).delete()
        incident_notify_team(event_id=declared.pk)
        assert "Status: Investigating" in mailoutbox[0].body

    def test_old_events_are_not_mailed(self, alice, payments, mailoutbox):
        from incidents.services import incident_notify_team

        incident = factories.declared(
            alice, "P1", services=[payments], at=timezone.now() - timedelta(days=2)
        )
        assert incident_notify_team(event_id=incident.timeline.get(kind="declared").pk) is None
        assert mailoutbox == []

    def test_a_failed_send_leaves_no_record_so_a_retry_sends(
        self, alice, payments, django_capture_on_commit_callbacks, mailoutbox, monkeypatch
    ):
        from incidents.models import TeamNotification
        from incidents.services import incident_notify_team, notifications

        incident = factories.declared(alice, "P1", services=[payments])
        event = incident.timeline.get(kind="declared")

        def refuse(**kwargs):
            raise ConnectionError("mail server down")

        monkeypatch.setattr(notifications, "mail_send", refuse)
        with pytest.raises(ConnectionError):
            incident_notify_team(event_id=event.pk)
        assert not TeamNotification.objects.exists()
        monkeypatch.undo()
        assert incident_notify_team(event_id=event.pk) is not None
        assert len(mailoutbox) == 1
