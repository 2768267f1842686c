"""The responders' portal: server-rendered incident pages that work without JavaScript.

Views parse input, call one service and render; the services decide what is allowed.
"""

from collections.abc import Callable
from dataclasses import asdict
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from portal.auth import can_read_portal, is_responder
from portal.errors import ApplicationError, InvalidInputError
from portal.people import display_name

from . import selectors, services
from .forms import (
    OPEN_FILTER,
    AcknowledgeForm,
    ChangeSeverityForm,
    CloseForm,
    DeclareForm,
    DetailsForm,
    IncidentActionForm,
    IncidentFilterForm,
    MitigateForm,
    NoteForm,
    ReopenForm,
    ResolveForm,
    RoleAssignForm,
    RoleReleaseForm,
    StartInvestigatingForm,
    StatusUpdateForm,
)
from .models import Incident, IncidentRole, IncidentStatus, ServiceLink, Source
from .policies import Action, can

View = Callable[..., HttpResponse]

LIST_PAGE_SIZE = 50
LATEST_UPDATES_SHOWN = 5


def forbidden(request: HttpRequest, reason: str) -> HttpResponse:
    """Render the portal's 403 page with a reason a person can act on."""
    return render(request, "incidents/forbidden.html", {"reason": reason}, status=403)


def portal_reader(view: View) -> View:
    """Let signed-in users who may read incidents through; others go to login or get a 403."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not can_read_portal(request.user):
            return forbidden(
                request,
                "Your account is not in a group that may read incidents. "
                "Ask an administrator to add you to viewers or responders.",
            )
        return view(request, *args, **kwargs)

    return wrapper


def _incident_or_404(pk: int) -> Incident:
    try:
        return selectors.incident_get(pk=pk)
    except Incident.DoesNotExist:
        raise Http404("No such incident.") from None


def _back(incident: Incident) -> HttpResponse:
    return redirect("incidents:detail", pk=incident.pk)


# --- Pages --------------------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD"])
@portal_reader
def incident_list(request: HttpRequest) -> HttpResponse:
    """List incidents, filtered by status, severity, team and service."""
    data = request.GET.copy()
    # Open incidents are what a responder needs first; "Any status" (an empty value) shows all.
    data.setdefault("status", OPEN_FILTER)
    filter_form = IncidentFilterForm(data)
    filters = filter_form.filters()
    incidents = selectors.incident_list(**filters)
    page = Paginator(incidents, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    rows = [
        {
            "incident": incident,
            "commander": selectors.incident_commander(incident),
            "needs_commander": selectors.incident_needs_commander(incident),
            "next_update_due": selectors.incident_next_update_due(incident),
            "update_overdue": selectors.incident_update_overdue(incident, now=now),
        }
        for incident in page.object_list
    ]
    narrowed = any(filters[name] for name in ("status", "severity", "team", "service"))
    showing_open = bool(filters.get("open_only"))
    query = request.GET.copy()
    query.pop("page", None)
    other_status = query.copy()
    other_status["status"] = "" if showing_open else OPEN_FILTER
    return render(
        request,
        "incidents/list.html",
        {
            "filter_form": filter_form,
            "page": page,
            "rows": rows,
            "narrowed": narrowed,
            "showing_open": showing_open,
            "filtered": narrowed or not showing_open,
            "every_status": filters["status"] is None and not showing_open,
            "other_status_query": other_status.urlencode(),
            "query": query.urlencode(),
            "may_declare": is_responder(request.user),
        },
    )


@require_http_methods(["GET", "HEAD", "POST"])
@portal_reader
def incident_declare(request: HttpRequest) -> HttpResponse:
    """Show the declare form; declare the incident and go to its page."""
    if not is_responder(request.user):
        return forbidden(request, "Only responders may declare incidents.")
    form = DeclareForm(request.POST or None, user=request.user)
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                incident = services.incident_declare(
                    actor=request.user,
                    source=Source.WEB,
                    title=data["title"],
                    severity=data["severity"],
                    services=data["services"],
                    team=data["team"],
                    summary=data["summary"],
                    impact=data["impact"],
                    users_affected_pct=data["users_affected_pct"],
                    regions=data["regions"],
                    customer_facing=data["customer_facing"],
                    bridge_url=data["bridge_url"],
                    commander=data["commander"],
                    impact_started_at=data["impact_started_at"],
                )
            except InvalidInputError as exc:
                messages.error(request, exc.message)
                form.add_error(exc.field if exc.field in form.fields else None, exc.message)
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"{incident.reference} declared. You acknowledged it.")
                return _back(incident)
        else:
            messages.error(request, "The incident was not declared: " + _errors_text(form))
    return render(request, "incidents/declare.html", {"form": form})


@require_http_methods(["GET", "HEAD"])
@portal_reader
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Show one incident: header, impact, status updates, timeline and the allowed actions."""
    return _render_detail(request, _incident_or_404(pk))


def _render_detail(
    request: HttpRequest,
    incident: Incident,
    bound: IncidentActionForm | None = None,
    status: int = 200,
) -> HttpResponse:
    now = timezone.now()
    allowed = selectors.incident_allowed_actions(user=request.user, incident=incident)
    current_roles = selectors.incident_current_roles(incident=incident)
    role_rows = [
        {
            "role": role,
            "label": label,
            "assignment": current_roles.get(role),
            "mine": role in current_roles and current_roles[role].user_id == request.user.pk,
        }
        for role, label in IncidentRole.choices
    ]
    links: dict[str, list[tuple[Any, ServiceLink]]] = {"dashboard": [], "runbook": []}
    for service in incident.services.all():
        for link in service.links.all():
            links.setdefault(link.kind, []).append((service, link))
    events = list(selectors.incident_timeline(incident=incident))
    corrected_by: dict[int, list[Any]] = {}
    for event in events:
        if event.corrects_id:
            corrected_by.setdefault(event.corrects_id, []).append(event)
    timeline = [
        {"event": event, "corrected_by": corrected_by.get(event.pk, [])} for event in events
    ]
    next_update_due = selectors.incident_next_update_due(incident)

    def form(cls: type[IncidentActionForm], offered: bool, **kwargs: Any) -> forms.Form | None:
        if not offered:
            return None
        if bound is not None and isinstance(bound, cls):
            for name, value in kwargs.items():
                setattr(bound, name, value)
            return bound
        return cls(incident=incident, **kwargs)

    commander = selectors.incident_commander(incident)
    close_waits_for_postmortem = (
        incident.status == IncidentStatus.RESOLVED
        and bool(selectors.incident_close_blocker(incident=incident))
        and can(request.user, Action.CLOSE, incident)
    )
    context = {
        "incident": incident,
        "allowed": allowed,
        "role_rows": role_rows,
        "commander": commander,
        # A responder who is not the IC sees why the lifecycle controls are not offered.
        "commander_only": commander is not None and allowed.take_role and not allowed.assign_role,
        "close_waits_for_postmortem": close_waits_for_postmortem,
        "postmortem_severities": "/".join(
            severity.code for severity in selectors.severity_list() if severity.postmortem_required
        )
        if close_waits_for_postmortem
        else "",
        "time_to_mitigate": incident.mitigated_at - incident.detected_at
        if incident.mitigated_at
        else None,
        "needs_commander": selectors.incident_needs_commander(incident),
        "elapsed": incident.elapsed(now),
        "next_update_due": next_update_due,
        "update_overdue": selectors.incident_update_overdue(incident, now=now),
        "update_due_in": next_update_due - now if next_update_due else None,
        "update_overdue_by": now - next_update_due if next_update_due else None,
        "dashboards": links.get(ServiceLink.Kind.DASHBOARD, []),
        "runbooks": links.get(ServiceLink.Kind.RUNBOOK, []),
        "timeline": timeline,
        "status_updates": list(
            selectors.incident_status_updates(incident=incident)[:LATEST_UPDATES_SHOWN]
        ),
        "acknowledge_form": form(AcknowledgeForm, allowed.acknowledge),
        "investigate_form": form(StartInvestigatingForm, allowed.start_investigating),
        "mitigate_form": form(MitigateForm, allowed.mitigate),
        "resolve_form": form(ResolveForm, allowed.resolve),
        "reopen_form": form(ReopenForm, allowed.reopen),
        "close_form": form(CloseForm, allowed.close),
        "severity_form": form(ChangeSeverityForm, allowed.change_severity),
        "assign_form": form(RoleAssignForm, allowed.assign_role),
        "update_form": form(StatusUpdateForm, allowed.status_update, offer_resolve=allowed.resolve),
        "note_form": form(NoteForm, allowed.note),
        "details_form": form(DetailsForm, allowed.edit_details),
        "may_release_others": allowed.assign_role,
        "read_only": not any(asdict(allowed).values()),
    }
    context["lifecycle_actions"] = any(
        context[name]
        for name in (
            "acknowledge_form",
            "investigate_form",
            "mitigate_form",
            "resolve_form",
            "reopen_form",
            "close_form",
        )
    )
    context["side_actions"] = (
        any(context[name] for name in ("update_form", "note_form", "severity_form", "details_form"))
        or allowed.take_role
        or allowed.assign_role
    )
    return render(request, "incidents/detail.html", context, status=status)


# --- Actions: one POST view per service ---------------------------------------------------------


def _errors_text(form: forms.Form) -> str:
    parts = []
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else None
        label = label or (name.replace("_", " ").capitalize() if name != "__all__" else "")
        text = " ".join(str(error) for error in errors)
        parts.append(f"{label}: {text}" if label else text)
    return " ".join(parts)


def _act(
    request: HttpRequest,
    pk: int,
    form_class: type[IncidentActionForm],
    call: Callable[[Incident, dict[str, Any]], str],
    *,
    what: str,
    rerender: bool = False,
) -> HttpResponse:
    """Validate the form, run the one service call, report the outcome, go back to the page.

    With `rerender`, invalid input shows the page again with the form and what was typed.
    """
    incident = _incident_or_404(pk)
    form = form_class(request.POST, incident=incident)
    if not form.is_valid():
        messages.error(request, f"{what} failed: {_errors_text(form)}")
        if rerender:
            return _render_detail(request, incident, bound=form, status=400)
        return _back(incident)
    try:
        done = call(incident, form.cleaned_data)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        if done:
            messages.success(request, done)
    return _back(incident)


@require_POST
@portal_reader
def incident_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    """Acknowledge the incident."""

    def call(incident: Incident, data: dict[str, Any]) -> str:
        services.incident_acknowledge(incident=incident, actor=request.user, source=Source.WEB)
        return f"{incident.reference} acknowledged."

    return _act(request, pk, AcknowledgeForm, call, what="Acknowledging")


@require_POST
@portal_reader
def incident_start_investigating(request: HttpRequest, pk: int) -> HttpResponse:
    """Move the incident to investigating."""

    def call(incident: Incident, data: dict[str, Any]) -> str:
        services.incident_start_investigating(
            incident=incident, actor=request.user, reason=data["reason"], source=Source.WEB
        )
        return f"{incident.reference} is being investigated."

    return _act(request, pk, StartInvestigatingForm, call, what="Starting the investigation")


@require_POST
@portal_reader
def incident_mitigate(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark the incident mitigated."""

    def call(incident: Incident, data: dict[str, Any]) -> str:
        services.incident_mitigate(
            incident=incident, actor=request.user, message=data["message"], source=Source.WEB
        )
        return f"{incident.reference} is mitigated; keep monitoring."

    return _act(request, pk, MitigateForm, call, what="Mitigating")


@require_POST
@portal_reader
def incident_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    """Resolve the incident."""

    def call(incident: Incident, data: dict[str, Any]) -> str:
        services.incident_resolve(
            incident=incident, actor=request.user, message=data["message"], source=Source.WEB
        )
        return f"{incident.reference} resolved."

    return _act(request, pk, ResolveForm, call, what="Resolving")


@require_POST
@portal_reader
def incident_reopen(request: HttpRequest, pk: int) -> HttpResponse:
    """Reopen a resolved incident."""

    def call(incident: Incident, data: dict[str, Any]) -> str:
        services.incident_reopen(
            incident=incident, actor=request.user, reason=data["reason"], source=Source.WEB
        )
        return f"{incident.reference} reopened."

    return _act(request, pk, ReopenForm, call, what="Reopening")


@require_POST
@portal_reader
def incident_close(request: HttpRequest, pk: int) -> HttpResponse:
    """Close a resolved incident."""

    def call(incident: Incident, data: dict[str, Any]) -> str:
        services.incident_close(incident=incident, actor=request.user, source=Source.WEB)
        return f"{incident.reference} closed."

    return _act(request, pk, CloseForm, call, what="Closing")


@require_POST
@portal_reader
def incident_change_severity(request: HttpRequest, pk: int) -> HttpResponse:
    """Change the incident's severity."""

    def call(incident: Incident, data: dict[str, Any]) -> str:
        services.incident_change_severity(
            incident=incident,
            actor=request.user,
            severity=data["severity"],
            reason=data["reason"],
            source=Source.WEB,
        )
        return f"Severity is {data['severity'].code}."

    return _act(request, pk, ChangeSeverityForm, call, what="Changing the severity")


@require_POST
@portal_reader
def incident_role_assign(request: HttpRequest, pk: int) -> HttpResponse:
    """Take a role, or assign / hand it over to a responder."""

    def call(incident: Incident, data: dict[str, Any]) -> str:
        assignment = services.incident_role_assign(
            incident=incident,
            actor=request.user,
            role=data["role"],
            user=data["user"],
            source=Source.WEB,
        )
        holder = display_name(assignment.user)
        return f"{holder} is {IncidentRole(data['role']).label}."

    return _act(request, pk, RoleAssignForm, call, what="Assigning the role")


@require_POST
@portal_reader
def incident_role_release(request: HttpRequest, pk: int) -> HttpResponse:
    """Leave a role, or relieve its holder."""

    def call(incident: Incident, data: dict[str, Any]) -> str:
        services.incident_role_release(
            incident=incident, actor=request.user, role=data["role"], source=Source.WEB
        )
        return f"{IncidentRole(data['role']).label} is free."

    return _act(request, pk, RoleReleaseForm, call, what="Releasing the role")


@require_POST
@portal_reader
def incident_status_update(request: HttpRequest, pk: int) -> HttpResponse:
    """Post an internal status update; with the checkbox, a RESOLVED one also resolves."""

    def call(incident: Incident, data: dict[str, Any]) -> str:
        services.status_update_post(
            incident=incident,
            actor=request.user,
            status=data["status"],
            impact=data["impact"],
            last_action=data["last_action"],
            next_action=data["next_action"],
            eta=data["eta"],
            resolve=data["resolve"],
            source=Source.WEB,
        )
        if data["resolve"]:
            return f"Status update posted and {incident.reference} resolved."
        return "Status update posted."

    return _act(
        request, pk, StatusUpdateForm, call, what="Posting the status update", rerender=True
    )


@require_POST
@portal_reader
def incident_note_add(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a scribe note (or a correction) to the timeline."""

    def call(incident: Incident, data: dict[str, Any]) -> str:
        services.timeline_note_add(
            incident=incident,
            actor=request.user,
            body=data["body"],
            occurred_at=data["occurred_at"],
            corrects=data["corrects"],
            source=Source.WEB,
        )
        return "Correction added to the timeline." if data["corrects"] else "Note added."

    return _act(request, pk, NoteForm, call, what="Adding the note", rerender=True)


@require_POST
@portal_reader
def incident_edit_details(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit the incident's title, summary, impact, bridge and impact start."""

    def call(incident: Incident, data: dict[str, Any]) -> str:
        services.incident_update_details(
            incident=incident, actor=request.user, source=Source.WEB, **data
        )
        return "Details saved."

    return _act(request, pk, DetailsForm, call, what="Saving the details", rerender=True)
