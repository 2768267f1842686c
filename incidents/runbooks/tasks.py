"""Background work of the runbooks app, on the `jobs` queue (CELERY_TASK_ROUTES).

Thin: each takes primary keys and calls one service; every service is safe to run twice.
"""

from portal.celery import firebreak_task

from .services import job_preview, job_rollout_poll, job_run

# A job's run is at most once: a broker or database fault must not send the task again blindly
# (the service reconciles a redelivered run itself), so these tasks do not auto-retry.


@firebreak_task(max_retries=0)
def job_preview_task(job_id: int) -> str:
    """Compute the preview of a mutating job (safe to run twice)."""
    return job_preview(job_id=job_id)


@firebreak_task(max_retries=0)
def job_run_task(job_id: int) -> str:
    """Run a queued job, or reconcile a running one (safe to run twice)."""
    return job_run(job_id=job_id)


@firebreak_task(max_retries=0)
def job_rollout_poll_task(job_id: int, poll: int) -> str:
    """Read the rollout status once more for a waiting job (safe to run twice)."""
    return job_rollout_poll(job_id=job_id, poll=poll)
