"""Template helpers of postmortems: the incident page's panel, badges, times in the team's zone."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from incidents.models import Incident, IncidentStatus
from postmortems import policies, selectors
from postmortems.deadlines import due_business_days
from postmortems.models import Postmortem

register = template.Library()


@register.inclusion_tag("postmortems/_incident_panel_body.html", takes_context=True)
def postmortem_panel(context: template.Context, incident: Incident) -> dict[str, Any]:
    """Render the incident's postmortem: link, status and due date, or a button to start one."""
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    postmortem = selectors.postmortem_for_incident(incident=incident)
    required = incident.peak_severity.postmortem_required
    return {
        "incident": incident,
        "postmortem": postmortem,
        "overdue": selectors.postmortem_is_overdue(postmortem) if postmortem else False,
        "required": required,
        "due_days": due_business_days(),
        "resolved": incident.status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED),
        "may_start": postmortem is None
        and user is not None
        and policies.can_create_postmortem(user, incident),
        "csrf_token": context.get("csrf_token"),
        "request": request,
    }


@register.simple_tag
def postmortem_status_badge(postmortem: Postmortem) -> SafeString:
    """Render the postmortem's status as a badge that says it in words."""
    css: dict[str, str] = {
        Postmortem.Status.DRAFT: "status-acknowledged",
        Postmortem.Status.IN_REVIEW: "status-mitigated",
        Postmortem.Status.PUBLISHED: "status-resolved",
    }
    css_class = css.get(postmortem.status, "")
    return format_html(
        '<span class="badge status {}">{}</span>', css_class, postmortem.get_status_display()
    )


@register.filter
def team_time(value: datetime | None, incident: Incident) -> str:
    """Render a time in the incident team's zone (the site's without a team), minutes precise."""
    if value is None:
        return ""
    zone = ZoneInfo(incident.team.time_zone if incident.team else settings.TIME_ZONE)
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


@register.filter
def team_zone(incident: Incident) -> str:
    """Return the name of the time zone the incident's team works in."""
    return incident.team.time_zone if incident.team else settings.TIME_ZONE


@register.filter
def is_past(value: datetime | None) -> bool:
    """Return whether the time has passed."""
    return value is not None and value < timezone.now()
