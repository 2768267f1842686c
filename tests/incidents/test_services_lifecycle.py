"""Every transition of docs/ARCHITECTURE.md, Incident lifecycle: legal, illegal and repeated."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import Incident, IncidentStatus, TimelineEvent
from incidents.services import (
    ALLOWED_TRANSITIONS,
    TransitionNotAllowed,
    incident_acknowledge,
    incident_change_severity,
    incident_close,
    incident_mitigate,
    incident_reopen,
    incident_resolve,
    incident_start_investigating,
    incident_update_details,
)
from portal.errors import InvalidInputError
from tests import factories

S = IncidentStatus


def kinds(incident: Incident) -> list[str]:
    return list(incident.timeline.order_by("occurred_at", "id").values_list("kind", flat=True))


def reach(status: str, actor, code: str = "P3") -> Incident:
    """Return an incident brought to `status` through the services."""
    if status in (S.TRIGGERED, S.ACKNOWLEDGED):
        incident = factories.triggered(code)
        if status == S.ACKNOWLEDGED:
            incident = incident_acknowledge(incident=incident, actor=actor)
        return incident
    incident = factories.declared(actor, code)
    if status in (S.MITIGATED, S.RESOLVED, S.CLOSED):
        incident = incident_mitigate(incident=incident, actor=actor)
    if status in (S.RESOLVED, S.CLOSED):
        incident = incident_resolve(incident=incident, actor=actor)
    if status == S.CLOSED:
        incident = incident_close(incident=incident, actor=actor)
    return incident


def move(incident: Incident, to_status: str, actor) -> Incident:
    if to_status == S.ACKNOWLEDGED:
        return incident_acknowledge(incident=incident, actor=actor)
    if to_status == S.INVESTIGATING:
        if incident.status == S.RESOLVED:
            return incident_reopen(incident=incident, actor=actor, reason="Errors are back")
        return incident_start_investigating(incident=incident, actor=actor, reason="Did not hold")
    if to_status == S.MITIGATED:
        return incident_mitigate(incident=incident, actor=actor)
    if to_status == S.RESOLVED:
        return incident_resolve(incident=incident, actor=actor)
    if to_status == S.CLOSED:
        return incident_close(incident=incident, actor=actor)
    raise AssertionError(to_status)


class TestDeclareAndTrigger:
    def test_declaring_starts_investigating_acknowledged_with_the_declarer_as_ic(
        self, alice, payments
    ):
        incident = factories.declared(alice, "P1", services=[payments])

        assert incident.status == S.INVESTIGATING
        assert incident.detected_at == incident.acknowledged_at == incident.impact_started_at
        assert incident.team == payments.team
        assert incident.peak_severity.code == "P1"
        assert incident.role_assignments.get(ended_at__isnull=True).user == alice
        assert kinds(incident) == ["declared", "role_assigned"]
        assert incident.reference == f"INC-{incident.pk}"

    def test_declarer_may_name_someone_else_as_ic(self, alice, bob):
        incident = factories.declared(alice, commander=bob)

        assert incident.role_assignments.get(role="commander").user == bob
        assert incident.declared_by == alice

    def test_impact_may_start_before_declaration_but_not_after(self, alice):
        earlier = timezone.now() - timedelta(minutes=20)
        incident = factories.declared(alice, impact_started_at=earlier)
        assert incident.time_to_detect >= timedelta(minutes=20)

        with pytest.raises(InvalidInputError) as error:
            factories.declared(alice, impact_started_at=timezone.now() + timedelta(hours=1))
        assert error.value.field == "impact_started_at"

    def test_a_viewer_cannot_declare_and_nothing_is_written(self, viewer_user):
        with pytest.raises(Exception, match="Only responders"):
            factories.declared(viewer_user)
        assert not Incident.objects.exists()

    def test_blank_title_is_refused(self, alice):
        with pytest.raises(InvalidInputError) as error:
            factories.declared(alice, title="   ")
        assert error.value.field == "title"
        assert not Incident.objects.exists()

    def test_an_alert_opens_a_triggered_incident_without_acknowledgement(self, payments):
        incident = factories.triggered("P2", services=[payments])

        assert incident.status == S.TRIGGERED
        assert incident.acknowledged_at is None
        assert incident.source == "alert"
        assert kinds(incident) == ["triggered"]

    def test_bridge_url_comes_from_the_template(self, alice, settings):
        settings.FIREBREAK_BRIDGE_URL_TEMPLATE = "https://meet.example.com/inc-{number}"
        incident = factories.declared(alice)
        assert incident.bridge_url == f"https://meet.example.com/inc-{incident.pk}"
        typed = factories.declared(alice, bridge_url="https://zoom.example.com/j/1")
        assert typed.bridge_url == "https://zoom.example.com/j/1"


# Every (from, to) pair, legal per the table or not.
ALL_PAIRS = [
    (f, t)
    for f in (S.TRIGGERED, S.ACKNOWLEDGED, S.INVESTIGATING, S.MITIGATED, S.RESOLVED, S.CLOSED)
    for t in (S.ACKNOWLEDGED, S.INVESTIGATING, S.MITIGATED, S.RESOLVED, S.CLOSED)
    if f != t
]


@pytest.mark.parametrize(("from_status", "to_status"), ALL_PAIRS)
def test_transition_matrix(from_status, to_status, alice):
    incident = reach(from_status, alice)
    before = kinds(incident)

    if to_status in ALLOWED_TRANSITIONS[from_status]:
        moved = move(incident, to_status, alice)
        assert moved.status == to_status
        assert len(kinds(moved)) == len(before) + 1
        assert Incident.objects.get(pk=incident.pk).status == to_status
    else:
        with pytest.raises(TransitionNotAllowed):
            move(incident, to_status, alice)
        assert Incident.objects.get(pk=incident.pk).status == from_status
        assert kinds(incident) == before


@pytest.mark.parametrize(
    "status", [S.ACKNOWLEDGED, S.INVESTIGATING, S.MITIGATED, S.RESOLVED, S.CLOSED]
)
def test_repeating_the_current_state_is_a_no_op(status, alice):
    incident = reach(status, alice)
    before = kinds(incident)
    updated_at = Incident.objects.get(pk=incident.pk).updated_at

    again = move(incident, status, alice)

    assert again.status == status
    assert kinds(incident) == before
    assert Incident.objects.get(pk=incident.pk).updated_at == updated_at


class TestTimestamps:
    def test_acknowledge_sets_acknowledged_at(self, alice):
        incident = incident_acknowledge(incident=factories.triggered(), actor=alice)
        assert incident.acknowledged_at is not None
        event = incident.timeline.get(kind="acknowledged")
        assert (event.actor, event.from_value, event.to_value) == (
            alice,
            "triggered",
            "acknowledged",
        )

    def test_an_alert_source_acknowledges_without_a_person(self, db):
        incident = incident_acknowledge(incident=factories.triggered(), actor=None, source="alert")
        event = incident.timeline.get(kind="acknowledged")
        assert (incident.status, event.actor, event.source) == ("acknowledged", None, "alert")
        assert event.message == "Acknowledged by the alert source"

    def test_only_an_alert_source_acknowledges_without_a_person(self, db):
        incident = factories.triggered()
        with pytest.raises(InvalidInputError):
            incident_acknowledge(incident=incident, actor=None, source="web")
        assert Incident.objects.get(pk=incident.pk).status == S.TRIGGERED

    def test_starting_work_on_a_triggered_incident_acknowledges_it(self, alice):
        incident = incident_start_investigating(incident=factories.triggered(), actor=alice)
        assert incident.acknowledged_at is not None

    def test_resolve_sets_mitigated_at_when_unset(self, alice):
        incident = incident_resolve(incident=factories.declared(alice, "P3"), actor=alice)
        assert incident.resolved_at == incident.mitigated_at
        assert incident.time_to_resolve is not None

    def test_resolve_keeps_an_earlier_mitigation_time(self, alice):
        incident = incident_mitigate(incident=factories.declared(alice, "P3"), actor=alice)
        mitigated_at = incident.mitigated_at
        incident = incident_resolve(incident=incident, actor=alice)
        assert incident.mitigated_at == mitigated_at < incident.resolved_at

    def test_mitigation_that_did_not_hold_needs_a_reason_and_keeps_mitigated_at(self, alice):
        incident = incident_mitigate(incident=factories.declared(alice, "P3"), actor=alice)
        with pytest.raises(InvalidInputError):
            incident_start_investigating(incident=incident, actor=alice)
        incident = incident_start_investigating(
            incident=incident, actor=alice, reason="Error rate climbing again"
        )
        assert incident.status == S.INVESTIGATING
        assert incident.mitigated_at is not None
        assert incident.timeline.last().message == "Error rate climbing again"

    def test_reopen_clears_resolved_at_and_says_why(self, alice):
        incident = reach(S.RESOLVED, alice)
        with pytest.raises(InvalidInputError):
            incident_reopen(incident=incident, actor=alice, reason=" ")
        incident = incident_reopen(incident=incident, actor=alice, reason="503s are back")
        assert incident.resolved_at is None
        assert incident.timeline.last().kind == TimelineEvent.Kind.REOPENED

    def test_reopening_what_was_never_resolved_is_refused(self, alice):
        incident = factories.declared(alice)
        with pytest.raises(TransitionNotAllowed, match="not resolved; there is nothing to reopen"):
            incident_reopen(incident=incident, actor=alice, reason="?")
        assert kinds(incident) == ["declared", "role_assigned"]

    def test_alert_source_resolves_only_an_unacknowledged_incident(self, alice):
        flapping = incident_resolve(incident=factories.triggered(), actor=None, source="alert")
        assert flapping.status == S.RESOLVED
        worked = factories.declared(alice)
        with pytest.raises(TransitionNotAllowed):
            incident_resolve(incident=worked, actor=None, source="alert")

    def test_close_waits_for_a_required_postmortem(self, alice):
        incident = reach(S.RESOLVED, alice, code="P2")
        with pytest.raises(TransitionNotAllowed, match="postmortem"):
            incident_close(incident=incident, actor=alice)
        assert Incident.objects.get(pk=incident.pk).status == S.RESOLVED

    def test_close_a_p3(self, alice):
        incident = reach(S.CLOSED, alice, code="P3")
        assert incident.closed_at is not None


class TestSeverity:
    def test_peak_severity_keeps_the_worst(self, alice):
        incident = factories.declared(alice, "P3")
        incident = incident_change_severity(
            incident=incident, actor=alice, severity=factories.severity("P1"), reason="All users"
        )
        incident = incident_change_severity(
            incident=incident, actor=alice, severity=factories.severity("P2")
        )
        assert (incident.severity.code, incident.peak_severity.code) == ("P2", "P1")
        messages = list(incident.timeline.filter(kind="severity_changed").values_list("message"))
        assert messages == [("Raised severity P3 → P1: All users",), ("Lowered severity P1 → P2",)]

    def test_same_severity_is_a_no_op(self, alice):
        incident = factories.declared(alice, "P2")
        incident_change_severity(incident=incident, actor=alice, severity=factories.severity("P2"))
        assert not incident.timeline.filter(kind="severity_changed").exists()

    def test_a_peak_p1_still_needs_its_postmortem_after_downgrade(self, alice):
        incident = factories.declared(alice, "P1")
        incident = incident_change_severity(
            incident=incident, actor=alice, severity=factories.severity("P4")
        )
        incident = incident_resolve(incident=incident, actor=alice)
        with pytest.raises(TransitionNotAllowed):
            incident_close(incident=incident, actor=alice)


class TestDetails:
    def test_edit_records_what_changed(self, alice):
        incident = factories.declared(alice)
        incident = incident_update_details(
            incident=incident, actor=alice, impact="Checkout fails", users_affected_pct=40
        )
        event = incident.timeline.last()
        assert event.kind == "details_changed"
        assert event.data["changes"]["users_affected_pct"] == ["", "40"]

    def test_impact_start_after_detection_is_refused(self, alice):
        incident = factories.declared(alice)
        with pytest.raises(InvalidInputError):
            incident_update_details(
                incident=incident,
                actor=alice,
                impact_started_at=incident.detected_at + timedelta(minutes=1),
            )

    def test_unknown_field_is_refused(self, alice):
        incident = factories.declared(alice)
        with pytest.raises(InvalidInputError):
            incident_update_details(incident=incident, actor=alice, status="resolved")
        assert Incident.objects.get(pk=incident.pk).status == S.INVESTIGATING


def test_timeline_events_are_append_only(alice):
    incident = factories.declared(alice)
    event = incident.timeline.first()
    event.message = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()
