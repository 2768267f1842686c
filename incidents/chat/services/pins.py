"""Messages pinned in an incident's channel become notes on its timeline, with author and time."""

import logging
from datetime import UTC, datetime

from django.contrib.auth.models import User
from django.db import transaction

from incidents.models import Incident, Source, TimelineEvent
from incidents.services import timeline_record
from portal.integrations.chat import ChatNotFound, ChatPlatform
from portal.integrations.slack_inbound import SlackRequestInvalid, plain_text, ts_seconds
from portal.people import display_name

from ..accounts import chat_account_user
from ..models import IncidentChannel
from ..platform import chat_platform

logger = logging.getLogger(__name__)


def _person(platform: ChatPlatform, member_id: str) -> tuple[User | None, str]:
    """Return the member's portal user (if any) and the name to show for them."""
    if not member_id:
        return None, ""
    user = chat_account_user(platform=platform, member_id=member_id)
    if user is not None:
        return user, display_name(user)
    try:
        return None, platform.member(member_id=member_id).name or member_id
    except ChatNotFound:
        # A bot or an app wrote it, or the member left the workspace.
        return None, member_id


def chat_pin_record(
    *,
    channel_id: str,
    message_ts: str,
    pinned_by: str,
    author_member_id: str = "",
    text: str = "",
) -> TimelineEvent | None:
    """Record a message pinned in an incident channel as a note on the incident's timeline.

    The note is dated when the message was posted; its actor is the person who pinned it, if
    they are a portal user. Pinning the same message again records nothing new. Raises
    ChatRateLimited or ChatUnavailable when the chat must be asked again later.
    """
    platform = chat_platform()
    if platform is None:
        return None
    channel = (
        IncidentChannel.objects.select_related("incident")
        .filter(platform=platform.name, channel_id=channel_id)
        .first()
    )
    if channel is None:
        return None
    try:
        occurred_at = datetime.fromtimestamp(ts_seconds(message_ts), tz=UTC)
    except SlackRequestInvalid:
        logger.warning("pin in %s names no message time (%r); not recorded", channel_id, message_ts)
        return None
    if not text.strip() or not author_member_id:
        try:
            pinned = platform.pinned_message(channel_id=channel_id, message_id=message_ts)
        except ChatNotFound:
            logger.info("pinned message %s in %s is gone; not recorded", message_ts, channel_id)
            return None
        text = text if text.strip() else pinned.text
        author_member_id = author_member_id or pinned.author_member_id
    # Names are looked up before the transaction: they may be network calls.
    actor, pinned_by_name = _person(platform, pinned_by)
    _, author_name = _person(platform, author_member_id)
    with transaction.atomic():
        incident = Incident.objects.select_for_update().get(pk=channel.incident_id)
        already = incident.timeline.filter(
            kind=TimelineEvent.Kind.NOTE,
            source=Source.SLACK,
            data__channel=channel_id,
            data__ts=message_ts,
        ).first()
        if already is not None:
            return already
        return timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.NOTE,
            actor=actor,
            source=Source.SLACK,
            occurred_at=occurred_at,
            message=plain_text(text) or "(a message without text)",
            data={
                "channel": channel_id,
                "ts": message_ts,
                "author": author_member_id,
                "author_name": author_name,
                "pinned_by": pinned_by,
                "pinned_by_name": pinned_by_name,
            },
        )
