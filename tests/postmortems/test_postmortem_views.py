"""The postmortem pages: list, edit and preview, rows, workflow, export, print, incident panel."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from incidents.services import timeline_note_add
from postmortems.models import Postmortem, PostmortemTimelineRow, Review
from postmortems.services import (
    postmortem_create,
    postmortem_publish,
    postmortem_row_update,
    postmortem_submit,
    postmortem_update,
    review_decide,
)
from postmortems.services.action_items import action_item_create

from .conftest import page_text
from .test_markdown import PAYLOADS, DangerFinder

pytestmark = pytest.mark.django_db

SECTIONS = ("summary", "root_cause", "contributing_factors", "what_went_well", "public_summary")


def url(name: str, postmortem: Postmortem | None = None, **kwargs) -> str:
    if postmortem is not None:
        kwargs["pk"] = postmortem.pk
    return reverse(f"postmortems:{name}", kwargs=kwargs or None)


class PageDangerFinder(DangerFinder):
    """As DangerFinder, but the page's own forms, favicon and static scripts are expected."""

    def handle_starttag(self, tag, attrs):
        if tag in ("form", "link"):
            return
        if tag == "script" and (dict(attrs).get("src") or "").startswith("/static/"):
            return
        super().handle_starttag(tag, attrs)


def page_dangers(response) -> list[str]:
    finder = PageDangerFinder()
    finder.feed(response.content.decode())
    return finder.found


@pytest.fixture
def incident(incident_of, alice):
    return incident_of(alice, "P1")


@pytest.fixture
def postmortem(incident):
    return Postmortem.objects.get(incident=incident)


def sections_data(postmortem: Postmortem, **changes) -> dict[str, str]:
    data = {
        name: getattr(postmortem, name)
        for name in (*SECTIONS, "users_affected", "requests_failed", "revenue_impact")
    }
    return {**data, **changes}


class TestAccess:
    def test_anonymous_people_are_sent_to_login(self, client, postmortem):
        for address in (url("list"), url("detail", postmortem), url("export", postmortem)):
            response = client.get(address)
            assert response.status_code == 302 and "/accounts/login/" in response["Location"]

    def test_an_account_in_no_group_is_refused(self, logged_in, outsider, postmortem):
        assert logged_in(outsider).get(url("detail", postmortem)).status_code == 403

    def test_a_viewer_reads_but_may_not_edit(self, logged_in, viewer_user, postmortem):
        client = logged_in(viewer_user)
        response = client.get(url("detail", postmortem))
        assert response.status_code == 200
        text = page_text(response)
        assert "You can read this postmortem" in text
        assert 'id="sections-form"' not in text
        assert url("publish", postmortem) not in text
        response = client.post(
            url("detail", postmortem), sections_data(postmortem, root_cause="Viewer text")
        )
        assert response.status_code == 403
        assert Postmortem.objects.get(pk=postmortem.pk).root_cause == ""

    def test_another_responder_may_not_change_rows(self, logged_in, carol, postmortem):
        row = postmortem.rows.first()
        logged_in(carol).post(url("row_update", postmortem, row_pk=row.pk), {"hidden": "on"})
        assert not PostmortemTimelineRow.objects.get(pk=row.pk).hidden


class TestList:
    def test_lists_postmortems_with_status_due_and_overdue_flag(
        self, logged_in, alice, incident_of, postmortem
    ):
        late = Postmortem.objects.get(incident=incident_of(alice, "P2", title="Search down"))
        Postmortem.objects.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(hours=1))
        client = logged_in(alice)
        text = page_text(client.get(url("list")))
        assert "Payments service returning 503" in text and "Search down" in text
        assert text.count("Overdue") >= 1  # the filter label plus the flag
        overdue = page_text(client.get(url("list"), {"overdue": "on"}))
        assert "Search down" in overdue and "Payments service returning 503" not in overdue
        published = page_text(client.get(url("list"), {"status": "published"}))
        assert "No postmortem matches these filters." in published
        drafts = page_text(client.get(url("list"), {"status": "draft"}))
        assert "Search down" in drafts and "Payments service returning 503" in drafts
        assert 'class="flag flag-warn" role="status">Overdue' in (
            client.get(url("detail", late)).content.decode()
        )
        assert "Overdue" not in page_text(client.get(url("detail", postmortem)))


class TestEditing:
    def test_the_ic_edits_every_section(self, logged_in, alice, postmortem):
        client = logged_in(alice)
        response = client.get(url("detail", postmortem))
        text = page_text(response)
        assert 'id="sections-form"' in text
        assert "**Date/Time:**" in text  # the prefilled summary, editable
        response = client.post(
            url("detail", postmortem),
            sections_data(
                postmortem,
                root_cause="A config push **removed** the pool limit.",
                contributing_factors="- No canary",
                what_went_well="- Rollback in 2 min",
                users_affected="All EU card users",
                requests_failed="120k",
                revenue_impact="€40k",
                public_summary="Payments failed for 20 minutes.",
                action="save",
            ),
            follow=True,
        )
        assert "Postmortem saved." in page_text(response)
        saved = Postmortem.objects.get(pk=postmortem.pk)
        assert saved.root_cause == "A config push **removed** the pool limit."
        assert (saved.users_affected, saved.requests_failed) == ("All EU card users", "120k")
        assert "<strong>removed</strong>" in response.content.decode()

    def test_preview_shows_the_rendering_and_saves_nothing(self, logged_in, alice, postmortem):
        response = logged_in(alice).post(
            url("detail", postmortem),
            sections_data(postmortem, root_cause="Pool *limit* removed", action="preview"),
        )
        assert response.status_code == 200
        html = response.content.decode()
        assert "<em>limit</em>" in html
        assert "Pool *limit* removed" in page_text(response)  # still in the textarea
        assert "nothing is saved yet" in page_text(response)
        assert Postmortem.objects.get(pk=postmortem.pk).root_cause == ""

    def test_the_live_preview_endpoint_renders_sanitized_html(self, logged_in, viewer_user):
        client = logged_in(viewer_user)
        response = client.post(url("preview"), {"text": "**ok** <script>alert(1)</script>"})
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/html")
        body = response.content.decode()
        assert "<strong>ok</strong>" in body and "<script>" not in body
        assert client.get(url("preview")).status_code == 405

    def test_too_long_a_figure_is_refused_with_what_was_typed(self, logged_in, alice, postmortem):
        response = logged_in(alice).post(
            url("detail", postmortem),
            sections_data(postmortem, root_cause="Kept on the page", users_affected="x" * 201),
        )
        assert response.status_code == 400
        assert "Kept on the page" in page_text(response)
        assert Postmortem.objects.get(pk=postmortem.pk).root_cause == ""

    def test_rows_are_hidden_and_annotated_but_never_rewritten(self, logged_in, alice, postmortem):
        row = postmortem.rows.select_related("event").order_by("event__occurred_at", "id")[0]
        original = row.event.message
        client = logged_in(alice)
        client.post(
            url("row_update", postmortem, row_pk=row.pk),
            {"hidden": "on", "annotation": "Declared from the war room", "message": "Rewritten"},
        )
        row.refresh_from_db()
        row.event.refresh_from_db()
        assert row.hidden and row.annotation == "Declared from the war room"
        assert row.event.message == original
        text = page_text(client.get(url("detail", postmortem)))
        assert "Declared from the war room" in text and "Rewritten" not in text
        assert "1 hidden from the postmortem" in text

    def test_new_incident_events_appear_when_the_page_is_opened(
        self, logged_in, alice, bob, incident, postmortem
    ):
        timeline_note_add(incident=incident, actor=bob, body="Vendor confirmed the outage")
        text = page_text(logged_in(alice).get(url("detail", postmortem)))
        assert "Note: Vendor confirmed the outage" in text


class TestXss:
    @pytest.mark.parametrize("payload", PAYLOADS)
    def test_payloads_in_every_field_are_inert_on_the_pages(
        self, logged_in, alice, viewer_user, postmortem, payload
    ):
        fields = {name: payload for name in SECTIONS}
        fields.update(users_affected=payload[:200], requests_failed=payload[:200])
        postmortem_update(postmortem=postmortem, actor=alice, **fields)
        row = postmortem.rows.first()
        postmortem_row_update(row=row, actor=alice, annotation=payload)
        editor = logged_in(alice)
        for address in (url("detail", postmortem), url("print", postmortem), url("list")):
            response = editor.get(address)
            assert response.status_code == 200
            assert page_dangers(response) == [], address
        # Readers see the rendered sections rather than the form.
        reader = logged_in(viewer_user).get(url("detail", postmortem))
        assert page_dangers(reader) == []
        preview = editor.post(url("detail", postmortem), {**fields, "action": "preview"})
        assert page_dangers(preview) == []

    @pytest.mark.parametrize("payload", PAYLOADS)
    def test_payloads_in_every_field_are_inert_in_the_export(
        self, logged_in, alice, postmortem, payload
    ):
        import markdown

        from .test_markdown import dangers

        fields = {name: payload for name in SECTIONS}
        fields.update(users_affected=payload[:200], revenue_impact=payload[:200])
        postmortem_update(postmortem=postmortem, actor=alice, **fields)
        postmortem_row_update(row=postmortem.rows.first(), actor=alice, annotation=payload)
        exported = logged_in(alice).get(url("export", postmortem)).content.decode()
        rendered = markdown.markdown(exported, extensions=["tables", "fenced_code"])
        assert dangers(rendered) == []


class TestWorkflowPages:
    def test_ask_for_review_approve_and_publish(
        self, logged_in, alice, bob, postmortem, django_capture_on_commit_callbacks
    ):
        client = logged_in(alice)
        page = client.get(url("detail", postmortem)).content.decode()
        offered = re.search(r'<select name="reviewers".*?</select>', page, re.S).group(0)
        assert "Bob (bob)" in offered and "Alice (alice)" not in offered  # not the author
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(url("submit", postmortem), {"reviewers": [bob.pk]}, follow=True)
        assert "Review requested from Bob." in page_text(response)
        assert [message.to for message in mail.outbox] == [["bob@example.com"]]
        text = page_text(response)
        assert "Publishing needs 1 approval; 0 so far." in text

        review = Review.objects.get(postmortem=postmortem, reviewer=bob)
        reviewer = logged_in(bob)
        page = page_text(reviewer.get(url("detail", postmortem)))
        assert "Your review" in page
        response = reviewer.post(
            url("review_decide", postmortem, review_pk=review.pk),
            {"decision": "approved", "comment": "Clear and blameless."},
            follow=True,
        )
        assert "You approved the postmortem." in page_text(response)

        client = logged_in(alice)
        response = client.post(url("publish", postmortem), follow=True)
        text = page_text(response)
        assert "Postmortem published. It is read-only from now on." in text
        assert "by Alice. It is read-only." in text
        assert 'id="sections-form"' not in text
        saved = Postmortem.objects.get(pk=postmortem.pk)
        assert saved.is_published and saved.published_by == alice

    def test_changes_requested_need_a_comment(self, logged_in, alice, bob, postmortem):
        postmortem_submit(postmortem=postmortem, actor=alice, reviewers=[bob])
        review = Review.objects.get(reviewer=bob)
        response = logged_in(bob).post(
            url("review_decide", postmortem, review_pk=review.pk),
            {"decision": "changes_requested", "comment": ""},
            follow=True,
        )
        assert "Say what should change." in page_text(response)

    def test_publishing_without_approval_says_why(self, logged_in, alice, postmortem):
        response = logged_in(alice).post(url("publish", postmortem), follow=True)
        assert "ask for a review first" in page_text(response)
        assert not Postmortem.objects.get(pk=postmortem.pk).is_published

    def test_the_blameless_hint_is_shown_before_publishing(
        self, logged_in, alice, bob, carol, postmortem
    ):
        # Bob worked the incident; Carol reviews.
        timeline_note_add(incident=postmortem.incident, actor=bob, body="Checking the DB")
        postmortem_update(
            postmortem=postmortem, actor=alice, root_cause="Bob forgot to run the migration check."
        )
        postmortem_submit(postmortem=postmortem, actor=alice, reviewers=[carol])
        for person in (alice, carol):
            response = logged_in(person).get(url("detail", postmortem))
            html = response.content.decode()
            assert "Blameless check" in html
            assert "Bob <mark>forgot to</mark> run the migration check." in html
            assert "What made this easy to get wrong?" in page_text(response)
        review_decide(review=Review.objects.get(reviewer=carol), actor=carol, decision="approved")
        # A hint, not a block.
        postmortem_publish(postmortem=postmortem, actor=alice)
        assert "Blameless check" not in page_text(logged_in(alice).get(url("detail", postmortem)))

    def test_schedule_the_review_meeting_in_the_viewer_s_time_zone(
        self, logged_in, alice, bob, carol, postmortem, django_capture_on_commit_callbacks
    ):
        day = (timezone.localdate() + timedelta(days=2)).isoformat()
        with django_capture_on_commit_callbacks(execute=True):
            response = logged_in(alice).post(
                url("meeting_schedule", postmortem),
                {"at": f"{day}T15:30", "attendees": [bob.pk, carol.pk]},
                follow=True,
            )
        assert "Review meeting scheduled; attendees got an invitation." in page_text(response)
        saved = Postmortem.objects.get(pk=postmortem.pk)
        assert timezone.localtime(saved.review_meeting_at).strftime("%H:%M") == "15:30"
        assert len(mail.outbox) == 2

    def test_the_review_meeting_deadline_is_flagged(self, logged_in, alice, postmortem):
        from incidents.models import Incident

        Incident.objects.filter(pk=postmortem.incident_id).update(
            resolved_at=timezone.now() - timedelta(hours=30)
        )
        text = page_text(logged_in(alice).get(url("detail", postmortem)))
        assert "Should have been scheduled by" in text


class TestExportAndPrint:
    @pytest.fixture
    def written(self, postmortem, alice, bob):
        postmortem_update(
            postmortem=postmortem,
            actor=alice,
            root_cause="A config push removed the pool limit.",
            contributing_factors="- No canary\n- No load test",
            what_went_well="- Rollback in 2 min",
            requests_failed="120k",
        )
        rows = list(postmortem.rows.order_by("event__occurred_at", "event_id"))
        postmortem_row_update(row=rows[1], actor=alice, hidden=True)
        postmortem_row_update(row=rows[0], actor=alice, annotation="From the war room")
        action_item_create(
            incident=postmortem.incident,
            postmortem=postmortem,
            title="Add a canary stage | payments",
            owner=bob,
            due_date=timezone.localdate() + timedelta(days=10),
            priority="P1",
            actor=alice,
        )
        return Postmortem.objects.get(pk=postmortem.pk)

    def test_the_markdown_export_is_the_runbook_template(self, logged_in, viewer_user, written):
        response = logged_in(viewer_user).get(url("export", written))
        assert response.status_code == 200
        assert response["Content-Type"] == "text/markdown; charset=utf-8"
        reference = written.incident.reference
        assert response["Content-Disposition"] == (
            f'attachment; filename="{reference}-postmortem.md"'
        )
        text = response.content.decode()
        headings = [line for line in text.splitlines() if line.startswith("## ")]
        assert headings == [
            "## Incident Summary",
            "## Timeline",
            "## Root Cause",
            "## Contributing Factors",
            "## What Went Well",
            "## Action Items",
        ]
        assert f"# Postmortem: {reference} Payments service returning 503" in text
        assert "requests failed: 120k" in text
        assert "| Time | Event | Who |" in text
        assert "Declared P1: Payments service returning 503 — Note: From the war room" in text
        assert "Alice is Incident Commander" not in text  # the hidden row
        assert "Resolved: Fixed | Alice |" in text
        assert "A config push removed the pool limit." in text
        assert "| Add a canary stage \\| payments | Bob |" in text
        assert "| P1 | Open |" in text

    def test_the_printable_page(self, logged_in, viewer_user, written):
        response = logged_in(viewer_user).get(url("print", written))
        text = page_text(response)
        assert "postmortem-print.css" in text
        assert "From the war room" in text
        assert "Alice is Incident Commander" not in text
        assert "Add a canary stage | payments" in text
        assert "Contributing Factors" in text


class TestIncidentPanel:
    def test_a_resolved_p1_links_its_postmortem(self, logged_in, alice, postmortem):
        text = page_text(
            logged_in(alice).get(reverse("incidents:detail", args=[postmortem.incident_id]))
        )
        assert url("detail", postmortem) in text
        assert "Required: the incident peaked at P1." in text
        assert "Start a postmortem" not in text

    def test_start_a_postmortem_for_any_incident(self, logged_in, alice, bob, incident_of):
        incident = incident_of(alice, "P4", resolve=False)
        client = logged_in(bob)
        page = page_text(client.get(reverse("incidents:detail", args=[incident.pk])))
        assert "Start a postmortem" in page
        response = client.post(url("start", incident_pk=incident.pk), follow=True)
        postmortem = Postmortem.objects.get(incident=incident)
        assert response.redirect_chain[-1][0] == url("detail", postmortem)
        assert "You are an author." in page_text(response)
        assert set(postmortem.authors.all()) == {alice, bob}
        again = client.post(url("start", incident_pk=incident.pk), follow=True)
        assert "has a postmortem already" in page_text(again)

    def test_a_viewer_can_not_start_one(self, logged_in, alice, viewer_user, incident_of):
        incident = incident_of(alice, "P4")
        client = logged_in(viewer_user)
        assert "Start a postmortem" not in page_text(
            client.get(reverse("incidents:detail", args=[incident.pk]))
        )
        client.post(url("start", incident_pk=incident.pk))
        assert not Postmortem.objects.filter(incident=incident).exists()

    def test_an_optional_postmortem_started_by_hand_says_so(self, logged_in, alice, incident_of):
        incident = incident_of(alice, "P3")
        postmortem_create(incident=incident, actor=alice)
        text = page_text(logged_in(alice).get(reverse("incidents:detail", args=[incident.pk])))
        assert "Optional for P3." in text
