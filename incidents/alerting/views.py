"""The triage list and what responders do with an alert; views parse, call a service, render."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from incidents.heartbeats.selectors import heartbeat_panel
from incidents.models import Incident, Service, Severity, Source
from incidents.policies import Action, can
from incidents.views import forbidden, portal_reader
from portal.errors import ApplicationError, PermissionDeniedError

from . import selectors, services
from .forms import ActionableForm, AttachForm, OpenIncidentForm
from .models import Alert

TRIAGE_PAGE_SIZE = 50


def _alert_or_404(pk: int) -> Alert:
    try:
        return selectors.alert_get(pk=pk)
    except Alert.DoesNotExist:
        raise Http404("No such alert.") from None


def _form_errors(form: OpenIncidentForm | AttachForm | ActionableForm) -> str:
    return " ".join(str(error) for errors in form.errors.values() for error in errors)


@require_http_methods(["GET", "HEAD"])
@portal_reader
def triage(request: HttpRequest) -> HttpResponse:
    """List alerts that belong to no incident, with what a responder can do about each.

    Above them, the heartbeats: whether what should ping Firebreak still does.
    """
    include_dismissed = request.GET.get("dismissed") == "1"
    alerts = selectors.alert_triage_list(include_dismissed=include_dismissed)
    page = Paginator(alerts, TRIAGE_PAGE_SIZE).get_page(request.GET.get("page"))
    may_handle = can(request.user, Action.ACKNOWLEDGE)
    may_open = can(request.user, Action.DECLARE)
    return render(
        request,
        "alerting/triage.html",
        {
            "page": page,
            "include_dismissed": include_dismissed,
            "may_handle": may_handle,
            "may_open": may_open,
            "severities": list(Severity.objects.order_by("rank")) if may_open else [],
            "services": list(Service.objects.order_by("name")) if may_open else [],
            "open_incidents": list(selectors.attachable_incidents()[:100]) if may_handle else [],
            # Heartbeats (docs/ARCHITECTURE.md, Heartbeats): a dead sender sends no alerts.
            "heartbeats": heartbeat_panel(),
        },
    )


@require_POST
@portal_reader
def open_incident(request: HttpRequest, pk: int) -> HttpResponse:
    """Open an incident from an alert in triage."""
    alert = _alert_or_404(pk)
    form = OpenIncidentForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"The incident was not opened: {_form_errors(form)}")
        return redirect("alerting:triage")
    try:
        incident = services.alert_open_incident(
            alert=alert,
            actor=request.user,
            severity=form.cleaned_data["severity"],
            service=form.cleaned_data["service"],
            title=form.cleaned_data["title"],
            source=Source.WEB,
        )
    except PermissionDeniedError as exc:
        return forbidden(request, exc.message)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("alerting:triage")
    messages.success(request, f"{incident.reference} opened from the alert.")
    return redirect("incidents:detail", pk=incident.pk)


@require_POST
@portal_reader
def attach(request: HttpRequest, pk: int) -> HttpResponse:
    """Attach an alert in triage to an open incident."""
    alert = _alert_or_404(pk)
    form = AttachForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"The alert was not attached: {_form_errors(form)}")
        return redirect("alerting:triage")
    incident: Incident = form.cleaned_data["incident"]
    try:
        services.alert_attach(alert=alert, incident=incident, actor=request.user, source=Source.WEB)
    except PermissionDeniedError as exc:
        return forbidden(request, exc.message)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Alert attached to {incident.reference}.")
    return redirect("alerting:triage")


@require_POST
@portal_reader
def actionable(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark an alert episode actionable or not (a false positive)."""
    alert = _alert_or_404(pk)
    form = ActionableForm(request.POST)
    back = _back_to(request, alert)
    if not form.is_valid():
        messages.error(request, f"Nothing was marked: {_form_errors(form)}")
        return redirect(back)
    try:
        alert = services.alert_mark_actionable(
            alert=alert, actor=request.user, actionable=form.value(), source=Source.WEB
        )
    except PermissionDeniedError as exc:
        return forbidden(request, exc.message)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        word = {True: "actionable", False: "not actionable", None: "undecided"}[alert.actionable]
        messages.success(request, f"Alert “{alert.title}” marked {word}.")
    return redirect(back)


def _back_to(request: HttpRequest, alert: Alert) -> str:
    wanted = request.POST.get("next", "")
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    if alert.incident_id:
        return reverse("incidents:detail", kwargs={"pk": alert.incident_id}) + "#alerts"
    return reverse("alerting:triage")
