"""The status page panel's own page on the incident: publish a public update (logged in).

The incident page shows the same form in its "Status page" panel; this page is where the form
posts, where it comes back with errors, and where the initial-update reminder links to.
"""

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from incidents import selectors as incident_selectors
from incidents.models import Incident, Source
from incidents.policies import Action, can
from incidents.views import forbidden, portal_reader
from portal.errors import ApplicationError, InvalidInputError

from .forms import PublicUpdateForm
from .models import PublicIncident, PublicUpdate
from .services import public_update_publish


def panel_context(
    request: HttpRequest, incident: Incident, form: PublicUpdateForm | None = None
) -> dict[str, Any]:
    """Return what the status page panel shows: the public updates and, if allowed, the form."""
    may_publish = can(request.user, Action.PUBLISH_PUBLIC_UPDATE, incident)
    if form is None and may_publish:
        form = PublicUpdateForm(incident=incident, template_kind=request.GET.get("template"))
    if form is not None:
        public = form.public
    else:
        public = PublicIncident.objects.filter(incident=incident).first()
    updates = (
        list(
            PublicUpdate.objects.filter(public_incident=public)
            .prefetch_related("affected_components__component")
            .order_by("-display_at", "-id")
        )
        if public is not None
        else []
    )
    return {
        "incident": incident,
        "public": public,
        "public_updates": updates,
        "publish_form": form if may_publish else None,
        "publish_url": reverse("incidents:public_update", kwargs={"pk": incident.pk}),
    }


@require_http_methods(["GET", "HEAD", "POST"])
@portal_reader
def public_update(request: HttpRequest, pk: int) -> HttpResponse:
    """Show the publish form and the public updates so far; publish one."""
    try:
        incident = incident_selectors.incident_get(pk=pk)
    except Incident.DoesNotExist:
        raise Http404("No such incident.") from None
    if request.method != "POST":
        return render(request, "statuspage/internal/publish.html", panel_context(request, incident))
    if not can(request.user, Action.PUBLISH_PUBLIC_UPDATE, incident):
        return forbidden(
            request,
            f"Only {incident.reference}'s Incident Commander or Communicator (or staff) may "
            "publish to the status page.",
        )
    form = PublicUpdateForm(request.POST, incident=incident)
    if form.is_valid():
        data = form.cleaned_data
        try:
            update = public_update_publish(
                incident=incident,
                actor=request.user,
                status=data["status"],
                body=data["body"],
                impact=data["impact"],
                name=data.get("name"),
                component_statuses=form.component_statuses(),
                deliver_notifications=data["deliver_notifications"],
                source=Source.WEB,
            )
        except InvalidInputError as exc:
            field = exc.field if exc.field in form.fields else None
            form.add_error(field, exc.message)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                f"Published to the status page: {update.get_status_display().lower()}.",
            )
            return redirect(
                reverse("incidents:detail", kwargs={"pk": incident.pk}) + "#status-page"
            )
    messages.error(request, "Nothing was published; see what to fix below.")
    return render(
        request,
        "statuspage/internal/publish.html",
        panel_context(request, incident, form),
        status=400,
    )
