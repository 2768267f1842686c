"""Sending the postmortem workflow's emails, as timers written with the change that asks.

A review request, a decision or a meeting (re)schedule writes its mail as a timer row in its
own transaction (portal.timers): a broker that is down delays the mail to the next sweep, a
worker that dies hands it to another, and a mail whose sending failed is tried again.
Registered from `PostmortemsConfig.ready()`, so web and worker processes both know the kinds.
"""

from django.utils import timezone

from portal.models import Timer
from portal.timers import timer_handler, timer_schedule

from ..mail import review_decision_notify, review_meeting_invites_send, review_request_notify

REVIEW_REQUEST = "postmortems.review_request_mail"
REVIEW_DECISION = "postmortems.review_decision_mail"
MEETING_INVITES = "postmortems.meeting_invites"


def review_request_mail_schedule(*, review_id: int, requested_by_id: int | None) -> None:
    """Have the reviewer mailed that the postmortem waits for them (in the caller's transaction)."""
    timer_schedule(
        kind=REVIEW_REQUEST,
        key=f"{REVIEW_REQUEST}:{review_id}:{timezone.now().timestamp()}",
        due_at=timezone.now(),
        payload={"review_id": review_id, "requested_by_id": requested_by_id},
    )


def review_decision_mail_schedule(*, review_id: int) -> None:
    """Have the authors mailed what the reviewer decided (in the caller's transaction)."""
    timer_schedule(
        kind=REVIEW_DECISION,
        key=f"{REVIEW_DECISION}:{review_id}:{timezone.now().timestamp()}",
        due_at=timezone.now(),
        payload={"review_id": review_id},
    )


def meeting_invites_schedule(
    *, postmortem_id: int, sequence: int, cancelled_user_ids: list[int]
) -> None:
    """Have this version of the review meeting's invitation mailed (in the caller's transaction)."""
    timer_schedule(
        kind=MEETING_INVITES,
        key=f"{MEETING_INVITES}:{postmortem_id}:{sequence}",
        due_at=timezone.now(),
        payload={
            "postmortem_id": postmortem_id,
            "sequence": sequence,
            "cancelled_user_ids": cancelled_user_ids,
        },
    )


@timer_handler(REVIEW_REQUEST)
def fire_review_request_mail(timer: Timer) -> str:
    """Email the reviewer that the postmortem waits for them (skipped once decided)."""
    sent = review_request_notify(
        review_id=timer.payload["review_id"], requested_by_id=timer.payload["requested_by_id"]
    )
    return "sent" if sent else "not needed any more"


@timer_handler(REVIEW_DECISION)
def fire_review_decision_mail(timer: Timer) -> str:
    """Email the authors what the reviewer decided."""
    return f"sent to {review_decision_notify(review_id=timer.payload['review_id'])}"


@timer_handler(MEETING_INVITES)
def fire_meeting_invites(timer: Timer) -> str:
    """Email the review meeting's invitation of this version (skipped once rescheduled)."""
    payload = timer.payload
    sent = review_meeting_invites_send(
        postmortem_id=payload["postmortem_id"],
        sequence=payload["sequence"],
        cancelled_user_ids=payload.get("cancelled_user_ids") or None,
    )
    return f"sent {sent}"
