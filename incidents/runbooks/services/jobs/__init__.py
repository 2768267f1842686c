"""Kubernetes jobs: request, preview, confirm, run at most once, reconcile, wait for rollout.

States (Job.State): a read-only job is `queued` at once; a mutating one starts in `preview`,
where a worker computes the dry run that pins the target (Plan in Job.pinned), and waits for a
confirmation that queues it. A worker claims a queued job with a conditional update
(queued → running, attempts + 1); the outcome is recorded only by the attempt that holds it.

At most once, then reconciled: a running job met again (a redelivered task, or its deadline
passed) re-reads the cluster and does nothing if the target is in place; a change to what the
preview pinned (a Deployment's spec and generation, not its status) makes a fresh preview,
never a blind retry; a change whose answer was lost is read back, not called failed; past its
deadline a job is failed, not retried. Waiting for a rollout re-schedules itself with a timer
instead of sleeping. Each request and each outcome is a timeline event.

Modules: .request (what people ask: request, confirm, refresh, cancel), .execution (what the
workers do: preview, claim, run, reconcile), .outcome (recording how a job ended), .follow_ups
(what a finished change leads to), .rollout (waiting for a rollout, one read per timer),
.wakeups (the timer kinds and the tasks they enqueue by name), .common (time limits, helpers).
"""

from .common import (
    preview_max_age,
    preview_timeout,
    rollout_poll_interval,
    rollout_wait,
    run_timeout,
)
from .execution import job_preview, job_run
from .follow_ups import IMAGE_PIN_FOLLOW_UP
from .request import (
    REQUEST_KEY,
    JobNotAllowed,
    PreviewStale,
    job_cancel,
    job_confirm,
    job_preview_refresh,
    job_request,
)
from .rollout import job_rollout_poll
from .wakeups import (
    NUDGE_AFTER,
    PREVIEW_TASK,
    ROLLOUT_POLL_KIND,
    ROLLOUT_POLL_TASK,
    RUN_TASK,
    WAKE_KIND,
    job_wake,
    rollout_poll_wake,
)

__all__ = [
    "IMAGE_PIN_FOLLOW_UP",
    "NUDGE_AFTER",
    "PREVIEW_TASK",
    "REQUEST_KEY",
    "ROLLOUT_POLL_KIND",
    "ROLLOUT_POLL_TASK",
    "RUN_TASK",
    "WAKE_KIND",
    "JobNotAllowed",
    "PreviewStale",
    "job_cancel",
    "job_confirm",
    "job_preview",
    "job_preview_refresh",
    "job_request",
    "job_rollout_poll",
    "job_run",
    "job_wake",
    "preview_max_age",
    "preview_timeout",
    "rollout_poll_interval",
    "rollout_poll_wake",
    "rollout_wait",
    "run_timeout",
]
