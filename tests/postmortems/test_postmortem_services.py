"""Postmortem services: creation, the prefilled summary and timeline, sections, rows, authors."""

import pytest
from django.contrib.auth.models import User

from incidents.models import TimelineEvent
from incidents.services import (
    incident_change_severity,
    incident_reopen,
    incident_resolve,
    incident_role_assign,
    timeline_note_add,
)
from portal.errors import InvalidInputError, PermissionDeniedError
from postmortems.models import Postmortem, PostmortemTimelineRow
from postmortems.selectors import postmortem_timeline, timeline_event_text
from postmortems.services import (
    PostmortemReadOnly,
    postmortem_author_add,
    postmortem_create,
    postmortem_row_update,
    postmortem_sync_timeline,
    postmortem_update,
)
from tests import factories

pytestmark = pytest.mark.django_db


def has_postmortem(incident) -> bool:
    return Postmortem.objects.filter(incident=incident).exists()


def published(postmortem: Postmortem) -> Postmortem:
    Postmortem.objects.filter(pk=postmortem.pk).update(status=Postmortem.Status.PUBLISHED)
    return Postmortem.objects.get(pk=postmortem.pk)


class TestAutomaticCreation:
    @pytest.mark.parametrize("code", ["P1", "P2"])
    def test_resolving_a_severity_that_requires_one_starts_a_draft(self, incident_of, alice, code):
        incident = incident_of(alice, code)
        postmortem = Postmortem.objects.get(incident=incident)
        assert postmortem.status == Postmortem.Status.DRAFT
        assert postmortem.required and postmortem.created_automatically
        assert list(postmortem.authors.all()) == [alice]  # the IC
        assert postmortem.due_at is not None

    @pytest.mark.parametrize("code", ["P3", "P4"])
    def test_nothing_starts_for_a_severity_that_needs_none(self, incident_of, alice, code):
        assert not has_postmortem(incident_of(alice, code))

    def test_the_peak_severity_decides(self, incident_of, alice):
        incident = incident_of(alice, "P3", resolve=False)
        incident = incident_change_severity(
            incident=incident, actor=alice, severity=factories.severity("P1"), reason="All down"
        )
        incident = incident_change_severity(
            incident=incident, actor=alice, severity=factories.severity("P3"), reason="Contained"
        )
        incident_resolve(incident=incident, actor=alice)
        postmortem = Postmortem.objects.get(incident=incident)
        assert postmortem.required

    def test_nothing_starts_before_resolution(self, incident_of, alice):
        assert not has_postmortem(incident_of(alice, "P1", resolve=False))

    def test_reopening_and_resolving_again_keeps_the_one_postmortem(self, incident_of, alice):
        incident = incident_of(alice, "P1")
        first = Postmortem.objects.get(incident=incident)
        postmortem_update(postmortem=first, actor=alice, root_cause="A bad deploy.")
        incident = incident_reopen(incident=incident, actor=alice, reason="Back again")
        incident_resolve(incident=incident, actor=alice)
        again = Postmortem.objects.get(incident=incident)
        assert again.pk == first.pk
        assert again.root_cause == "A bad deploy."

    def test_an_alert_resolving_a_flapping_p1_starts_one_without_authors(self, db):
        incident = factories.triggered("P1")
        incident_resolve(incident=incident, actor=None, source="alert")
        postmortem = Postmortem.objects.get(incident=incident)
        assert postmortem.created_automatically
        assert not postmortem.authors.exists()


class TestCreationByHand:
    def test_a_responder_starts_one_for_any_incident_and_becomes_an_author(
        self, incident_of, alice, bob
    ):
        incident = incident_of(alice, "P4", resolve=False)
        postmortem = postmortem_create(incident=incident, actor=bob)
        assert not postmortem.required and not postmortem.created_automatically
        assert set(postmortem.authors.all()) == {alice, bob}
        assert postmortem.due_at is None  # not resolved yet
        incident_resolve(incident=incident, actor=alice)
        postmortem.refresh_from_db()
        assert postmortem.due_at is not None  # resolution starts the count

    def test_starting_it_again_returns_the_same_one(self, incident_of, alice, bob):
        incident = incident_of(alice, "P1")
        automatic = Postmortem.objects.get(incident=incident)
        assert postmortem_create(incident=incident, actor=bob).pk == automatic.pk
        assert Postmortem.objects.filter(incident=incident).count() == 1

    @pytest.mark.parametrize("who", ["viewer_user", "outsider"])
    def test_viewers_and_outsiders_may_not(self, request, incident_of, alice, who):
        incident = incident_of(alice, "P3")
        with pytest.raises(PermissionDeniedError):
            postmortem_create(incident=incident, actor=request.getfixturevalue(who))
        assert not has_postmortem(incident)

    @pytest.mark.parametrize("who", ["manager_user", "staff_user"])
    def test_managers_and_staff_may(self, request, incident_of, alice, who):
        incident = incident_of(alice, "P3")
        postmortem_create(incident=incident, actor=request.getfixturevalue(who))
        assert has_postmortem(incident)


class TestPrefill:
    def test_the_summary_is_filled_from_the_incident(self, incident_of, alice, payments):
        incident = incident_of(alice, "P1", users_affected_pct=40)
        postmortem = Postmortem.objects.get(incident=incident)
        summary = postmortem.summary
        assert "**Date/Time:**" in summary and "(Europe/Berlin)" in summary
        assert "**Duration:**" in summary
        assert "**Severity:** P1 Critical" in summary
        assert "**Services affected:** Payments API" in summary
        assert "**Impact:** Card payments fail for all customers." in summary
        assert postmortem.users_affected.startswith("About 40% of users")

    def test_the_summary_says_the_peak_and_the_final_severity(self, incident_of, alice):
        incident = incident_of(alice, "P1", resolve=False)
        incident = incident_change_severity(
            incident=incident, actor=alice, severity=factories.severity("P3")
        )
        incident_resolve(incident=incident, actor=alice)
        summary = Postmortem.objects.get(incident=incident).summary
        assert "**Severity:** P1 Critical at its peak (finally P3)" in summary

    def test_the_timeline_is_the_incident_s_events(self, incident_of, alice, bob):
        incident = incident_of(alice, "P1", resolve=False)
        timeline_note_add(incident=incident, actor=bob, body="Error rate > 5% on checkout")
        incident_role_assign(incident=incident, actor=alice, role="scribe", user=bob)
        incident = incident_resolve(incident=incident, actor=alice, message="Rolled back")
        postmortem = Postmortem.objects.get(incident=incident)

        events = list(incident.timeline.order_by("occurred_at", "id"))
        rows = postmortem_timeline(postmortem=postmortem)
        assert len(rows) == len(events) == 5
        assert [row.event.pk for row in rows] == [event.pk for event in events]
        assert [row.text for row in rows] == [
            "Declared P1: Payments service returning 503",
            "Alice is Incident Commander",
            "Note: Error rate > 5% on checkout",
            "Bob is Scribe",
            "Resolved: Rolled back",
        ]
        assert [row.who for row in rows] == ["Alice", "Alice", "Bob", "Alice", "Alice"]

    def test_events_recorded_later_appear_on_sync(self, incident_of, alice, bob):
        incident = incident_of(alice, "P1")
        postmortem = Postmortem.objects.get(incident=incident)
        before = len(postmortem_timeline(postmortem=postmortem))
        timeline_note_add(incident=incident, actor=bob, body="Found the cause afterwards")
        assert postmortem_sync_timeline(postmortem=postmortem) == 1
        assert postmortem_sync_timeline(postmortem=postmortem) == 0
        rows = postmortem_timeline(postmortem=postmortem)
        assert len(rows) == before + 1
        assert rows[-1].text == "Note: Found the cause afterwards"

    def test_a_published_postmortem_gains_no_rows(self, incident_of, alice, bob):
        incident = incident_of(alice, "P1")
        postmortem = published(Postmortem.objects.get(incident=incident))
        count = PostmortemTimelineRow.objects.filter(postmortem=postmortem).count()
        timeline_note_add(incident=incident, actor=bob, body="Too late for the document")
        assert postmortem_sync_timeline(postmortem=postmortem) == 0
        assert PostmortemTimelineRow.objects.filter(postmortem=postmortem).count() == count


class TestTimelineRows:
    @pytest.fixture
    def postmortem(self, incident_of, alice):
        return Postmortem.objects.get(incident=incident_of(alice, "P1"))

    def test_hide_and_annotate_persist(self, postmortem, alice):
        row = postmortem.rows.order_by("event__occurred_at", "event_id")[1]
        postmortem_row_update(row=row, actor=alice, hidden=True)
        other = postmortem.rows.order_by("event__occurred_at", "event_id")[0]
        postmortem_row_update(row=other, actor=alice, annotation="  Paged at 14:00  ")
        shown = postmortem_timeline(postmortem=postmortem, include_hidden=False)
        assert row.pk not in [item.row.pk for item in shown]
        first = postmortem_timeline(postmortem=postmortem)[0]
        assert (first.annotation, first.hidden) == ("Paged at 14:00", False)
        postmortem_row_update(row=row, actor=alice, hidden=False)
        assert len(postmortem_timeline(postmortem=postmortem, include_hidden=False)) == len(
            postmortem_timeline(postmortem=postmortem)
        )

    def test_the_event_text_can_not_be_rewritten(self, postmortem, alice):
        row = postmortem.rows.select_related("event").first()
        original = row.event.message
        with pytest.raises(TypeError):
            postmortem_row_update(row=row, actor=alice, message="Nothing happened")  # type: ignore[call-arg]
        event = TimelineEvent.objects.get(pk=row.event_id)
        event.message = "Nothing happened"
        with pytest.raises(ValueError, match="append-only"):
            event.save()
        postmortem_row_update(row=row, actor=alice, annotation="Context, not a rewrite")
        shown = postmortem_timeline(postmortem=postmortem)[0]
        assert shown.text == timeline_event_text(TimelineEvent.objects.get(pk=row.event_id))
        assert original in shown.text

    @pytest.mark.parametrize("who", ["viewer_user", "carol"])
    def test_readers_and_other_responders_may_not_change_rows(self, request, postmortem, who):
        row = postmortem.rows.first()
        with pytest.raises(PermissionDeniedError):
            postmortem_row_update(row=row, actor=request.getfixturevalue(who), hidden=True)
        assert not PostmortemTimelineRow.objects.get(pk=row.pk).hidden

    def test_rows_of_a_published_postmortem_are_final(self, postmortem, alice):
        row = postmortem.rows.first()
        published(postmortem)
        with pytest.raises(PostmortemReadOnly):
            postmortem_row_update(row=row, actor=alice, annotation="Later thought")


class TestSections:
    @pytest.fixture
    def postmortem(self, incident_of, alice):
        return Postmortem.objects.get(incident=incident_of(alice, "P1"))

    def test_an_author_edits_the_sections(self, postmortem, alice):
        postmortem_update(
            postmortem=postmortem,
            actor=alice,
            root_cause="A config push\r\nremoved the pool limit.",
            contributing_factors="- No canary",
            what_went_well="- Rollback took 2 min",
            users_affected="All EU customers",
            requests_failed="120k",
            revenue_impact="≈ €40k",
            public_summary="Payments failed for 20 minutes.",
        )
        postmortem.refresh_from_db()
        assert postmortem.root_cause == "A config push\nremoved the pool limit."
        assert (postmortem.requests_failed, postmortem.revenue_impact) == ("120k", "≈ €40k")

    @pytest.mark.parametrize(
        "who, allowed",
        [
            ("alice", True),  # author and IC
            ("manager_user", True),
            ("staff_user", True),
            ("bob", False),  # another responder
            ("viewer_user", False),
            ("outsider", False),
        ],
    )
    def test_who_may_edit(self, request, postmortem, who, allowed):
        actor = request.getfixturevalue(who)
        if allowed:
            postmortem_update(postmortem=postmortem, actor=actor, root_cause=f"By {who}")
            assert Postmortem.objects.get(pk=postmortem.pk).root_cause == f"By {who}"
        else:
            with pytest.raises(PermissionDeniedError):
                postmortem_update(postmortem=postmortem, actor=actor, root_cause="Mine now")
            assert Postmortem.objects.get(pk=postmortem.pk).root_cause == ""

    def test_the_current_ic_may_edit_without_being_an_author(self, postmortem, alice, bob):
        incident_role_assign(incident=postmortem.incident, actor=alice, role="commander", user=bob)
        postmortem_update(postmortem=postmortem, actor=bob, root_cause="Bob, now IC, writes")
        assert Postmortem.objects.get(pk=postmortem.pk).root_cause == "Bob, now IC, writes"

    def test_an_added_author_may_edit(self, postmortem, alice, carol):
        postmortem_author_add(postmortem=postmortem, actor=alice, users=[carol])
        postmortem_update(postmortem=postmortem, actor=carol, what_went_well="Fast rollback")
        assert set(postmortem.authors.all()) == {alice, carol}

    def test_a_viewer_can_not_be_made_an_author(self, postmortem, alice, viewer_user):
        with pytest.raises(InvalidInputError):
            postmortem_author_add(postmortem=postmortem, actor=alice, users=[viewer_user])

    def test_unknown_fields_and_oversized_figures_are_refused(self, postmortem, alice):
        with pytest.raises(InvalidInputError) as unknown:
            postmortem_update(postmortem=postmortem, actor=alice, status="published")
        assert unknown.value.field == "status"
        with pytest.raises(InvalidInputError) as too_long:
            postmortem_update(
                postmortem=postmortem, actor=alice, root_cause="ok", users_affected="x" * 201
            )
        assert too_long.value.field == "users_affected"
        assert Postmortem.objects.get(pk=postmortem.pk).root_cause == ""  # nothing half-written

    def test_a_published_postmortem_is_read_only(self, postmortem, alice, staff_user):
        published(postmortem)
        for actor in (alice, staff_user):
            with pytest.raises(PostmortemReadOnly, match="published and read-only"):
                postmortem_update(postmortem=postmortem, actor=actor, root_cause="Changed")
        with pytest.raises(PostmortemReadOnly):
            postmortem_author_add(
                postmortem=postmortem, actor=alice, users=[User.objects.get(username="sam")]
            )
