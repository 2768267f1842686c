"""The runbook and job pages of an incident: server-rendered, working without JavaScript.

Views parse input, call one service and render; the services decide what is allowed.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST

from incidents.models import Incident
from incidents.policies import Action, can
from incidents.views import _incident_or_404, portal_reader
from portal.errors import ApplicationError, InvalidInputError
from postmortems.markdown import render_markdown

from . import selectors, services
from .forms import JobRequestForm, RunbookFlagForm
from .models import READ_ONLY_KINDS, Job, JobKind, KubernetesTarget, Runbook
from .selectors import Choices
from .services import kinds
from .services.digest import job_sections
from .services.jobs import preview_max_age

K = JobKind

# Pages of a job still moving reload themselves (a <meta refresh>, so no script is needed).
REFRESH_SECONDS = 3


@dataclass
class JobOffer:
    """One job a runbook offers on one target: its forms, or why it cannot run here."""

    kind: str
    label: str
    mutating: bool
    unavailable: str = ""
    not_allowed: str = ""
    forms: list[JobRequestForm] = field(default_factory=list)
    note: str = ""


def _runbook_or_404(slug: str) -> Runbook:
    try:
        return selectors.runbook_get(slug=slug)
    except Runbook.DoesNotExist:
        raise Http404("No such runbook.") from None


def _job_or_404(incident: Incident, job_id: int) -> Job:
    try:
        return selectors.job_get(incident=incident, pk=job_id)
    except Job.DoesNotExist:
        raise Http404("No such job on this incident.") from None


def _offers(
    request: HttpRequest,
    incident: Incident,
    target: KubernetesTarget,
    runbook: Runbook,
    bound: JobRequestForm | None,
) -> list[JobOffer]:
    offers = []
    for kind in runbook.jobs:
        if kind not in K.values:
            continue
        offer = JobOffer(kind=kind, label=K(kind).label, mutating=kind not in READ_ONLY_KINDS)
        offer.unavailable = kinds.kind_unavailable(kind=kind, target=target)
        if not offer.unavailable and not selectors.job_kind_allowed(
            user=request.user, incident=incident, kind=kind
        ):
            offer.not_allowed = (
                "Only the Incident Commander or the Investigator (or staff) may run this."
                if offer.mutating
                else "Only responders may run this."
            )
        if not offer.unavailable and not offer.not_allowed:
            offer.forms = _forms_for(incident, target, kind, bound)
            if kind == K.ARGO_SYNC_RESTORE:
                off_job = selectors.restore_choice(target=target)
                offer.note = (
                    f"Puts back the automated block recorded by job #{off_job.pk}."
                    if off_job is not None
                    else "Firebreak has not turned auto-sync off here; nothing to restore yet."
                )
        offers.append(offer)
    return offers


def _forms_for(
    incident: Incident, target: KubernetesTarget, kind: str, bound: JobRequestForm | None
) -> list[JobRequestForm]:
    """Return the job's forms on the target: one per Deployment or ConfigMap where it applies."""
    specs: list[dict[str, Any]] = []
    if kind in kinds.DEPLOYMENT_KINDS:
        for deployment in target.deployments:
            choices = (
                selectors.rollback_choices(target=target, deployment=deployment)
                if kind == K.ROLLBACK
                else None
            )
            specs.append({"deployment": deployment, "choices": choices})
    elif kind == K.CONFIGMAP_RESTORE:
        for path in target.configmap_paths:
            specs.append(
                {
                    "configmap_path": path,
                    "choices": selectors.configmap_choices(target=target, path=path),
                }
            )
    elif kind == K.ARGO_ROLLBACK:
        specs.append({"choices": selectors.argo_choices(target=target)})
    elif kind == K.HELM_ROLLBACK:
        specs.append({"choices": selectors.helm_choices(target=target)})
    elif kind == K.POD_DETAIL:
        specs.append({"pods": selectors.pod_suggestions(incident=incident, target=target)})
    else:
        specs.append({})
    forms = []
    for spec in specs:
        form = JobRequestForm(target=target, kind=kind, **spec)
        if bound is not None and bound.slug == form.slug:
            form = bound  # the one that was submitted, with its errors and what was typed
        forms.append(form)
    return forms


def _render_runbook(
    request: HttpRequest,
    incident: Incident,
    runbook: Runbook,
    *,
    bound: JobRequestForm | None = None,
    flag_form: RunbookFlagForm | None = None,
    status: int = 200,
) -> HttpResponse:
    targets = selectors.target_list_for_incident(incident=incident)
    context = {
        "incident": incident,
        "runbook": runbook,
        # Sanitised by render_markdown (nh3), so it goes into the page as HTML.
        "guidance": mark_safe(render_markdown(runbook.guidance)),  # noqa: S308
        "targets": [
            {"target": target, "offers": _offers(request, incident, target, runbook, bound)}
            for target in targets
        ],
        "has_jobs": bool(runbook.jobs),
        "recent_jobs": list(selectors.job_list_for_incident(incident=incident)[:10]),
        "flag_form": flag_form
        if flag_form is not None
        else (RunbookFlagForm() if can(request.user, Action.NOTE, incident) else None),
        "flags": list(selectors.runbook_flag_list(incident=incident).filter(runbook=runbook)),
    }
    return render(request, "runbooks/runbook.html", context, status=status)


@require_http_methods(["GET", "HEAD"])
@portal_reader
def runbook_detail(request: HttpRequest, pk: int, slug: str) -> HttpResponse:
    """Show a runbook on an incident: its guidance and, per target, its one-click jobs."""
    return _render_runbook(request, _incident_or_404(pk), _runbook_or_404(slug))


@require_POST
@portal_reader
def job_request(request: HttpRequest, pk: int, slug: str) -> HttpResponse:
    """Request a job from a runbook's form; a double submit makes one job."""
    incident = _incident_or_404(pk)
    runbook = _runbook_or_404(slug)
    try:
        target = selectors.target_get(pk=int(request.POST.get("target", "")))
    except (ValueError, KubernetesTarget.DoesNotExist):
        messages.error(request, "That Kubernetes target does not exist any more; reload the page.")
        return redirect("incidents:runbook", pk=incident.pk, slug=runbook.slug)
    kind = request.POST.get("kind", "")
    if kind not in K.values:
        messages.error(request, "That job is not one Firebreak runs; reload the page.")
        return redirect("incidents:runbook", pk=incident.pk, slug=runbook.slug)
    deployment = request.POST.get("deployment", "") if kind in kinds.DEPLOYMENT_KINDS else ""
    path = request.POST.get("path", "") if kind == K.CONFIGMAP_RESTORE else ""
    choices = _posted_choices(target, kind, deployment, path)
    form = JobRequestForm(
        request.POST,
        target=target,
        kind=kind,
        deployment=deployment,
        configmap_path=path,
        choices=choices,
    )
    if form.is_valid():
        try:
            job = services.job_request(
                incident=incident,
                target=target,
                kind=kind,
                params=form.params(),
                actor=request.user,
                request_key=form.cleaned_data["request_key"],
                runbook=runbook,
            )
        except InvalidInputError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            status = getattr(exc, "status_code", 409)
            return _render_runbook(request, incident, runbook, bound=form, status=status)
        else:
            return redirect("incidents:job", pk=incident.pk, job_id=job.pk)
    messages.error(request, f"{K(kind).label} was not requested: see the form below.")
    return _render_runbook(request, incident, runbook, bound=form, status=400)


def _posted_choices(
    target: KubernetesTarget, kind: str, deployment: str, path: str
) -> Choices | None:
    """Return the same choices the form was rendered with, so a chosen option validates."""
    if kind == K.ROLLBACK and deployment in target.deployments:
        return selectors.rollback_choices(target=target, deployment=deployment)
    if kind == K.ARGO_ROLLBACK and target.argo_application and target.argo_api_url:
        return selectors.argo_choices(target=target)
    if kind == K.HELM_ROLLBACK and target.helm_release:
        return selectors.helm_choices(target=target)
    if kind == K.CONFIGMAP_RESTORE and path in target.configmap_paths:
        return selectors.configmap_choices(target=target, path=path)
    return None


@require_POST
@portal_reader
def runbook_flag(request: HttpRequest, pk: int, slug: str) -> HttpResponse:
    """Flag that the runbook needs an update (a note on the incident's timeline)."""
    incident = _incident_or_404(pk)
    runbook = _runbook_or_404(slug)
    form = RunbookFlagForm(request.POST)
    if form.is_valid():
        try:
            services.runbook_flag(
                runbook=runbook,
                incident=incident,
                actor=request.user,
                note=form.cleaned_data["note"],
            )
        except InvalidInputError as exc:
            form.add_error("note" if exc.field == "note" else None, exc.message)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("incidents:runbook", pk=incident.pk, slug=runbook.slug)
        else:
            messages.success(request, f"“{runbook.title}” is flagged for an update.")
            return redirect("incidents:runbook", pk=incident.pk, slug=runbook.slug)
    messages.error(request, "The runbook was not flagged: say what needs an update.")
    return _render_runbook(request, incident, runbook, flag_form=form, status=400)


@require_http_methods(["GET", "HEAD"])
@portal_reader
def job_detail(request: HttpRequest, pk: int, job_id: int) -> HttpResponse:
    """Show a job: its preview to confirm, its state, its result and the jobs it started."""
    incident = _incident_or_404(pk)
    job = _job_or_404(incident, job_id)
    computed_at = kinds.parse_time(job.preview.get("computed_at"))
    stale = computed_at is not None and timezone.now() - computed_at > preview_max_age()
    may_act = selectors.job_kind_allowed(user=request.user, incident=incident, kind=job.kind)
    children = list(selectors.job_children(job=job))
    # A finished change still moves while the jobs it started run (auto-sync off, the wait for
    # the rollout): the person who confirmed it watches the rollout finish on this page.
    moving = (
        job.state in (Job.State.QUEUED, Job.State.RUNNING)
        or (job.state == Job.State.PREVIEW and computed_at is None)
        or any(child.state in (Job.State.QUEUED, Job.State.RUNNING) for child in children)
    )
    fresh_id = job.output.get("fresh_preview_job_id") if job.state == Job.State.FAILED else None
    context = {
        "incident": incident,
        "job": job,
        "description": kinds.describe(job),
        "preview_ready": job.state == Job.State.PREVIEW and computed_at is not None,
        "preview_stale": stale and job.state == Job.State.PREVIEW,
        "preview_max_minutes": int(preview_max_age().total_seconds() // 60),
        "may_act": may_act,
        "refresh_seconds": REFRESH_SECONDS if moving else None,
        "sections": job_sections(job) if job.state == Job.State.SUCCEEDED else [],
        "children": children,
        "fresh_job_url": reverse("incidents:job", kwargs={"pk": incident.pk, "job_id": fresh_id})
        if fresh_id
        else "",
        "action_item_id": job.output.get("action_item_id"),
        "raw_output": json.dumps(job.output, indent=2, sort_keys=True, default=str),
        "argo_first_kinds": sorted(kinds.ARGO_FIRST_KINDS),
    }
    return render(request, "runbooks/job.html", context)


def _job_action(request: HttpRequest, pk: int, job_id: int, call: Any, done: str) -> HttpResponse:
    incident = _incident_or_404(pk)
    job = _job_or_404(incident, job_id)
    try:
        call(job=job, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)
    return redirect("incidents:job", pk=incident.pk, job_id=job.pk)


@require_POST
@portal_reader
def job_confirm(request: HttpRequest, pk: int, job_id: int) -> HttpResponse:
    """Confirm a previewed job: a worker runs it once."""
    return _job_action(
        request, pk, job_id, services.job_confirm, "Confirmed; a worker runs it now."
    )


@require_POST
@portal_reader
def job_cancel(request: HttpRequest, pk: int, job_id: int) -> HttpResponse:
    """Cancel a job that has not started."""
    return _job_action(request, pk, job_id, services.job_cancel, "Cancelled; nothing was changed.")


@require_POST
@portal_reader
def job_preview_refresh(request: HttpRequest, pk: int, job_id: int) -> HttpResponse:
    """Compute the preview again."""
    return _job_action(
        request, pk, job_id, services.job_preview_refresh, "The preview is being computed again."
    )
