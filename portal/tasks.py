from portal import timers
from portal.celery import firebreak_task


@firebreak_task()
def timer_fire_task(timer_id: int) -> None:
    """Fire one timer if it is due and unclaimed (the precise wake-up, sent to its queue)."""
    timers.timer_fire(timer_id=timer_id)


@firebreak_task()
def timers_sweep_task(queue: str | None = None) -> int:
    """Fire the due timers of `queue`, most urgent first (beat sends one per queue, to it).

    The net under the wake-ups; without a queue (a test, an operator) it sweeps every queue.
    """
    return timers.timers_sweep(queue=queue)
