"""Writes of the runbooks app: jobs (request, confirm, run, reconcile) and runbook flags."""

from .jobs import (
    JobNotAllowed,
    PreviewStale,
    job_cancel,
    job_confirm,
    job_preview,
    job_preview_refresh,
    job_request,
    job_rollout_poll,
    job_run,
)
from .runbooks import runbook_flag, runbook_flag_resolve

__all__ = [
    "JobNotAllowed",
    "PreviewStale",
    "job_cancel",
    "job_confirm",
    "job_preview",
    "job_preview_refresh",
    "job_request",
    "job_rollout_poll",
    "job_run",
    "runbook_flag",
    "runbook_flag_resolve",
]
