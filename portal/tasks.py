from portal import timers
from portal.celery import firebreak_task


@firebreak_task()
def timer_fire_task(timer_id: int) -> None:
    """Fire one timer if it is due and unclaimed (the precise wake-up)."""
    timers.timer_fire(timer_id=timer_id)


@firebreak_task()
def timers_sweep_task() -> int:
    """Fire every due timer (the beat sweep that catches whatever a wake-up missed)."""
    return timers.timers_sweep()
