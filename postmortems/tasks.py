"""Background work of postmortems: planning the reminders (beat, hourly; safe to run twice)."""

from portal.celery import firebreak_task

from .reminders import reminders_plan_all


@firebreak_task()
def reminders_plan_task() -> int:
    """Schedule the reminders and digests of the next hours as timers; return how many are new."""
    return reminders_plan_all()
