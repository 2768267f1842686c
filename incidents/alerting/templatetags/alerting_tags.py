"""Template helpers of the alerting app: the incident page's alert panel."""

from typing import Any

from django import template
from django.urls import reverse

from incidents.models import Incident
from incidents.policies import Action, can

from .. import selectors

register = template.Library()


# An alert storm holds a thousand alerts: the panel shows them a page at a time.
ALERTS_PER_PAGE = 50
PAGE_PARAMETER = "alerts"


@register.inclusion_tag("alerting/_incident_alerts_panel.html", takes_context=True)
def incident_alerts(context: template.Context, incident: Incident) -> dict[str, Any]:
    """Render the incident's alert episodes, their dashboards, and the actionable marking.

    With why they are grouped, when they are (an alert storm, a grouping rule), and a page of
    ALERTS_PER_PAGE at a time, firing first (`?alerts=<page>`).
    """
    request = context["request"]
    total, firing = selectors.incident_alert_counts(incident=incident)
    pages = max(1, -(-total // ALERTS_PER_PAGE))
    try:
        page = min(max(int(request.GET.get(PAGE_PARAMETER, 1)), 1), pages)
    except ValueError:
        page = 1
    first = (page - 1) * ALERTS_PER_PAGE
    alerts = list(selectors.alerts_for_incident(incident=incident)[first : first + ALERTS_PER_PAGE])
    detail = reverse("incidents:detail", kwargs={"pk": incident.pk})
    dashboards: dict[str, str] = {}
    for alert in alerts:
        if alert.dashboard_url:
            dashboards.setdefault(alert.dashboard_url, f"{alert.title} dashboard")
        if alert.panel_url:
            dashboards.setdefault(alert.panel_url, f"{alert.title} panel")
    return {
        "incident": incident,
        "alerts": alerts,
        "total": total,
        "firing": firing,
        "grouping": selectors.incident_grouping_get(incident=incident) if total else None,
        "page": page,
        "pages": pages,
        "first_shown": first + 1,
        "last_shown": first + len(alerts),
        "previous_url": f"{detail}?{PAGE_PARAMETER}={page - 1}#alerts" if page > 1 else "",
        "next_page_url": f"{detail}?{PAGE_PARAMETER}={page + 1}#alerts" if page < pages else "",
        "dashboards": list(dashboards.items()),
        "may_mark": can(request.user, Action.ACKNOWLEDGE, incident),
        "next_url": detail + (f"?{PAGE_PARAMETER}={page}" if page > 1 else "") + "#alerts",
        "csrf_token": context.get("csrf_token"),
        "request": request,
    }
