"""Timers as rows: fired once, never lost, through duplicates, races and failures."""

from datetime import timedelta

import pytest
from django.utils import timezone

from portal import timers
from portal.models import Timer

fired: list[str] = []


@timers.timer_handler("test.record")
def record(timer: Timer) -> str:
    fired.append(timer.key)
    return f"recorded {timer.payload.get('what', '')}"


@timers.timer_handler("test.explode")
def explode(timer: Timer) -> str:
    fired.append(timer.key)
    raise ConnectionError("provider down")


@timers.timer_handler("test.rate_limited_once")
def rate_limited_once(timer: Timer) -> str:
    fired.append(timer.key)
    if len(fired) == 1:
        # Written in the handler's transaction: rolled back with the postponement.
        Timer.objects.filter(pk=timer.pk).update(outcome="half-done")
        raise timers.TimerRetry(timedelta(seconds=30), "rate limited")
    return "sent"


@pytest.fixture(autouse=True)
def clear_fired():
    fired.clear()


def due(key: str, *, kind: str = "test.record", seconds_ago: int = 1, **payload) -> Timer:
    return timers.timer_schedule(
        kind=kind,
        key=key,
        due_at=timezone.now() - timedelta(seconds=seconds_ago),
        payload=payload,
    )


def test_a_due_timer_fires_once_however_often_it_is_woken(db):
    timer = due("inc-1:step-1", what="page alice")

    outcomes = [timers.timer_fire(timer_id=timer.pk) for _ in range(3)]
    swept = timers.timers_sweep()

    assert outcomes == ["recorded page alice", None, None]
    assert swept == 0
    assert fired == ["inc-1:step-1"]
    timer.refresh_from_db()
    assert (timer.state, timer.attempts, timer.outcome) == ("done", 1, "recorded page alice")


def test_a_future_timer_waits(db):
    timer = timers.timer_schedule(
        kind="test.record", key="later", due_at=timezone.now() + timedelta(minutes=1)
    )
    assert timers.timer_fire(timer_id=timer.pk) is None
    assert timers.timers_sweep() == 0
    assert fired == []


def test_scheduling_the_same_key_twice_keeps_one_timer(db):
    first = due("inc-1:reminder-1")
    second = due("inc-1:reminder-1", seconds_ago=100)
    assert first.pk == second.pk
    assert Timer.objects.count() == 1


def test_an_unknown_kind_is_refused(db):
    with pytest.raises(LookupError):
        timers.timer_schedule(kind="nobody.handles", key="x", due_at=timezone.now())


def test_only_one_of_two_claims_wins(db):
    timer = due("race")
    assert timers.timer_claim(timer_id=timer.pk) is not None
    assert timers.timer_claim(timer_id=timer.pk) is None


def test_a_claim_whose_worker_died_is_taken_over_after_its_lease(db):
    timer = due("crashed")
    # A worker claimed it and died before recording anything.
    assert timers.timer_claim(timer_id=timer.pk) is not None
    assert timers.timers_sweep() == 0  # the lease still holds

    Timer.objects.filter(pk=timer.pk).update(lease_until=timezone.now() - timedelta(seconds=1))

    assert timers.timers_sweep() == 1
    assert fired == ["crashed"]
    timer.refresh_from_db()
    assert (timer.state, timer.attempts) == ("done", 2)


def test_a_worker_that_lost_its_claim_records_nothing(db):
    timer = due("slow")

    @timers.timer_handler("test.slow")
    def slow(t: Timer) -> str:
        # While this handler ran past its lease, another worker took the timer over.
        Timer.objects.filter(pk=t.pk).update(claim_token=None)
        Timer.objects.create(kind="test.record", key="side-effect", due_at=timezone.now())
        return "late"

    Timer.objects.filter(pk=timer.pk).update(kind="test.slow")

    assert timers.timer_fire(timer_id=timer.pk) is None
    assert not Timer.objects.filter(key="side-effect").exists()  # its writes rolled back
    assert Timer.objects.get(pk=timer.pk).state == "claimed"


def test_a_failing_handler_is_retried_then_parked(db):
    timer = due("flaky", kind="test.explode")

    for attempt in range(1, timers.MAX_ATTEMPTS + 1):
        with pytest.raises(ConnectionError):
            timers.timer_fire(timer_id=timer.pk)
        timer.refresh_from_db()
        assert timer.attempts == attempt
        Timer.objects.filter(pk=timer.pk, state="claimed").update(
            lease_until=timezone.now() - timedelta(seconds=1)
        )

    timer.refresh_from_db()
    assert timer.state == "failed"
    assert timers.timers_sweep() == 0
    assert len(fired) == timers.MAX_ATTEMPTS


def test_one_failing_timer_does_not_stop_the_sweep(db):
    due("bad", kind="test.explode", seconds_ago=10)
    due("good", seconds_ago=5)
    assert timers.timers_sweep() == 1
    assert fired == ["bad", "good"]


def test_cancelled_timers_never_fire(db):
    due("inc-7:step-1")
    due("inc-7:step-2")
    due("inc-8:step-1")

    assert timers.timer_cancel(key_prefix="inc-7:") == 2
    timers.timers_sweep()

    assert fired == ["inc-8:step-1"]


def test_the_sweep_task_fires_due_timers(db):
    from portal.tasks import timers_sweep_task

    due("via-task")
    assert timers_sweep_task.delay().get() == 1
    assert fired == ["via-task"]


def test_one_sweep_clears_a_backlog_larger_than_a_batch(db):
    due_at = timezone.now() - timedelta(minutes=5)  # wake-ups lost, say, with a broker restart
    Timer.objects.bulk_create(
        Timer(kind="test.record", key=f"backlog-{n}", due_at=due_at) for n in range(250)
    )

    assert timers.timers_sweep(limit=100) == 250
    assert len(fired) == 250


def test_a_precise_timer_due_soon_gets_a_wake_up_and_a_reminder_waits_for_the_sweep(
    db, django_capture_on_commit_callbacks
):
    soon = timezone.now() + timedelta(seconds=30)
    with django_capture_on_commit_callbacks() as woken:
        timers.timer_schedule(kind="test.record", key="escalation", due_at=soon)
    with django_capture_on_commit_callbacks() as not_woken:
        reminder = timers.timer_schedule(
            kind="test.record", key="reminder", due_at=soon, precise=False
        )

    assert len(woken) == 1
    assert not_woken == []
    Timer.objects.filter(pk=reminder.pk).update(due_at=timezone.now())
    assert timers.timers_sweep() == 1  # the sweep still fires it
    assert fired == ["reminder"]


def test_a_handler_told_to_come_back_later_is_postponed_without_counting_a_failure(
    db, django_capture_on_commit_callbacks
):
    timer = due("post-1", kind="test.rate_limited_once")

    with django_capture_on_commit_callbacks() as wake_ups:
        outcome = timers.timer_fire(timer_id=timer.pk)

    timer.refresh_from_db()
    assert outcome is not None and "rate limited" in outcome
    assert (timer.state, timer.attempts, timer.outcome) == ("pending", 0, "")
    assert timer.due_at > timezone.now() + timedelta(seconds=25)
    assert len(wake_ups) == 1  # woken at the new due time, not left to the sweep
    assert timers.timer_fire(timer_id=timer.pk) is None  # not due yet: nothing is sent early

    Timer.objects.filter(pk=timer.pk).update(due_at=timezone.now())
    assert timers.timer_fire(timer_id=timer.pk) == "sent"
    timer.refresh_from_db()
    assert (timer.state, timer.attempts) == ("done", 1)
    assert fired == ["post-1", "post-1"]
