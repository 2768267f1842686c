"""Wake-ups: timers fire, tasks on the `jobs` queue do the work.

The timers themselves are on the `jobs` queue too: its own sweep fires them, never behind a
backlog of mail on `default`.

A task message only wakes a worker for a job row; the timers scheduled with it are the net for
a message that was lost. The timer kinds are registered when this module is imported, which
RunbooksConfig.ready() does in every process.
"""

import uuid
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from portal.celery import enqueue
from portal.models import Timer
from portal.timers import TimerRetry, timer_handler, timer_schedule

from ...models import Job
from .common import State

WAKE_KIND = "runbooks.job_wake"
ROLLOUT_POLL_KIND = "runbooks.rollout_poll"

# A queued job whose task message was lost (broker down) is enqueued again this much later.
NUDGE_AFTER = timedelta(seconds=30)

# The tasks, by name (they import the services): a message only wakes a worker for a job row.
PREVIEW_TASK = "incidents.runbooks.tasks.job_preview_task"
RUN_TASK = "incidents.runbooks.tasks.job_run_task"
ROLLOUT_POLL_TASK = "incidents.runbooks.tasks.job_rollout_poll_task"


def _wake_after_commit(job: Job) -> None:
    """Enqueue the job's next step after commit, with timers as the net for a lost message."""
    task = PREVIEW_TASK if job.state == State.PREVIEW else RUN_TASK
    job_id = job.pk
    now = timezone.now()
    stamp = uuid.uuid4().hex[:8]
    nudge_key = f"runbooks.job-{job.pk}-nudge-{stamp}"

    def wake() -> None:
        if not enqueue(task, job_id):
            # The broker is down: the next sweep nudges the job, rather than NUDGE_AFTER later
            # (a rollback confirmed during an outage must not wait half a minute more).
            Timer.objects.filter(key=nudge_key, state=Timer.State.PENDING).update(
                due_at=timezone.now()
            )

    transaction.on_commit(wake)
    timer_schedule(
        kind=WAKE_KIND,
        key=nudge_key,
        due_at=now + NUDGE_AFTER,
        payload={"job_id": job.pk},
        precise=False,
    )
    if job.deadline_at is not None:
        timer_schedule(
            kind=WAKE_KIND,
            key=f"runbooks.job-{job.pk}-deadline-{stamp}",
            due_at=job.deadline_at + timedelta(seconds=1),
            payload={"job_id": job.pk},
            precise=False,
        )


def _read_back_wake(job: Job, *, due_at: datetime) -> None:
    """Wake the job at `due_at` to read back a change whose answer was lost."""
    timer_schedule(
        kind=WAKE_KIND,
        key=f"runbooks.job-{job.pk}-read-back-{uuid.uuid4().hex[:8]}",
        due_at=due_at,
        payload={"job_id": job.pk, "read_back": True},
        precise=False,
    )


@timer_handler(WAKE_KIND, queue="jobs")
def job_wake(timer: Timer) -> str:
    """Enqueue a job's pending step again if it is still waiting for a worker."""
    job = Job.objects.filter(pk=timer.payload["job_id"]).first()
    if job is None or job.finished:
        return "nothing to do"
    now = timezone.now()
    past_deadline = job.deadline_at is not None and now > job.deadline_at
    if job.state == State.PREVIEW:
        if job.preview.get("computed_at"):
            return "awaiting confirmation"
        task, what = PREVIEW_TASK, "preview"
    elif job.state == State.QUEUED or past_deadline:
        # A running job is left alone until its deadline: it may be mid-change right now.
        task, what = RUN_TASK, "run"
    elif timer.payload.get("read_back") and job.output.get("outcome_unknown"):
        # Its change was sent but the answer lost, and the cluster could not be read back.
        task, what = RUN_TASK, "read-back"
    else:
        return "running"
    if not enqueue(task, job.pk):
        raise TimerRetry(timedelta(seconds=30), "broker unavailable")
    return f"enqueued the {what} of job {job.pk}"


@timer_handler(ROLLOUT_POLL_KIND, queue="jobs")
def rollout_poll_wake(timer: Timer) -> str:
    """Enqueue the next rollout status read of a waiting job."""
    if not enqueue(ROLLOUT_POLL_TASK, timer.payload["job_id"], timer.payload["poll"]):
        raise TimerRetry(timedelta(seconds=15), "broker unavailable")
    return "enqueued a rollout status read"
