"""Template helpers of runbooks: the incident page's Runbooks panel."""

from typing import Any

from django import template

from incidents.models import Incident
from incidents.policies import Action, can

from .. import selectors

register = template.Library()

RECENT_JOBS_SHOWN = 5


@register.inclusion_tag("runbooks/_incident_panel_body.html", takes_context=True)
def runbooks_panel(context: template.Context, incident: Incident) -> dict[str, Any]:
    """Render the runbooks suggested on the incident, its latest jobs and open runbook flags."""
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    jobs = list(selectors.job_list_for_incident(incident=incident)[:RECENT_JOBS_SHOWN])
    return {
        "incident": incident,
        "runbooks": list(selectors.runbook_list_for_incident(incident=incident)),
        "jobs": jobs,
        "open_flags": selectors.runbook_flag_list(incident=incident, open_only=True).count(),
        "may_run": user is not None and can(user, Action.RUN_DIAGNOSTICS, incident),
        "request": request,
    }
