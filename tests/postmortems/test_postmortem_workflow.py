"""The workflow: draft → in review → published; reviewers, approvals, read-only, status page."""

import pytest
from django.core import mail
from django.test import override_settings

from incidents.models import Incident
from incidents.services import (
    TransitionNotAllowed,
    incident_close,
    incident_resolve,
    incident_role_assign,
)
from incidents.statuspage.models import PublicIncident, PublicUpdate
from incidents.statuspage.services import public_update_publish
from portal.errors import InvalidInputError, PermissionDeniedError
from postmortems.models import Postmortem, Review
from postmortems.services import (
    PostmortemReadOnly,
    PostmortemTransitionNotAllowed,
    postmortem_create,
    postmortem_public_summary_post,
    postmortem_publish,
    postmortem_submit,
    postmortem_update,
    review_decide,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(incident_of, alice):
    return incident_of(alice, "P1")


@pytest.fixture
def postmortem(incident):
    return Postmortem.objects.get(incident=incident)


def fresh(postmortem: Postmortem) -> Postmortem:
    return Postmortem.objects.get(pk=postmortem.pk)


def submit(postmortem, actor, reviewers, capture):
    with capture(execute=True):
        return postmortem_submit(postmortem=postmortem, actor=actor, reviewers=reviewers)


def decide(postmortem, reviewer, decision="approved", comment="", capture=None):
    review = Review.objects.get(postmortem=postmortem, reviewer=reviewer)
    if capture is None:
        return review_decide(review=review, actor=reviewer, decision=decision, comment=comment)
    with capture(execute=True):
        return review_decide(review=review, actor=reviewer, decision=decision, comment=comment)


class TestSubmit:
    def test_reviewers_are_asked_and_emailed(
        self, postmortem, alice, bob, manager_user, django_capture_on_commit_callbacks
    ):
        submit(postmortem, alice, [bob, manager_user], django_capture_on_commit_callbacks)
        postmortem = fresh(postmortem)
        assert postmortem.status == Postmortem.Status.IN_REVIEW
        assert postmortem.submitted_at is not None
        reviews = Review.objects.filter(postmortem=postmortem)
        assert {review.reviewer for review in reviews} == {bob, manager_user}
        assert {review.decision for review in reviews} == {"pending"}
        sent = {message.to[0]: message for message in mail.outbox}
        assert set(sent) == {"bob@example.com", "max@example.com"}
        assert "Please review the postmortem" in sent["bob@example.com"].subject
        assert f"/postmortems/{postmortem.pk}/" in sent["bob@example.com"].body
        assert "Alice asks you to review" in sent["bob@example.com"].body

    def test_at_least_one_reviewer(self, postmortem, alice):
        with pytest.raises(InvalidInputError) as refused:
            postmortem_submit(postmortem=postmortem, actor=alice, reviewers=[])
        assert refused.value.field == "reviewers"
        assert fresh(postmortem).status == Postmortem.Status.DRAFT

    def test_authors_do_not_review_their_own(self, postmortem, alice, bob):
        with pytest.raises(InvalidInputError, match="author"):
            postmortem_submit(postmortem=postmortem, actor=alice, reviewers=[bob, alice])
        assert not Review.objects.exists()

    def test_a_reviewer_must_read_the_portal(self, postmortem, alice, outsider):
        with pytest.raises(InvalidInputError):
            postmortem_submit(postmortem=postmortem, actor=alice, reviewers=[outsider])

    @pytest.mark.parametrize("who", ["bob", "viewer_user"])
    def test_only_editors_submit(self, request, postmortem, carol, who):
        with pytest.raises(PermissionDeniedError):
            postmortem_submit(
                postmortem=postmortem, actor=request.getfixturevalue(who), reviewers=[carol]
            )

    def test_asking_again_adds_reviewers_and_re_asks_who_wanted_changes(
        self, postmortem, alice, bob, carol, django_capture_on_commit_callbacks
    ):
        submit(postmortem, alice, [bob], django_capture_on_commit_callbacks)
        decide(postmortem, bob, "changes_requested", "Explain the pool limit.")
        mail.outbox.clear()
        submit(postmortem, alice, [bob, carol], django_capture_on_commit_callbacks)
        decisions = dict(
            Review.objects.filter(postmortem=postmortem).values_list(
                "reviewer__username", "decision"
            )
        )
        assert decisions == {"bob": "pending", "carol": "pending"}
        assert sorted(message.to[0] for message in mail.outbox) == [
            "bob@example.com",
            "carol@example.com",
        ]


class TestDecide:
    @pytest.fixture
    def in_review(self, postmortem, alice, bob, django_capture_on_commit_callbacks):
        submit(postmortem, alice, [bob], django_capture_on_commit_callbacks)
        mail.outbox.clear()
        return fresh(postmortem)

    def test_the_reviewer_approves_and_the_authors_hear_of_it(
        self, in_review, bob, django_capture_on_commit_callbacks
    ):
        review = decide(in_review, bob, capture=django_capture_on_commit_callbacks)
        assert review.decision == "approved" and review.decided_at is not None
        assert [message.to for message in mail.outbox] == [["alice@example.com"]]
        assert "Bob approved the postmortem" in mail.outbox[0].subject

    def test_requesting_changes_needs_a_comment(self, in_review, bob):
        with pytest.raises(InvalidInputError) as refused:
            decide(in_review, bob, "changes_requested", "  ")
        assert refused.value.field == "comment"
        assert Review.objects.get(reviewer=bob).decision == "pending"

    @pytest.mark.parametrize("who", ["alice", "carol", "manager_user", "staff_user"])
    def test_only_the_reviewer_decides(self, request, in_review, bob, who):
        review = Review.objects.get(reviewer=bob)
        with pytest.raises(PermissionDeniedError):
            review_decide(review=review, actor=request.getfixturevalue(who), decision="approved")
        assert Review.objects.get(pk=review.pk).decision == "pending"

    def test_an_unknown_decision_is_refused(self, in_review, bob):
        with pytest.raises(InvalidInputError):
            decide(in_review, bob, "pending")


class TestPublish:
    def test_a_draft_is_not_published(self, postmortem, alice):
        with pytest.raises(PostmortemTransitionNotAllowed, match="ask for a review first"):
            postmortem_publish(postmortem=postmortem, actor=alice)

    def test_publishing_waits_for_an_approval(
        self, postmortem, alice, bob, django_capture_on_commit_callbacks
    ):
        submit(postmortem, alice, [bob], django_capture_on_commit_callbacks)
        with pytest.raises(PostmortemTransitionNotAllowed, match="needs 1 approval; 0 so far"):
            postmortem_publish(postmortem=postmortem, actor=alice)
        decide(postmortem, bob)
        published = postmortem_publish(postmortem=postmortem, actor=alice)
        assert published.status == Postmortem.Status.PUBLISHED
        assert published.published_by == alice and published.published_at is not None

    @override_settings(FIREBREAK_POSTMORTEM_APPROVALS_REQUIRED=2)
    def test_the_number_of_approvals_is_a_setting(
        self, postmortem, alice, bob, carol, django_capture_on_commit_callbacks
    ):
        submit(postmortem, alice, [bob, carol], django_capture_on_commit_callbacks)
        decide(postmortem, bob)
        with pytest.raises(PostmortemTransitionNotAllowed, match="needs 2 approvals; 1 so far"):
            postmortem_publish(postmortem=postmortem, actor=alice)
        decide(postmortem, carol)
        assert postmortem_publish(postmortem=postmortem, actor=alice).is_published

    def test_a_request_for_changes_holds_publishing(
        self, postmortem, alice, bob, carol, django_capture_on_commit_callbacks
    ):
        submit(postmortem, alice, [bob, carol], django_capture_on_commit_callbacks)
        decide(postmortem, bob)
        decide(postmortem, carol, "changes_requested", "Name the missing canary.")
        with pytest.raises(PostmortemTransitionNotAllowed, match="Carol asked for changes"):
            postmortem_publish(postmortem=postmortem, actor=alice)
        decide(postmortem, carol, "approved")
        assert postmortem_publish(postmortem=postmortem, actor=alice).is_published

    @pytest.mark.parametrize(
        "who, allowed",
        [
            ("alice", True),
            ("manager_user", True),
            ("staff_user", True),
            ("carol", False),
            ("viewer_user", False),
            ("bob", False),  # the reviewer approves; publishing is the editors' call
        ],
    )
    def test_who_may_publish(
        self, request, postmortem, alice, bob, who, allowed, django_capture_on_commit_callbacks
    ):
        submit(postmortem, alice, [bob], django_capture_on_commit_callbacks)
        decide(postmortem, bob)
        actor = request.getfixturevalue(who)
        if allowed:
            assert postmortem_publish(postmortem=postmortem, actor=actor).is_published
        else:
            with pytest.raises(PermissionDeniedError):
                postmortem_publish(postmortem=postmortem, actor=actor)
            assert not fresh(postmortem).is_published

    def test_published_is_read_only_and_publishing_again_changes_nothing(
        self, postmortem, alice, bob, carol, django_capture_on_commit_callbacks
    ):
        submit(postmortem, alice, [bob], django_capture_on_commit_callbacks)
        decide(postmortem, bob)
        first = postmortem_publish(postmortem=postmortem, actor=alice)
        again = postmortem_publish(postmortem=postmortem, actor=alice)
        assert again.published_at == first.published_at
        with pytest.raises(PostmortemReadOnly):
            postmortem_update(postmortem=postmortem, actor=alice, root_cause="Rewritten")
        with pytest.raises(PostmortemReadOnly):
            postmortem_submit(postmortem=postmortem, actor=alice, reviewers=[carol])
        with pytest.raises(PostmortemTransitionNotAllowed):
            decide(postmortem, bob, "changes_requested", "Too late")


class TestStatusPage:
    def _ready(self, postmortem, alice, bob, capture, public_summary):
        postmortem_update(postmortem=postmortem, actor=alice, public_summary=public_summary)
        submit(postmortem, alice, [bob], capture)
        decide(postmortem, bob)

    def _public(self, incident, actor, status="resolved"):
        public_update_publish(
            incident=incident,
            actor=actor,
            status="investigating",
            body="We are looking into failed payments.",
            name="Card payments failing",
        )
        if status == "resolved":
            public_update_publish(
                incident=incident, actor=actor, status="resolved", body="Payments work again."
            )

    def test_the_public_summary_is_posted_when_published(
        self, incident, postmortem, alice, bob, django_capture_on_commit_callbacks
    ):
        self._public(incident, alice)
        self._ready(postmortem, alice, bob, django_capture_on_commit_callbacks, "A config change.")
        postmortem_publish(postmortem=postmortem, actor=alice)
        public = PublicIncident.objects.get(incident=incident)
        assert public.status == "postmortem"
        update = PublicUpdate.objects.get(public_incident=public, status="postmortem")
        assert update.body == "A config change."

    def test_nothing_is_posted_for_an_internal_incident_or_without_a_summary(
        self, incident, postmortem, alice, bob, django_capture_on_commit_callbacks
    ):
        self._ready(postmortem, alice, bob, django_capture_on_commit_callbacks, "Summary.")
        assert postmortem_publish(postmortem=postmortem, actor=alice).is_published
        assert not PublicUpdate.objects.exists()

    def test_a_refusal_by_the_status_page_does_not_stop_publishing(
        self, incident, postmortem, alice, bob, manager_user, django_capture_on_commit_callbacks
    ):
        self._public(incident, alice)
        self._ready(postmortem, alice, bob, django_capture_on_commit_callbacks, "A config change.")
        # A manager publishes the postmortem but may not write on the status page.
        assert postmortem_publish(postmortem=postmortem, actor=manager_user).is_published
        assert not PublicUpdate.objects.filter(status="postmortem").exists()
        with pytest.raises(PermissionDeniedError):
            postmortem_public_summary_post(postmortem=postmortem, actor=manager_user)
        postmortem_public_summary_post(postmortem=postmortem, actor=alice)
        assert PublicUpdate.objects.filter(status="postmortem").count() == 1
        with pytest.raises(PostmortemTransitionNotAllowed, match="already"):
            postmortem_public_summary_post(postmortem=postmortem, actor=alice)


class TestClose:
    def _publish(self, postmortem, alice, bob, capture):
        submit(postmortem, alice, [bob], capture)
        decide(postmortem, bob)
        postmortem_publish(postmortem=postmortem, actor=alice)

    def test_a_required_postmortem_in_draft_holds_the_close(self, incident, alice):
        with pytest.raises(TransitionNotAllowed, match="published \\(it is draft\\)"):
            incident_close(incident=incident, actor=alice)
        assert Incident.objects.get(pk=incident.pk).status == "resolved"

    def test_close_once_the_postmortem_is_published(
        self, incident, postmortem, alice, bob, django_capture_on_commit_callbacks
    ):
        self._publish(postmortem, alice, bob, django_capture_on_commit_callbacks)
        assert incident_close(incident=incident, actor=alice).status == "closed"

    def test_a_required_postmortem_that_does_not_exist_holds_the_close(self, incident, alice):
        Postmortem.objects.filter(incident=incident).delete()
        with pytest.raises(TransitionNotAllowed, match="requires a postmortem: start it"):
            incident_close(incident=incident, actor=alice)

    def test_an_optional_postmortem_does_not_hold_the_close(self, incident_of, alice):
        incident = incident_of(alice, "P3")
        postmortem_create(incident=incident, actor=alice)
        assert incident_close(incident=incident, actor=alice).status == "closed"

    def test_a_manager_closes_after_publishing(
        self, incident, postmortem, alice, bob, manager_user, django_capture_on_commit_callbacks
    ):
        self._publish(postmortem, alice, bob, django_capture_on_commit_callbacks)
        assert incident_close(incident=incident, actor=manager_user).status == "closed"


def test_the_ic_handed_over_after_resolution_edits_and_submits(incident_of, alice, bob, carol):
    incident = incident_of(alice, "P2", resolve=False)
    incident_role_assign(incident=incident, actor=alice, role="commander", user=bob)
    incident_resolve(incident=incident, actor=bob)
    postmortem = Postmortem.objects.get(incident=incident)
    assert list(postmortem.authors.all()) == [bob]
    postmortem_submit(postmortem=postmortem, actor=bob, reviewers=[carol])
    assert fresh(postmortem).status == Postmortem.Status.IN_REVIEW
