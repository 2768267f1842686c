"""Template helpers of the alerting app: the incident page's alert panel."""

from typing import Any

from django import template
from django.urls import reverse

from incidents.models import Incident
from incidents.policies import Action, can

from .. import selectors

register = template.Library()


@register.inclusion_tag("alerting/_incident_alerts_panel.html", takes_context=True)
def incident_alerts(context: template.Context, incident: Incident) -> dict[str, Any]:
    """Render the incident's alert episodes, their dashboards, and the actionable marking."""
    request = context["request"]
    alerts = list(selectors.alerts_for_incident(incident=incident))
    dashboards: dict[str, str] = {}
    for alert in alerts:
        if alert.dashboard_url:
            dashboards.setdefault(alert.dashboard_url, f"{alert.title} dashboard")
        if alert.panel_url:
            dashboards.setdefault(alert.panel_url, f"{alert.title} panel")
    return {
        "incident": incident,
        "alerts": alerts,
        "firing": sum(1 for alert in alerts if alert.is_firing),
        "dashboards": list(dashboards.items()),
        "may_mark": can(request.user, Action.ACKNOWLEDGE, incident),
        "next_url": reverse("incidents:detail", kwargs={"pk": incident.pk}) + "#alerts",
        "csrf_token": context.get("csrf_token"),
        "request": request,
    }
