"""What every step of a job shares: its time limits, loading and locking it, its timeline."""

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from incidents.models import TimelineEvent
from incidents.services import timeline_record
from portal.auth import AnyUser

from ...models import Job, JobKind

State = Job.State
K = JobKind


def _setting(name: str, default: float) -> float:
    # Tests may leave a setting out (override_settings deletes); fall back to the default.
    return float(getattr(settings, name, default))


def preview_max_age() -> timedelta:
    """Return how old a preview may be when it is confirmed."""
    return timedelta(minutes=_setting("FIREBREAK_JOB_PREVIEW_MAX_AGE_MINUTES", 10))


def preview_timeout() -> timedelta:
    """Return how long a worker has to compute a preview."""
    return timedelta(minutes=_setting("FIREBREAK_JOB_PREVIEW_TIMEOUT_MINUTES", 5))


def run_timeout() -> timedelta:
    """Return how long a confirmed job has to finish (helm's own timeout stays inside it)."""
    return timedelta(minutes=_setting("FIREBREAK_JOB_RUN_TIMEOUT_MINUTES", 15))


def rollout_wait() -> timedelta:
    """Return how long "wait for rollout" waits before it calls the rollout failed."""
    return timedelta(minutes=_setting("FIREBREAK_JOB_ROLLOUT_WAIT_MINUTES", 15))


def rollout_poll_interval() -> timedelta:
    """Return the pause between two rollout status reads."""
    return timedelta(seconds=_setting("FIREBREAK_JOB_ROLLOUT_POLL_SECONDS", 5))


def _load(job_id: int) -> Job | None:
    return (
        Job.objects.select_related("incident", "target__cluster", "target__service", "runbook")
        .filter(pk=job_id)
        .first()
    )


def _lock(job_id: int) -> Job:
    return (
        Job.objects.select_for_update(of=("self",))
        .select_related("incident", "target__cluster", "target__service")
        .get(pk=job_id)
    )


def _record(
    job: Job,
    kind: str,
    *,
    actor: AnyUser | None,
    source: str,
    message: str,
    data: dict[str, Any] | None = None,
) -> TimelineEvent:
    return timeline_record(
        incident=job.incident,
        kind=kind,
        actor=actor,
        source=source,
        occurred_at=timezone.now(),
        message=message,
        data={"job_id": job.pk, "job_kind": job.kind, "state": job.state, **(data or {})},
    )
