"""Helpers of the outbound chat tests: reading what the fake Slack received."""

from typing import Any

from incidents.chat.models import ChatPost, IncidentChannel
from tests.fakes.slack import FakeSlack


def rendered(message: dict[str, Any]) -> str:
    """Return everything a message shows: its text and every block's text, one per line."""
    parts = [message.get("text") or ""]
    for block in message.get("blocks") or []:
        if block.get("type") == "section":
            parts.append(block["text"]["text"])
        elif block.get("type") == "context":
            parts.extend(element["text"] for element in block["elements"])
    return "\n".join(parts)


def buttons(message: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Return (action id, label, value) of the message's buttons."""
    return [
        (element["action_id"], element["text"]["text"], element["value"])
        for block in message.get("blocks") or []
        if block.get("type") == "actions"
        for element in block["elements"]
    ]


def channel_of(incident) -> IncidentChannel:
    return IncidentChannel.objects.get(incident=incident)


def headlines(slack: FakeSlack, channel_id: str) -> list[str]:
    """Return the notification text of each message of a channel, oldest first."""
    return [message["text"] for message in slack.messages(channel_id)]


def posts(incident) -> list[ChatPost]:
    return list(ChatPost.objects.filter(incident=incident).order_by("pk"))
