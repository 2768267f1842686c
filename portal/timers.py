"""Timers as data: every deadline is a row with a `due_at`; Celery only wakes the system.

A timer is fired by claiming its row with a conditional update and a lease, running its kind's
handler, and recording the outcome. A duplicate wake-up, a second beat, a killed worker or a lost
broker message therefore neither loses a timer nor fires it twice: a claim whose worker died
expires with its lease and the next sweep claims it again.

Handlers are registered per kind by the app that owns the timer, with the queue whose worker
fires it::

    @timer_handler("oncall.escalation_step", queue="paging")
    def fire_escalation_step(timer: Timer) -> str: ...

and must themselves re-check the state of what they act on (the timer may be late). Each timer
also has a priority (0 is the most urgent; the rank of the incident's severity, 1 for P1, or 9
for work without one): its wake-up carries it to the broker, and each queue's sweep fires the
most urgent due timers first. See docs/ARCHITECTURE.md, "Queues and priorities".
"""

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from portal.celery import enqueue
from portal.models import Timer

logger = logging.getLogger(__name__)

Handler = Callable[[Timer], str]
_handlers: dict[str, Handler] = {}
_queues: dict[str, str] = {}

# Priorities run from 0 (the most urgent) to 9: the broker's range (see the transport options).
PRIORITY_HIGHEST = 0
PRIORITY_NONE = 9


def lease() -> timedelta:
    """Return how long a claim holds before another sweep may take the timer over."""
    return timedelta(seconds=settings.FIREBREAK_TIMER_LEASE_SECONDS)


# A timer that failed this often is parked as failed and logged, not retried forever.
MAX_ATTEMPTS = 5
# Timers due sooner than this also get a Celery ETA wake-up; later ones wait for the sweep.
WAKE_UP_WITHIN = timedelta(minutes=5)
# The task a wake-up runs (portal.tasks, named: tasks import this module, not the reverse).
FIRE_TASK = "portal.tasks.timer_fire_task"


class TimerRetry(Exception):
    """Raised by a handler to run its timer again after `after` (say, a rate limit's Retry-After).

    The handler's transaction is rolled back and the attempt does not count as a failure: the
    timer goes back to pending, due `after` from now, with a wake-up at that time.
    """

    def __init__(self, after: timedelta, reason: str = "") -> None:
        super().__init__(reason or f"retry in {after.total_seconds():.0f} s")
        self.after = after
        self.reason = reason


def timer_handler(kind: str, *, queue: str = Timer.Queue.DEFAULT) -> Callable[[Handler], Handler]:
    """Register the function that fires timers of `kind`; it returns a short outcome text.

    `queue` names the worker that fires them: "paging" for what pages people (its own worker
    process), "jobs" for runbook jobs, "default" for everything else.
    """
    if queue not in Timer.Queue.values:
        raise ValueError(f"Unknown queue {queue!r}: one of {', '.join(Timer.Queue.values)}.")

    def register(func: Handler) -> Handler:
        _handlers[kind] = func
        _queues[kind] = queue
        return func

    return register


def timer_queue(kind: str) -> str:
    """Return the queue that timers of a registered `kind` go to."""
    return _queues[kind]


def timer_priority(priority: int) -> int:
    """Return `priority` within the broker's range: 0 (the most urgent) to 9."""
    return min(max(priority, PRIORITY_HIGHEST), PRIORITY_NONE)


def timer_schedule(
    *,
    kind: str,
    key: str,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
    precise: bool = True,
    fresh: bool = False,
    priority: int = PRIORITY_NONE,
) -> Timer:
    """Schedule a timer once: scheduling the same key again returns the pending one.

    To move a pending timer, cancel it and schedule it under a new key. A `precise` timer due
    soon also gets a Celery wake-up at its due time; the others (reminders, where a few
    seconds do not matter) are fired by the next sweep, which saves a broker message. A
    `fresh` key (one made unique by the caller) is written without the savepoint that guards
    against a repeat. The timer goes to its kind's queue; `priority` (0 the most urgent, kept
    from 0 to 9) orders it there: the rank of the incident's severity, 9 for work without one.
    """
    if kind not in _handlers:
        raise LookupError(f"No handler registered for timer kind {kind!r}.")
    fields = {
        "kind": kind,
        "key": key,
        "due_at": due_at,
        "payload": payload or {},
        "queue": _queues[kind],
        "priority": timer_priority(priority),
    }
    if fresh:
        timer = Timer.objects.create(**fields)
    else:
        try:
            with transaction.atomic():
                timer = Timer.objects.create(**fields)
        except IntegrityError:
            return Timer.objects.get(key=key)
    if precise and due_at - timezone.now() <= WAKE_UP_WITHIN:
        timer_wake(timer, at=due_at)
    return timer


def timer_wake(timer: Timer | int, *, at: datetime | None = None) -> None:
    """Send a worker a wake-up for the timer once the caller's transaction commits.

    The wake-up goes to the timer's queue with its priority (given a timer id, the row is read
    for them). A timer already due when the transaction commits is woken without an ETA:
    Celery takes every message with an ETA off the broker at once and holds it in the worker
    until then, outside the broker's priority order. Only a wake-up: should the broker be down,
    the sweep fires the timer, so the caller's committed work must not fail over it.
    """
    if isinstance(timer, Timer):
        timer_id, queue, priority = timer.pk, timer.queue, timer.priority
    else:
        timer_id = timer
        queue, priority = Timer.objects.values_list("queue", "priority").get(pk=timer_id)

    def send() -> None:
        options: dict[str, Any] = {"queue": queue, "priority": priority}
        if at is not None and at > timezone.now():
            options["eta"] = at
        enqueue(FIRE_TASK, timer_id, **options)

    transaction.on_commit(send)


def timer_cancel(*, key: str | None = None, key_prefix: str | None = None) -> int:
    """Cancel pending timers by key or key prefix; return how many were cancelled."""
    timers = Timer.objects.filter(state=Timer.State.PENDING)
    if key is not None and key_prefix is None:
        timers = timers.filter(key=key)
    elif key_prefix is not None and key is None:
        timers = timers.filter(key__startswith=key_prefix)
    else:
        raise ValueError("Give exactly one of key and key_prefix.")
    return timers.update(state=Timer.State.CANCELLED, finished_at=timezone.now())


def _claimable(now: datetime) -> Q:
    return Q(due_at__lte=now) & (
        Q(state=Timer.State.PENDING) | Q(state=Timer.State.CLAIMED, lease_until__lt=now)
    )


def timer_claim(*, timer_id: int, now: datetime | None = None) -> uuid.UUID | None:
    """Claim a due timer for this worker; return the claim token, or None if another has it."""
    now = now or timezone.now()
    token = uuid.uuid4()
    won = (
        Timer.objects.filter(_claimable(now), pk=timer_id)
        .filter(attempts__lt=MAX_ATTEMPTS)
        .update(
            state=Timer.State.CLAIMED,
            lease_until=now + lease(),
            claim_token=token,
            attempts=F("attempts") + 1,
        )
    )
    return token if won else None


def timer_fire(*, timer_id: int) -> str | None:
    """Claim and fire one timer if it is due; return the outcome, or None if not fired here."""
    token = timer_claim(timer_id=timer_id)
    if token is None:
        return None
    timer = Timer.objects.get(pk=timer_id)
    handler = _handlers.get(timer.kind)
    if handler is None:
        logger.error("timer %s: no handler for kind %s", timer.key, timer.kind)
        return None
    try:
        with transaction.atomic():
            outcome = handler(timer)
            # Record the outcome only if our claim still holds (the lease did not run out
            # and another worker did not take the timer over meanwhile).
            done = Timer.objects.filter(
                pk=timer_id, state=Timer.State.CLAIMED, claim_token=token
            ).update(state=Timer.State.DONE, finished_at=timezone.now(), outcome=outcome[:200])
            if not done:
                raise _LostClaim
    except _LostClaim:
        logger.warning("timer %s: claim lost before the outcome was recorded", timer.key)
        return None
    except TimerRetry as retry:
        return _postpone(timer, token, retry)
    except Exception:
        logger.exception("timer %s failed (attempt %s)", timer.key, timer.attempts)
        _release_after_failure(timer_id, token)
        raise
    return outcome


class _LostClaim(Exception):
    pass


def _postpone(timer: Timer, token: uuid.UUID, retry: TimerRetry) -> str | None:
    due_at = timezone.now() + retry.after
    postponed = Timer.objects.filter(pk=timer.pk, claim_token=token).update(
        state=Timer.State.PENDING,
        due_at=due_at,
        lease_until=None,
        claim_token=None,
        attempts=F("attempts") - 1,
    )
    if not postponed:
        return None
    if retry.after <= WAKE_UP_WITHIN:
        timer_wake(timer, at=due_at)
    outcome = f"postponed to {due_at:%H:%M:%S}: {retry}"
    logger.info("timer %s %s", timer.pk, outcome)
    return outcome


def _release_after_failure(timer_id: int, token: uuid.UUID) -> None:
    timer = Timer.objects.filter(pk=timer_id, claim_token=token).first()
    if timer is None:
        return
    if timer.attempts >= MAX_ATTEMPTS:
        Timer.objects.filter(pk=timer_id, claim_token=token).update(
            state=Timer.State.FAILED, finished_at=timezone.now()
        )
    else:
        # Retry at the next sweep after a short pause rather than waiting out the lease.
        Timer.objects.filter(pk=timer_id, claim_token=token).update(
            lease_until=timezone.now() + timedelta(seconds=5 * timer.attempts)
        )


def timers_due(
    *, queue: str | None = None, now: datetime | None = None, limit: int = 100
) -> list[int]:
    """Return ids of timers due now and not held by a live claim, most urgent first.

    Most urgent is the lowest priority number, then the oldest due time; `queue` keeps the
    queue's own timers (None: every queue's).
    """
    now = now or timezone.now()
    timers = Timer.objects.filter(_claimable(now), attempts__lt=MAX_ATTEMPTS)
    if queue is not None:
        timers = timers.filter(queue=queue)
    with transaction.atomic():
        # On PostgreSQL two sweeps skip each other's rows instead of waiting on them; the
        # conditional update in timer_claim is what decides who fires a timer, on any database.
        rows = (
            timers.select_for_update(skip_locked=True)
            .order_by("priority", "due_at")
            .values_list("pk", flat=True)[:limit]
        )
        return list(rows)


def timers_sweep(
    *, queue: str | None = None, limit: int = 100, budget: timedelta = timedelta(seconds=8)
) -> int:
    """Fire the due timers of `queue` (None: every queue's), most urgent first; return how many.

    Batch after batch within the time budget: a backlog (wake-ups lost with a broker restart,
    say) clears in one sweep rather than at one batch per beat interval; the budget keeps one
    sweep shorter than the beat interval. Each batch is read afresh, so a timer that a batch
    made due (a P1's first escalation step) comes first in the next one.
    """
    fired = 0
    deadline = timezone.now() + budget
    while True:
        batch = timers_due(queue=queue, limit=limit)
        for timer_id in batch:
            try:
                if timer_fire(timer_id=timer_id) is not None:
                    fired += 1
            except Exception:  # noqa: S112 - timer_fire logged it; one bad timer must not stop the sweep
                continue
        if len(batch) < limit or timezone.now() >= deadline:
            return fired
