"""Timers survive a worker killed mid-fire, and racing sweeps fire each timer once."""

import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.db import connection, connections
from django.utils import timezone

from portal import timers
from portal.models import Timer
from portal.tasks import timers_sweep_task
from tests.celery_worker import needs_broker, running_worker
from tests.portal import timer_handlers  # noqa: F401 - registers the test timer kinds

LEASE_SECONDS = "3"


@pytest.mark.worker
@needs_broker
def test_a_timer_claimed_by_a_killed_worker_fires_once_after_the_lease(live_db, tmp_path: Path):
    from portal.celery import app

    app.control.purge()
    marker = tmp_path / "claimed"
    env = {"FIREBREAK_TIMER_LEASE_SECONDS": LEASE_SECONDS}
    include = ("tests.portal.timer_handlers",)

    with running_worker(tmp_path / "first.log", env=env, include=include) as first:
        timer = timers.timer_schedule(
            kind="test.crash_on_first_attempt",
            key="inc-1:escalate-to-em",
            due_at=timezone.now(),
            payload={"marker": str(marker)},
        )  # its wake-up task goes to the broker at once (autocommit)
        first.wait_for(marker.exists, what="claim by the first worker")
        first.kill()

    timer.refresh_from_db()
    assert (timer.state, timer.attempts) == ("claimed", 1)
    assert not Group.objects.filter(name__startswith="effect of").exists()

    with running_worker(tmp_path / "second.log", env=env, include=include) as second:

        def swept_and_done() -> bool:
            timers_sweep_task.delay()
            return Timer.objects.get(pk=timer.pk).state == "done"

        second.wait_for(swept_and_done, what="the timer fired after its lease expired")
        # More sweeps change nothing.
        result = timers_sweep_task.delay()
        second.wait_for(lambda: second.ran(result.id), what="a later sweep")

    timer.refresh_from_db()
    assert (timer.state, timer.attempts, timer.outcome) == ("done", 2, "delivered")
    assert Group.objects.filter(name="effect of inc-1:escalate-to-em").count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL's row locks")
def test_two_sweeps_racing_over_the_same_timers_fire_each_once(live_db):
    @timers.timer_handler("test.count")
    def count(timer: Timer) -> str:
        # One effect row per firing, with nothing unique to hide a second one.
        Timer.objects.create(
            kind="test.effect",
            key=f"effect {timer.key} {uuid.uuid4()}",
            due_at=timezone.now(),
            state="done",
        )
        return "counted"

    # Rows written directly: no wake-up tasks, so only the two sweeps compete.
    due_at = timezone.now() - timedelta(seconds=1)
    Timer.objects.bulk_create(
        Timer(kind="test.count", key=f"race-{number}", due_at=due_at) for number in range(60)
    )

    ids = list(Timer.objects.filter(kind="test.count").values_list("pk", flat=True))
    start = threading.Barrier(2)
    fired: list[int] = []

    def sweep() -> None:
        # Both sweeps picked the same due timers (their selections did not overlap in time,
        # so SKIP LOCKED kept nothing apart): only the claim decides who fires each one.
        try:
            start.wait()
            fired.append(sum(timers.timer_fire(timer_id=pk) is not None for pk in ids))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(fired) == 60
    assert Timer.objects.filter(kind="test.effect").count() == 60
    assert Timer.objects.filter(kind="test.count", state="done").count() == 60
