"""Template helpers of the on-call app: the incident page's engagement panel."""

from typing import Any

from django import template
from django.urls import reverse
from django.utils import timezone

from incidents.models import Incident
from incidents.policies import Action, can

from .. import engagement, paging
from ..forms import PageMoreForm

register = template.Library()


@register.inclusion_tag("oncall/_incident_engagement_panel.html", takes_context=True)
def incident_engagement(context: template.Context, incident: Incident) -> dict[str, Any]:
    """Render who was engaged, the pages sent, who acknowledged, and the next escalation."""
    request = context["request"]
    may_page = incident.is_open and can(request.user, Action.ASSIGN_ROLE, incident)
    next_step = engagement.incident_next_escalation(incident=incident)
    pages = list(engagement.incident_pages(incident=incident))
    for page in pages:
        page.may_mark = paging.page_can_mark(page=page, actor=request.user)  # type: ignore[attr-defined]
    return {
        "incident": incident,
        "engagement": engagement.incident_engagement_get(incident=incident),
        "pages": pages,
        "acknowledger": engagement.incident_acknowledger(incident=incident),
        "next_step": next_step,
        "next_in_seconds": max(0, int((next_step.due_at - timezone.now()).total_seconds()))
        if next_step
        else None,
        "page_more_form": PageMoreForm() if may_page else None,
        "page_more_url": reverse("oncall:page_more", kwargs={"pk": incident.pk}),
        "csrf_token": context.get("csrf_token"),
        "request": request,
    }
