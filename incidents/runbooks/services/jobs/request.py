"""Asking for a job: request, confirm after the preview, refresh the preview, cancel.

What people do, each checked against the incident's roles (incidents.policies) and scope: a
job runs on a target of the incident's own services only. A read-only job is queued at once; a
mutating one starts in `preview` and is queued by its confirmation, which a stale preview
refuses. Each request is a timeline event, and wakes a worker (.wakeups) once it commits.
"""

import re
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.models import Incident, IncidentStatus, Source, TimelineEvent
from incidents.policies import Action, require
from portal.auth import AnyUser
from portal.errors import ApplicationError, InvalidInputError

from ...models import READ_ONLY_KINDS, Job, KubernetesTarget, Runbook
from .. import kinds
from .common import K, State, _lock, _record, preview_max_age, preview_timeout, run_timeout
from .wakeups import _wake_after_commit

# Keys of the forms' hidden request_key: a uuid4, so they never collide with the derived keys
# ("job12-rollout-0") of the jobs Firebreak starts itself.
REQUEST_KEY = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")


class JobNotAllowed(ApplicationError):
    """The job cannot move that way from its current state."""


class PreviewStale(JobNotAllowed):
    """The preview is too old to confirm; it must be refreshed and reviewed again."""


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
