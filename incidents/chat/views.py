"""The incident page's chat action: open the incident's Slack channel on request."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from incidents.models import Incident
from incidents.selectors import incident_get
from incidents.views import forbidden, portal_reader
from portal.errors import ApplicationError, PermissionDeniedError

from .platform import chat_configured
from .services.channels import incident_channel_open


@require_POST
@portal_reader
def incident_channel_open_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Open the incident's channel (reserve it now; the chat creates it in a moment)."""
    if not chat_configured():
        raise Http404("Slack is not configured.")
    try:
        incident = incident_get(pk=pk)
    except Incident.DoesNotExist:
        raise Http404("No such incident.") from None
    try:
        channel = incident_channel_open(incident=incident, actor=request.user)
    except PermissionDeniedError as exc:
        return forbidden(request, exc.message)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"Opening #{channel.name}: the link appears here once Slack has it."
        )
    return redirect("incidents:detail", pk=pk)
