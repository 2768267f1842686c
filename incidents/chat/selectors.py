"""Reads of the chat app."""

from incidents.models import Incident
from portal.models import Timer

from .models import IncidentChannel
from .platform import chat_platform
from .services.outbox import channel_url, opening_timer_prefix


def incident_channel_get(*, incident: Incident) -> IncidentChannel | None:
    """Return the incident's channel on the configured chat (reserved or open), if any."""
    platform = chat_platform()
    if platform is None:
        return None
    return IncidentChannel.objects.filter(incident=incident, platform=platform.name).first()


def incident_channel_opening(*, channel: IncidentChannel) -> bool:
    """Return whether the channel is still being opened (its opening has not given up)."""
    return Timer.objects.filter(
        key__startswith=opening_timer_prefix(channel.incident_id),
        state__in=(Timer.State.PENDING, Timer.State.CLAIMED),
    ).exists()


def incident_channel_url(*, channel: IncidentChannel) -> str:
    """Return the address that opens the channel in the chat, once it exists."""
    platform = chat_platform()
    if platform is None or not channel.channel_id:
        return ""
    return channel_url(platform=platform, channel_id=channel.channel_id)
