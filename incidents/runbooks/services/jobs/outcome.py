"""A job's outcome: recorded only by the attempt that holds the job, then on the timeline.

Both a run (.execution) and a rollout wait (.rollout) end here; a mutating job's success then
leads to its follow-ups (.follow_ups).
"""

import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from incidents.models import Source, TimelineEvent

from ...models import Job
from .. import kinds
from ..digest import timeline_digest
from .common import State, _record
from .follow_ups import _follow_ups

logger = logging.getLogger(__name__)


def _finish(
    job: Job,
    state: str,
    *,
    summary: str = "",
    error: str = "",
    output: dict[str, Any] | None = None,
) -> str:
    """Record the outcome if this attempt still holds the job; then its follow-ups."""
    with transaction.atomic():
        done = Job.objects.filter(pk=job.pk, state=State.RUNNING, attempts=job.attempts).update(
            state=state,
            finished_at=timezone.now(),
            summary=summary,
            error=error,
            output=output if output is not None else {},
        )
        if not done:
            logger.warning(
                "job %s: outcome %s not recorded, another attempt holds it", job.pk, state
            )
            return "outcome not recorded: another attempt took over"
        job.refresh_from_db()
        _record_finished(job)
        if state == State.SUCCEEDED and job.mutating:
            _follow_ups(job)
    return f"{state}: {summary or error}"


def _record_finished(job: Job) -> TimelineEvent:
    """Write the outcome on the timeline (a readable digest; the raw data stays on the job)."""
    verb = {
        State.SUCCEEDED: "Succeeded",
        State.FAILED: "Failed",
        State.REFUSED: "Refused",
        State.CANCELLED: "Cancelled",
    }.get(State(job.state), job.get_state_display())
    text = job.summary if job.state == State.SUCCEEDED else job.error
    return _record(
        job,
        TimelineEvent.Kind.JOB_FINISHED,
        actor=None,
        source=Source.SYSTEM,
        message=f"{verb}: {kinds.describe(job)}." + (f" {text}" if text else ""),
        data={"digest": timeline_digest(job)} if job.state == State.SUCCEEDED else None,
    )
