"""Template helpers of the status page for the responders' portal: the incident page's panel."""

from typing import Any

from django import template

from incidents.models import Incident

from ..views import panel_context

register = template.Library()


@register.inclusion_tag("statuspage/internal/_panel.html", takes_context=True)
def status_page_panel(context: template.Context, incident: Incident) -> dict[str, Any]:
    """Render the public updates so far and, for the IC and Communicator, the publish form."""
    request = context["request"]
    return {
        **panel_context(request, incident),
        "csrf_token": context.get("csrf_token"),
        "request": request,
    }
