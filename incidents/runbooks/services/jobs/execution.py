"""Running a job: compute its preview, claim it, run it at most once, reconcile, record.

A worker claims a queued job with a conditional update (queued → running, attempts + 1); the
outcome is recorded only by the attempt that holds it (.outcome). At most once, then
reconciled: a running job met again (a redelivered task, or its deadline passed) re-reads the
cluster and does nothing if the target is in place; a 409 against the pinned resourceVersion
makes a fresh preview, never a blind retry; past its deadline a job is failed, not retried.
A change whose answer was lost (a timeout, a dropped connection) is read back, never just
called failed: in place, it succeeded; not in place, it was not applied; unreadable, the job
stays running and reads it back again until its deadline.
Before a change Argo CD's self-heal would undo, auto-sync goes off first, as a child job.
"""

from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from incidents.models import Source, TimelineEvent
from portal.integrations import kubernetes as k8s

from ...models import READ_ONLY_KINDS, Job
from .. import kinds
from ..failures import control_plane_refusal, failure_message
from .common import K, State, _load, _lock, _record, preview_timeout
from .outcome import _finish, _record_finished
from .rollout import _rollout_check
from .wakeups import _read_back_wake, _wake_after_commit

# A change whose answer was lost and whose target could not be read back is read back again
# this much later (until the job's deadline).
READ_BACK_AFTER = timedelta(seconds=30)


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
            try:
                done = kinds.in_place(job, config)
            except kinds.JOB_ERRORS as exc:
                if job.output.get("outcome_unknown"):
                    return _still_unknown(job, exc, past_deadline=past_deadline)
                raise
            if done:
                return _finish(
                    job,
                    State.SUCCEEDED,
                    summary="Already in place: the cluster shows the change, so nothing was "
                    "sent again (reconciled after the worker was interrupted)."
                    if not job.output.get("outcome_unknown")
                    else f"{_done_text(job)} The answer to it was lost; read back later, the "
                    "cluster shows the change in place.",
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
        # The answer was lost, not necessarily the change: read the outcome back.
        return _reconcile_after_timeout(job, config, exc)
    except kinds.JOB_ERRORS as exc:
        return _finish(job, State.FAILED, error=failure_message(exc, job))
    return _finish(job, State.SUCCEEDED, summary=summary, output=output)


def _done_text(job: Job) -> str:
    return kinds.applied_summary(job) if job.kind in kinds.PLAN_KINDS else kinds.describe(job)


def _reconcile_after_timeout(job: Job, config: k8s.ClusterConfig, exc: Exception) -> str:
    if isinstance(exc, k8s.KubernetesOutcomeUnknown):
        return _reconcile_lost_answer(job, config, exc)
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


def _reconcile_lost_answer(
    job: Job, config: k8s.ClusterConfig, lost: k8s.KubernetesOutcomeUnknown
) -> str:
    """The cluster may have applied the change: read it back rather than call it failed."""
    if job.kind in kinds.IDEMPOTENT_KINDS:
        # Putting auto-sync where it may already be is harmless: send it once more.
        try:
            summary, output = kinds.apply(job, config, again=True)
        except kinds.JOB_ERRORS as again:
            return _finish(job, State.FAILED, error=failure_message(again, job))
        return _finish(job, State.SUCCEEDED, summary=summary, output=output)
    try:
        done = kinds.in_place(job, config)
    except kinds.JOB_ERRORS as read_error:
        return _still_unknown(job, read_error, lost=lost, past_deadline=False)
    if done:
        return _finish(
            job,
            State.SUCCEEDED,
            summary=f"{_done_text(job)} The answer to the {lost.action} was lost "
            f"({lost.reason}); read back, the cluster shows the change in place.",
            output={"reconciled": True},
        )
    return _finish(
        job,
        State.FAILED,
        error=f"Not applied: the answer to the {lost.action} was lost ({lost.reason}), and "
        "read back, the cluster does not show the change. Request it again for a fresh preview.",
    )


def _still_unknown(
    job: Job,
    read_error: Exception,
    *,
    past_deadline: bool,
    lost: k8s.KubernetesOutcomeUnknown | None = None,
) -> str:
    """The change's answer was lost and the cluster cannot be read back: keep trying, or stop.

    Until its deadline the job stays running and reads the target back on a timer; past it,
    it fails saying what to check, since the change may well be in place.
    """
    what = (
        f"the answer to the {lost.action} was lost ({lost.reason})"
        if lost is not None
        else job.output.get("lost", "the answer to the change was lost")
    )
    unreadable = failure_message(read_error, job)
    if past_deadline:
        return _finish(
            job,
            State.FAILED,
            error=f"Outcome unknown: {what}, and the cluster could not be read back before the "
            f"deadline ({unreadable}) It may have been applied: {_how_to_check(job)} before "
            "requesting it again.",
            output={"outcome_unknown": True},
        )
    now = timezone.now()
    due = now + READ_BACK_AFTER
    if job.deadline_at is not None:
        due = min(due, job.deadline_at + timedelta(seconds=1))
    with transaction.atomic():
        held = Job.objects.filter(pk=job.pk, state=State.RUNNING, attempts=job.attempts).update(
            summary=f"Outcome unknown: {what}, and the cluster could not be read back yet "
            f"({unreadable}) It is read back again shortly; nothing is sent again until then.",
            output={"outcome_unknown": True, "lost": what, "checked_at": now.isoformat()},
        )
        if not held:
            return "another attempt took over"
        _read_back_wake(job, due_at=due)
    return f"outcome unknown: reading back at {due.isoformat()}"


def _how_to_check(job: Job) -> str:
    namespace, deployment = job.target.namespace, job.params.get("deployment", "")
    if job.kind == K.RESTART:
        restarted_at = (job.pinned.get("data") or {}).get("restarted_at", "")
        return (
            f"check whether deployment {deployment}'s pod template carries "
            f"kubectl.kubernetes.io/restartedAt: {restarted_at} (`kubectl get deployment "
            f"{deployment} -n {namespace} -o yaml`)"
        )
    if job.kind in (K.ROLLBACK, K.IMAGE_PIN):
        return (
            f"check `kubectl rollout history deployment/{deployment} -n {namespace}` and the "
            "images it runs"
        )
    return f"check {kinds.describe(job)} in the cluster"


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
        try:
            summary, output = kinds.apply(child, config)
        except k8s.KubernetesOutcomeUnknown:
            # Turning auto-sync off again is harmless, and keeps the block it had on record.
            summary, output = kinds.apply(child, config, again=True)
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
