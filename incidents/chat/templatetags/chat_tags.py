"""Template helpers of the chat app: the incident page's Slack channel line."""

from typing import Any

from django import template
from django.urls import reverse

from incidents.models import Incident
from incidents.policies import Action, can

from ..platform import chat_configured
from ..selectors import incident_channel_get, incident_channel_opening, incident_channel_url

register = template.Library()


@register.inclusion_tag("chat/_incident_channel_panel.html", takes_context=True)
def incident_chat_channel(context: template.Context, incident: Incident) -> dict[str, Any]:
    """Render the incident's channel (a link once open) or the button that opens one."""
    if not chat_configured():
        return {"configured": False}
    request = context["request"]
    channel = incident_channel_get(incident=incident)
    is_open = channel is not None and channel.opened_at is not None and not channel.archived_at
    opening = (
        channel is not None
        and channel.opened_at is None
        and channel.archived_at is None
        and incident_channel_opening(channel=channel)
    )
    may_open = incident.is_open and can(request.user, Action.ASSIGN_ROLE, incident)
    return {
        "configured": True,
        "incident": incident,
        "channel": channel,
        "is_open": is_open,
        "channel_url": incident_channel_url(channel=channel) if is_open and channel else "",
        "opening": opening,
        # Offered until a channel is open or being opened; again if opening it failed.
        "offer_open": may_open and not is_open and not opening,
        "open_url": reverse("incidents:chat_open", kwargs={"pk": incident.pk}),
        "csrf_token": context.get("csrf_token"),
    }
