"""Waiting for a rollout: one status read per timer, never a worker sleeping.

A "wait for rollout" job (chained by .follow_ups) is read once when it is claimed (.execution);
while the deployment is still rolling out, each read records its progress and schedules the
next one as a timer (ROLLOUT_POLL_KIND, woken by .wakeups), until it is done, failed, or past
its deadline.
"""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from portal.integrations import kubernetes as k8s
from portal.timers import timer_schedule

from ...models import Job
from .. import kinds
from ..failures import failure_message
from .common import K, State, _load, _lock, rollout_poll_interval, rollout_wait
from .outcome import _finish
from .wakeups import ROLLOUT_POLL_KIND


def job_rollout_poll(*, job_id: int, poll: int) -> str:
    """Read the rollout status once more for a waiting job (woken by its timer)."""
    job = _load(job_id)
    if job is None or job.kind != K.ROLLOUT_STATUS:
        return "no such rollout wait"
    if job.state != State.RUNNING:
        return f"not waiting: {job.state}"
    if job.output.get("polls", 0) != poll:
        return "this poll already ran"
    return _rollout_check(job)


def _rollout_check(job: Job) -> str:
    deployment = job.params["deployment"]
    config = kinds.cluster_config(job.target.cluster)
    now = timezone.now()
    past_deadline = job.deadline_at is not None and now >= job.deadline_at
    try:
        status = k8s.rollout_status(config, namespace=job.target.namespace, deployment=deployment)
    except k8s.KubernetesUnreachable as exc:
        if past_deadline:
            return _finish(job, State.FAILED, error=failure_message(exc, job))
        return _rollout_wait_more(job, message=failure_message(exc, job))
    except kinds.ADAPTER_ERRORS as exc:
        return _finish(job, State.FAILED, error=failure_message(exc, job))
    data = {"done": status.done, "failed": status.failed, "message": status.message}
    if status.done:
        return _finish(
            job,
            State.SUCCEEDED,
            summary=f"Deployment {deployment} rolled out: {status.message}",
            output=data,
        )
    if status.failed:
        return _finish(
            job,
            State.FAILED,
            error=f"Deployment {deployment} failed to roll out: {status.message}",
            output=data,
        )
    if past_deadline:
        minutes = int(rollout_wait().total_seconds() // 60)
        return _finish(
            job,
            State.FAILED,
            error=f"Deployment {deployment} did not finish rolling out within {minutes} minutes: "
            f"{status.message}",
            output=data,
        )
    return _rollout_wait_more(job, message=status.message)


def _rollout_wait_more(job: Job, *, message: str) -> str:
    """Record the progress and schedule the next read instead of sleeping in the worker."""
    now = timezone.now()
    with transaction.atomic():
        locked = _lock(job.pk)
        if locked.state != State.RUNNING or locked.attempts != job.attempts:
            return "another attempt took over"
        if locked.output.get("polls", 0) != job.output.get("polls", 0):
            return "this poll already ran"
        polls = job.output.get("polls", 0) + 1
        locked.output = {"polls": polls, "message": message, "checked_at": now.isoformat()}
        locked.summary = message
        locked.save(update_fields=["output", "summary"])
        due_at = min(now + rollout_poll_interval(), locked.deadline_at or now)
        timer_schedule(
            kind=ROLLOUT_POLL_KIND,
            key=f"runbooks.rollout-{job.pk}-{polls}",
            due_at=max(due_at, now + timedelta(seconds=1)),
            payload={"job_id": job.pk, "poll": polls},
        )
    return f"waiting: {message}"
