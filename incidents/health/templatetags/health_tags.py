"""Template helpers of on-call health: the incident page's after-incident checklist panel."""

from typing import Any

from django import template

from incidents.models import Incident

from ..checklist import incident_checklist

register = template.Library()


@register.inclusion_tag("health/_incident_checklist_body.html")
def incident_checklist_panel(incident: Incident) -> dict[str, Any]:
    """Render the runbook's "After every incident" checklist of a resolved or closed incident."""
    items = incident_checklist(incident=incident)
    return {
        "incident": incident,
        "items": items,
        "missing": sum(1 for item in items if item.state == "missing"),
    }
