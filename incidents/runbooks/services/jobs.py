"""Kubernetes jobs: request, preview, confirm, run at most once, reconcile, wait for rollout.

States (Job.State): a read-only job is `queued` at once; a mutating one starts in `preview`,
where a worker computes the dry run that pins the target (Plan in Job.pinned), and waits for a
confirmation that queues it. A worker claims a queued job with a conditional update
(queued → running, attempts + 1); the outcome is recorded only by the attempt that holds it.

At most once, then reconciled: a running job met again (a redelivered task, or its deadline
passed) re-reads the cluster and does nothing if the target is in place; a 409 against the
pinned resourceVersion makes a fresh preview, never a blind retry; past its deadline a job is
failed, not retried. Waiting for a rollout re-schedules itself with a timer instead of sleeping.
Each request and each outcome is a timeline event.
"""

import logging
import re
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from incidents.models import Incident, IncidentStatus, Source, TimelineEvent
from incidents.policies import Action, require
from incidents.services import timeline_record
from portal.auth import AnyUser
from portal.celery import enqueue
from portal.errors import ApplicationError, InvalidInputError
from portal.integrations import kubernetes as k8s
from portal.models import Timer
from portal.timers import TimerRetry, timer_handler, timer_schedule

from ..models import READ_ONLY_KINDS, Job, JobKind, KubernetesTarget, Runbook
from . import kinds
from .digest import timeline_digest
from .failures import control_plane_refusal, failure_message

logger = logging.getLogger(__name__)

State = Job.State
K = JobKind

WAKE_KIND = "runbooks.job_wake"
ROLLOUT_POLL_KIND = "runbooks.rollout_poll"
# Keys of the forms' hidden request_key: a uuid4, so they never collide with the derived keys
# ("job12-rollout-0") of the jobs Firebreak starts itself.
REQUEST_KEY = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
IMAGE_PIN_FOLLOW_UP = "Remove the image pin on {deployment} and restore GitOps"


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


# A queued job whose task message was lost (broker down) is enqueued again this much later.
NUDGE_AFTER = timedelta(seconds=30)


class JobNotAllowed(ApplicationError):
    """The job cannot move that way from its current state."""


class PreviewStale(JobNotAllowed):
    """The preview is too old to confirm; it must be refreshed and reviewed again."""


# --- Requests from people -------------------------------------------------------------------------


def job_request(
    *,
    incident: Incident,
    target: KubernetesTarget,
    kind: str,
    params: dict[str, Any],
    actor: AnyUser,
    request_key: str,
    runbook: Runbook | None = None,
    source: str = Source.WEB,
) -> Job:
    """Request a job: a read-only one is queued, a mutating one gets a preview to confirm first."""
    if kind not in K.values:
        raise InvalidInputError(f"{kind!r} is not a job Firebreak runs.", field="kind")
    read_only = kind in READ_ONLY_KINDS
    require(actor, Action.RUN_DIAGNOSTICS if read_only else Action.RUN_MUTATING_JOB, incident)
    key = (request_key or "").strip().lower()
    if not REQUEST_KEY.match(key):
        raise InvalidInputError("The form is out of date; reload the page and try again.")
    existing = Job.objects.filter(request_key=key).first()
    if existing is not None:
        return _same_request(existing, incident=incident, actor=actor)
    if incident.status == IncidentStatus.CLOSED:
        raise JobNotAllowed(f"{incident.reference} is closed; reopen it to run jobs.")
    # The incident's roles grant jobs on its own services' targets only (as the runbook page
    # offers them); an incident without services may reach every target.
    service_ids = set(incident.services.values_list("pk", flat=True))
    if service_ids and target.service_id not in service_ids:
        raise JobNotAllowed(
            f"{target.service.name} · {target.name} is not a target of {incident.reference}'s "
            "services; add the service to the incident first."
        )
    unavailable = kinds.kind_unavailable(kind=kind, target=target)
    if unavailable:
        raise InvalidInputError(unavailable, field="kind")
    cleaned = kinds.params_clean(kind=kind, target=target, params=params)
    now = timezone.now()
    try:
        with transaction.atomic():
            job = Job.objects.create(
                incident=incident,
                target=target,
                runbook=runbook,
                kind=kind,
                params=cleaned,
                state=State.QUEUED if read_only else State.PREVIEW,
                request_key=key,
                requested_by=actor if isinstance(actor, User) else None,
                deadline_at=now + (run_timeout() if read_only else preview_timeout()),
            )
            _record(
                job,
                TimelineEvent.Kind.JOB_REQUESTED,
                actor=actor,
                source=source,
                message=f"Requested: {kinds.describe(job)}"
                + ("" if read_only else "; a preview comes first."),
            )
            _wake_after_commit(job)
    except IntegrityError:
        # The same form submitted twice at the same moment: the other request made the job.
        existing = Job.objects.filter(request_key=key).first()
        if existing is None:
            raise
        return _same_request(existing, incident=incident, actor=actor)
    return job


def _same_request(job: Job, *, incident: Incident, actor: AnyUser) -> Job:
    if job.incident_id != incident.pk or job.requested_by_id != actor.pk:
        raise InvalidInputError("This form was already used; reload the page and try again.")
    return job


def job_confirm(*, job: Job, actor: AnyUser, source: str = Source.WEB) -> Job:
    """Confirm a previewed job so a worker runs it; confirming twice changes nothing."""
    require(actor, Action.RUN_MUTATING_JOB, job.incident)
    now = timezone.now()
    with transaction.atomic():
        locked = _lock(job.pk)
        if locked.confirmed_at is not None and locked.state != State.CANCELLED:
            return locked  # a double submit of the confirm button
        if locked.state != State.PREVIEW:
            raise JobNotAllowed(
                f"This job is {locked.get_state_display().lower()}; it can no longer be confirmed."
            )
        computed_at = kinds.parse_time(locked.preview.get("computed_at"))
        if computed_at is None:
            raise JobNotAllowed("The preview is still being computed; confirm once it is shown.")
        if now - computed_at > preview_max_age():
            minutes = int((now - computed_at).total_seconds() // 60)
            raise PreviewStale(
                f"The preview is {minutes} minutes old and the cluster may have changed: refresh "
                "the preview and review it again before confirming."
            )
        if locked.incident.status == IncidentStatus.CLOSED:
            raise JobNotAllowed(f"{locked.incident.reference} is closed; reopen it to run jobs.")
        locked.state = State.QUEUED
        locked.confirmed_by = actor if isinstance(actor, User) else None
        locked.confirmed_at = now
        locked.deadline_at = now + run_timeout()
        locked.save(update_fields=["state", "confirmed_by", "confirmed_at", "deadline_at"])
        _record(
            locked,
            TimelineEvent.Kind.JOB_CONFIRMED,
            actor=actor,
            source=source,
            message=f"Confirmed after the preview: {kinds.describe(locked)}. "
            f"{locked.preview.get('summary', '')}".strip(),
        )
        _wake_after_commit(locked)
    return locked


def job_preview_refresh(*, job: Job, actor: AnyUser) -> Job:
    """Compute the preview again (it was too old, or the cluster changed)."""
    require(actor, Action.RUN_MUTATING_JOB, job.incident)
    with transaction.atomic():
        locked = _lock(job.pk)
        if locked.state != State.PREVIEW:
            raise JobNotAllowed(
                f"This job is {locked.get_state_display().lower()}; request it again instead."
            )
        if not locked.preview.get("computed_at"):
            return locked  # already being computed
        locked.preview = {}
        locked.pinned = {}
        locked.deadline_at = timezone.now() + preview_timeout()
        locked.save(update_fields=["preview", "pinned", "deadline_at"])
        _wake_after_commit(locked)
    return locked


def job_cancel(*, job: Job, actor: AnyUser, source: str = Source.WEB) -> Job:
    """Cancel a job that has not started; a running job cannot be called back."""
    action = Action.RUN_DIAGNOSTICS if job.kind in READ_ONLY_KINDS else Action.RUN_MUTATING_JOB
    require(actor, action, job.incident)
    with transaction.atomic():
        locked = _lock(job.pk)
        if locked.state == State.CANCELLED:
            return locked
        cancelled = Job.objects.filter(
            pk=locked.pk, state__in=[State.PREVIEW, State.QUEUED]
        ).update(state=State.CANCELLED, finished_at=timezone.now())
        if not cancelled:
            raise JobNotAllowed(
                f"This job is {locked.get_state_display().lower()}; only a job that has not "
                "started can be cancelled."
            )
        locked.refresh_from_db()
        _record(
            locked,
            TimelineEvent.Kind.JOB_FINISHED,
            actor=actor,
            source=source,
            message=f"Cancelled: {kinds.describe(locked)}",
        )
    return locked


# --- Work done by the workers (queue `jobs`) -----------------------------------------------------


def job_preview(*, job_id: int) -> str:
    """Compute a mutating job's preview (a server-side dry run that pins the target)."""
    job = _load(job_id)
    if job is None:
        return "job gone"
    if job.state != State.PREVIEW:
        return f"not previewing: {job.state}"
    if job.preview.get("computed_at"):
        return "preview already computed"
    now = timezone.now()
    if job.deadline_at and now > job.deadline_at:
        return _preview_outcome(
            job,
            State.FAILED,
            error="The preview was not computed in time (are the `jobs` workers running?). "
            "Request the job again.",
        )
    config = kinds.cluster_config(job.target.cluster)
    try:
        refusal = _control_plane_refusal(config)
        if refusal:
            return _preview_outcome(job, State.REFUSED, error=refusal)
        preview, pinned = kinds.preview_compute(job, config)
    except kinds.JOB_ERRORS as exc:
        return _preview_outcome(job, State.FAILED, error=failure_message(exc, job))
    with transaction.atomic():
        locked = _lock(job.pk)
        if locked.state != State.PREVIEW or locked.preview.get("computed_at"):
            return "preview computed elsewhere"
        locked.preview = {**preview, "computed_at": timezone.now().isoformat()}
        locked.pinned = pinned
        locked.save(update_fields=["preview", "pinned"])
    return "preview ready"


def _preview_outcome(job: Job, state: str, *, error: str) -> str:
    with transaction.atomic():
        done = Job.objects.filter(pk=job.pk, state=State.PREVIEW).update(
            state=state, error=error, finished_at=timezone.now()
        )
        if not done:
            return "preview already decided"
        job.refresh_from_db()
        _record_finished(job)
    return f"{state}: {error}"


def job_run(*, job_id: int) -> str:
    """Run a queued job once; met again while running, reconcile instead of repeating it."""
    job = _load(job_id)
    if job is None:
        return "job gone"
    if job.finished:
        return f"already {job.state}"
    if job.state == State.PREVIEW:
        return "awaiting confirmation"
    now = timezone.now()
    past_deadline = job.deadline_at is not None and now > job.deadline_at
    retry = job.state == State.RUNNING
    if not retry:
        if past_deadline:
            with transaction.atomic():
                failed = Job.objects.filter(pk=job.pk, state=State.QUEUED).update(
                    state=State.FAILED,
                    finished_at=now,
                    error="Not run: it did not start before its deadline (are the `jobs` "
                    "workers running?). Request it again if it is still needed.",
                )
                if failed:
                    job.refresh_from_db()
                    _record_finished(job)
            return "failed: deadline passed before it started"
        claimed = Job.objects.filter(pk=job.pk, state=State.QUEUED).update(
            state=State.RUNNING, attempts=F("attempts") + 1, started_at=now
        )
    elif job.kind == K.ROLLOUT_STATUS and not past_deadline:
        return "polling on its timer"
    else:
        # Only one reconciliation wins: the attempt count is the compare-and-set token.
        claimed = Job.objects.filter(pk=job.pk, state=State.RUNNING, attempts=job.attempts).update(
            attempts=F("attempts") + 1
        )
    if not claimed:
        return "claimed by another worker"
    job.refresh_from_db()
    if job.kind == K.ROLLOUT_STATUS:
        return _rollout_check(job)
    if job.kind in READ_ONLY_KINDS:
        return _run_read_only(job)
    return _run_mutating(job, retry=retry, past_deadline=past_deadline)


def _run_read_only(job: Job) -> str:
    config = kinds.cluster_config(job.target.cluster)
    try:
        summary, output = kinds.read(job, config)
    except kinds.ADAPTER_ERRORS as exc:
        return _finish(job, State.FAILED, error=failure_message(exc, job))
    return _finish(job, State.SUCCEEDED, summary=summary, output=output)


def _run_mutating(job: Job, *, retry: bool, past_deadline: bool) -> str:
    config = kinds.cluster_config(job.target.cluster)
    try:
        if retry:
            if kinds.in_place(job, config):
                return _finish(
                    job,
                    State.SUCCEEDED,
                    summary="Already in place: the cluster shows the change, so nothing was "
                    "sent again (reconciled after the worker was interrupted).",
                    output={"reconciled": True},
                )
            if past_deadline:
                return _finish(
                    job,
                    State.FAILED,
                    error="Past its deadline, and the cluster does not show the change: not "
                    "retried. Request it again to get a fresh preview.",
                )
        refusal = _control_plane_refusal(config)
        if refusal:
            return _finish(job, State.REFUSED, error=refusal)
        if job.kind in kinds.ARGO_FIRST_KINDS and job.target.argo_application:
            failed = _argo_autosync_off_first(job, config)
            if failed:
                return _finish(job, State.FAILED, error=failed)
        summary, output = kinds.apply(job, config)
    except k8s.KubernetesConflict:
        return _fresh_preview(job)
    except kinds.UNKNOWN_OUTCOME_ERRORS as exc:
        # The tool gave up waiting, not necessarily the change: read the outcome back.
        return _reconcile_after_timeout(job, config, exc)
    except kinds.JOB_ERRORS as exc:
        return _finish(job, State.FAILED, error=failure_message(exc, job))
    return _finish(job, State.SUCCEEDED, summary=summary, output=output)


def _reconcile_after_timeout(job: Job, config: k8s.ClusterConfig, exc: Exception) -> str:
    try:
        done = kinds.in_place(job, config)
    except kinds.JOB_ERRORS:
        done = False
    if done:
        return _finish(
            job,
            State.SUCCEEDED,
            summary=f"Done: {failure_message(exc, job)} The history shows the change in place.",
            output={"reconciled": True},
        )
    return _finish(job, State.FAILED, error=failure_message(exc, job))


def _control_plane_refusal(config: k8s.ClusterConfig) -> str:
    """Return the refusal while the control plane fails its check, else ""."""
    status = k8s.control_plane_check(config)
    return "" if status.ok else control_plane_refusal(status)


def _argo_autosync_off_first(job: Job, config: k8s.ClusterConfig) -> str:
    """Turn Argo CD auto-sync off as the job's child; return why that failed, or ""."""
    target = job.target
    key = f"job{job.pk}-argo-off"
    now = timezone.now()
    child = Job.objects.filter(request_key=key).first()
    if child is not None and child.state == State.SUCCEEDED:
        return ""
    if child is None:
        try:
            # Pinned before the change: a retry after a crash between turning auto-sync off
            # and recording the block still knows what to restore.
            current = k8s.argo_autosync_block(
                config, namespace=target.argo_namespace, application=target.argo_application
            )
        except kinds.ADAPTER_ERRORS as exc:
            message = failure_message(exc, job)
            return f"Argo CD auto-sync could not be read first, so nothing was changed: {message}"
        with transaction.atomic():
            child = Job.objects.create(
                incident=job.incident,
                target=target,
                runbook=job.runbook,
                kind=K.ARGO_SYNC_OFF,
                params={},
                state=State.RUNNING,
                request_key=key,
                parent=job,
                requested_by=job.requested_by,
                confirmed_by=job.confirmed_by,
                confirmed_at=now,
                started_at=now,
                attempts=1,
                deadline_at=job.deadline_at,
                pinned={"application": target.argo_application, "automated": current},
            )
            _record(
                child,
                TimelineEvent.Kind.JOB_REQUESTED,
                actor=None,
                source=Source.SYSTEM,
                message=f"Turning off Argo CD auto-sync of {target.argo_application} first, "
                f"automatically, so it does not undo: {kinds.describe(job)}",
            )
    else:
        Job.objects.filter(pk=child.pk).update(
            state=State.RUNNING, attempts=F("attempts") + 1, started_at=now
        )
        child.refresh_from_db()
    try:
        summary, output = kinds.apply(child, config)
    except kinds.ADAPTER_ERRORS as exc:
        message = failure_message(exc, child)
        _finish(child, State.FAILED, error=message)
        return f"Argo CD auto-sync could not be turned off first, so nothing was changed: {message}"
    _finish(child, State.SUCCEEDED, summary=summary, output=output)
    return ""


def _fresh_preview(job: Job) -> str:
    """Fail the job on a 409 and request a fresh preview of the same change."""
    now = timezone.now()
    key = f"job{job.pk}-fresh"
    with transaction.atomic():
        fresh, created = Job.objects.get_or_create(
            request_key=key,
            defaults={
                "incident": job.incident,
                "target": job.target,
                "runbook": job.runbook,
                "kind": job.kind,
                "params": job.params,
                "state": State.PREVIEW,
                "parent": job,
                "requested_by": job.requested_by,
                "deadline_at": now + preview_timeout(),
            },
        )
        done = Job.objects.filter(pk=job.pk, state=State.RUNNING, attempts=job.attempts).update(
            state=State.FAILED,
            finished_at=now,
            error="The target changed since the preview; review the new preview.",
            output={"fresh_preview_job_id": fresh.pk},
        )
        if not done:
            transaction.set_rollback(True)
            return "outcome not recorded: another attempt took over"
        job.refresh_from_db()
        _record_finished(job)
        if created:
            _record(
                fresh,
                TimelineEvent.Kind.JOB_REQUESTED,
                actor=None,
                source=Source.SYSTEM,
                message=f"A fresh preview of: {kinds.describe(fresh)}, because the target "
                f"changed since job #{job.pk}'s preview.",
            )
            _wake_after_commit(fresh)
    return f"conflict: fresh preview #{fresh.pk}"


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


def _follow_ups(job: Job) -> None:
    """Chain "wait for rollout" after a change, and the image pin's action item.

    Also after a reconciliation: the interrupted attempt never got this far.
    """
    if job.kind == K.IMAGE_PIN:
        _image_pin_action_item(job)
    if job.kind not in kinds.ROLLOUT_CHAINED_KINDS:
        return
    now = timezone.now()
    for index, deployment in enumerate(kinds.deployments_to_watch(job)):
        waiter, created = Job.objects.get_or_create(
            request_key=f"job{job.pk}-rollout-{index}",
            defaults={
                "incident": job.incident,
                "target": job.target,
                "runbook": job.runbook,
                "kind": K.ROLLOUT_STATUS,
                "params": {"deployment": deployment},
                "state": State.QUEUED,
                "parent": job,
                "requested_by": job.requested_by,
                "deadline_at": now + rollout_wait(),
            },
        )
        if created:
            _record(
                waiter,
                TimelineEvent.Kind.JOB_REQUESTED,
                actor=None,
                source=Source.SYSTEM,
                message=f"Waiting for deployment {deployment} to roll out after job #{job.pk}.",
            )
            _wake_after_commit(waiter)


def _image_pin_action_item(job: Job) -> None:
    """Open the follow-up "remove the pin and restore GitOps", owned by the requester."""
    from postmortems.services.action_items import action_item_follow_up

    deployment = job.params["deployment"]
    title = IMAGE_PIN_FOLLOW_UP.format(deployment=deployment)
    description = (
        f"Job #{job.pk} pinned deployment {deployment} in {job.target.namespace} to "
        f"{job.params['image']}, bypassing GitOps"
        + (
            f" (Argo CD auto-sync of {job.target.argo_application} is off)."
            if job.target.argo_application
            else "."
        )
        + " Put the fix in git, restore auto-sync, and remove the pin."
    )
    try:
        item = action_item_follow_up(
            incident=job.incident,
            title=title,
            description=description,
            owner=job.requested_by,
            created_by=job.requested_by,
        )
    except InvalidInputError as exc:
        _record(
            job,
            TimelineEvent.Kind.NOTE,
            actor=None,
            source=Source.SYSTEM,
            message=f"Follow-up needed: {title}. (Not opened as an action item: {exc.message})",
        )
        return
    Job.objects.filter(pk=job.pk).update(output={**job.output, "action_item_id": item.pk})
    job.output = {**job.output, "action_item_id": item.pk}


# --- Waiting for a rollout ----------------------------------------------------------------------


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


# --- Wake-ups: timers fire, tasks on the `jobs` queue do the work --------------------------------

# The tasks, by name (they import this module): a message only wakes a worker for a job row.
PREVIEW_TASK = "incidents.runbooks.tasks.job_preview_task"
RUN_TASK = "incidents.runbooks.tasks.job_run_task"
ROLLOUT_POLL_TASK = "incidents.runbooks.tasks.job_rollout_poll_task"


def _wake_after_commit(job: Job) -> None:
    """Enqueue the job's next step after commit, with timers as the net for a lost message."""
    task = PREVIEW_TASK if job.state == State.PREVIEW else RUN_TASK
    job_id = job.pk
    transaction.on_commit(lambda: enqueue(task, job_id))
    now = timezone.now()
    stamp = uuid.uuid4().hex[:8]
    timer_schedule(
        kind=WAKE_KIND,
        key=f"runbooks.job-{job.pk}-nudge-{stamp}",
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


@timer_handler(WAKE_KIND)
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
    else:
        return "running"
    if not enqueue(task, job.pk):
        raise TimerRetry(timedelta(seconds=30), "broker unavailable")
    return f"enqueued the {what} of job {job.pk}"


@timer_handler(ROLLOUT_POLL_KIND)
def rollout_poll_wake(timer: Timer) -> str:
    """Enqueue the next rollout status read of a waiting job."""
    if not enqueue(ROLLOUT_POLL_TASK, timer.payload["job_id"], timer.payload["poll"]):
        raise TimerRetry(timedelta(seconds=15), "broker unavailable")
    return "enqueued a rollout status read"


# --- Helpers ------------------------------------------------------------------------------------


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
