"""Background sending of the postmortem workflow's emails (enqueued after commit).

Registered from `PostmortemsConfig.ready()`, so web and worker processes both know them.
"""

from portal.celery import firebreak_task

from .mail import review_decision_notify, review_meeting_invites_send, review_request_notify


@firebreak_task()
def review_request_notify_task(review_id: int, requested_by_id: int | None = None) -> bool:
    """Email the reviewer that the postmortem waits for them (skipped once decided)."""
    return review_request_notify(review_id=review_id, requested_by_id=requested_by_id)


@firebreak_task()
def review_decision_notify_task(review_id: int) -> int:
    """Email the authors what the reviewer decided."""
    return review_decision_notify(review_id=review_id)


@firebreak_task()
def review_meeting_invites_send_task(
    postmortem_id: int, sequence: int, cancelled_user_ids: list[int] | None = None
) -> int:
    """Email the review meeting's invitation of this version (skipped once rescheduled)."""
    return review_meeting_invites_send(
        postmortem_id=postmortem_id, sequence=sequence, cancelled_user_ids=cancelled_user_ids
    )
