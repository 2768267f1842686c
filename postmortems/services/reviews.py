"""The postmortem's workflow: draft → in review → published, with reviewers' decisions.

One function per transition, checked against `ALLOWED_TRANSITIONS`, in a transaction on the
postmortem row taken with `select_for_update()`. Publishing needs enough approvals (the setting
FIREBREAK_POSTMORTEM_APPROVALS_REQUIRED) and no reviewer still asking for changes; a published
postmortem is read-only.
"""

import logging
from collections.abc import Iterable
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from incidents.models import Source
from portal.auth import AnyUser
from portal.errors import ApplicationError, InvalidInputError, PermissionDeniedError
from portal.people import display_name

from .. import policies
from ..models import Postmortem, Review
from .mail_outbox import review_decision_mail_schedule, review_request_mail_schedule
from .postmortems import _lock, require_not_published

__all__ = [
    "ALLOWED_TRANSITIONS",
    "PostmortemTransitionNotAllowed",
    "approvals_required",
    "postmortem_public_summary_post",
    "postmortem_publish",
    "postmortem_submit",
    "publish_blocker",
    "review_decide",
]

logger = logging.getLogger(__name__)

S = Postmortem.Status
D = Review.Decision

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.IN_REVIEW}),
    S.IN_REVIEW: frozenset({S.PUBLISHED}),
    S.PUBLISHED: frozenset(),
}
COMMENT_MAX_LENGTH = 10_000


class PostmortemTransitionNotAllowed(ApplicationError):
    """The postmortem's status or its reviews do not allow the requested change."""


def approvals_required() -> int:
    """Return how many reviewers must approve before a postmortem can be published."""
    return max(int(settings.FIREBREAK_POSTMORTEM_APPROVALS_REQUIRED), 1)


def postmortem_submit(
    *, postmortem: Postmortem, actor: AnyUser, reviewers: Iterable[User]
) -> Postmortem:
    """Ask reviewers to review the postmortem; it moves to in review and they get an email.

    In review already: new reviewers are added, and a reviewer who asked for changes is asked
    again (their decision goes back to pending). Authors don't review their own postmortem.
    """
    policies.require_edit(actor, postmortem)
    people = list(dict.fromkeys(reviewers))
    for person in people:
        if not person.is_active or not policies.can_be_reviewer(person):
            raise InvalidInputError(
                f"{display_name(person)} can't sign in to read postmortems, so can't review one.",
                field="reviewers",
            )
        if policies.is_author(person, postmortem):
            raise InvalidInputError(
                f"{display_name(person)} is an author; ask someone who didn't write it to review.",
                field="reviewers",
            )
    with transaction.atomic():
        postmortem = _lock(postmortem)
        require_not_published(postmortem)
        existing = {review.reviewer_id: review for review in postmortem.reviews.all()}
        if not people and not existing:
            raise InvalidInputError("Choose at least one reviewer.", field="reviewers")
        asked: list[Review] = []
        for person in people:
            review = existing.get(person.pk)
            if review is None:
                asked.append(Review.objects.create(postmortem=postmortem, reviewer=person))
            elif review.decision == D.CHANGES_REQUESTED:
                review.decision = D.PENDING
                review.decided_at = None
                review.save(update_fields=["decision", "decided_at"])
                asked.append(review)
        if postmortem.status == S.DRAFT:
            postmortem.status = S.IN_REVIEW
            postmortem.submitted_at = timezone.now()
            postmortem.save(update_fields=["status", "submitted_at", "updated_at"])
        for review in asked:
            _notify_reviewer(review.pk, actor.pk)
    return postmortem


def _notify_reviewer(review_id: int, requested_by_id: int | None) -> None:
    review_request_mail_schedule(review_id=review_id, requested_by_id=requested_by_id)


def review_decide(*, review: Review, actor: AnyUser, decision: str, comment: str = "") -> Review:
    """Record the reviewer's decision: approve, or request changes (saying which)."""
    if not policies.can_decide_review(actor, review):
        raise PermissionDeniedError("Only the reviewer asked for this review may decide it.")
    if decision not in (D.APPROVED, D.CHANGES_REQUESTED):
        raise InvalidInputError("Approve, or request changes.", field="decision")
    comment = comment.replace("\r\n", "\n").strip()
    if decision == D.CHANGES_REQUESTED and not comment:
        raise InvalidInputError("Say what should change.", field="comment")
    if len(comment) > COMMENT_MAX_LENGTH:
        raise InvalidInputError(
            f"Keep the comment under {COMMENT_MAX_LENGTH} characters.", field="comment"
        )
    with transaction.atomic():
        postmortem = _lock(review.postmortem)
        review = Review.objects.select_for_update().get(pk=review.pk)
        if postmortem.status != S.IN_REVIEW:
            raise PostmortemTransitionNotAllowed(
                f"The postmortem of {postmortem.incident.reference} is "
                f"{postmortem.get_status_display().lower()}, not in review; there is nothing "
                "to decide.",
                extra={"status": postmortem.status},
            )
        if review.decision == decision and review.comment == comment:
            return review
        review.decision = decision
        review.comment = comment
        review.decided_at = timezone.now()
        review.save(update_fields=["decision", "comment", "decided_at"])
        review_decision_mail_schedule(review_id=review.pk)
    return review


def publish_blocker(postmortem: Postmortem) -> str:
    """Return why the postmortem can't be published now, or "" when it can."""
    reference = postmortem.incident.reference
    if postmortem.status == S.DRAFT:
        return f"The postmortem of {reference} is a draft: ask for a review first."
    if postmortem.status != S.IN_REVIEW:
        return ""
    reviews = list(postmortem.reviews.all())
    changes = [review for review in reviews if review.decision == D.CHANGES_REQUESTED]
    if changes:
        names = ", ".join(display_name(review.reviewer) for review in changes)
        return f"{names} asked for changes: make them and ask again, or wait for their approval."
    approvals = sum(1 for review in reviews if review.decision == D.APPROVED)
    needed = approvals_required()
    if approvals < needed:
        return (
            f"Publishing needs {needed} approval{'s' if needed != 1 else ''}; {approvals} so far."
        )
    return ""


def postmortem_publish(*, postmortem: Postmortem, actor: AnyUser) -> Postmortem:
    """Publish the reviewed postmortem; from now on it is read-only.

    When the incident was public and the postmortem has a public summary, the summary is posted
    to the status page as the incident's `postmortem` update. If the status page refuses (the
    actor may not publish there, or the public incident isn't resolved yet), the postmortem is
    still published and the page offers to post the summary later.
    """
    policies.require_edit(actor, postmortem)
    with transaction.atomic():
        postmortem = _lock(postmortem)
        if postmortem.is_published:
            return postmortem
        blocker = publish_blocker(postmortem)
        if blocker:
            raise PostmortemTransitionNotAllowed(blocker, extra={"status": postmortem.status})
        postmortem.status = S.PUBLISHED
        postmortem.published_at = timezone.now()
        postmortem.published_by = cast(User, actor)
        postmortem.save(update_fields=["status", "published_at", "published_by", "updated_at"])
        try:
            with transaction.atomic():
                _post_public_summary(postmortem, actor)
        except ApplicationError as exc:
            logger.info(
                "postmortem %s published; public summary not posted: %s",
                postmortem.pk,
                exc.message,
            )
    return postmortem


def _public_incident_exists(postmortem: Postmortem) -> bool:
    from incidents.statuspage.models import PublicIncident

    return PublicIncident.objects.filter(incident_id=postmortem.incident_id).exists()


def _post_public_summary(postmortem: Postmortem, actor: AnyUser) -> Any:
    if not postmortem.public_summary.strip() or not _public_incident_exists(postmortem):
        return None
    from incidents.statuspage.services import public_postmortem_publish

    return public_postmortem_publish(
        incident=postmortem.incident,
        actor=actor,
        body=postmortem.public_summary,
        source=Source.WEB,
    )


def postmortem_public_summary_post(*, postmortem: Postmortem, actor: AnyUser) -> Any:
    """Post the published postmortem's public summary to the status page (once)."""
    from .. import selectors

    with transaction.atomic():
        postmortem = _lock(postmortem)
        if not postmortem.is_published:
            raise PostmortemTransitionNotAllowed(
                "Publish the postmortem first; its public summary follows it."
            )
        if not postmortem.public_summary.strip():
            raise InvalidInputError("The postmortem has no public summary.", field="public_summary")
        if not _public_incident_exists(postmortem):
            raise PostmortemTransitionNotAllowed(
                f"{postmortem.incident.reference} was never on the status page; there is "
                "nothing to post the summary to."
            )
        if selectors.postmortem_public_summary_posted(postmortem=postmortem):
            raise PostmortemTransitionNotAllowed(
                "The public summary is on the status page already."
            )
        return _post_public_summary(postmortem, actor)
