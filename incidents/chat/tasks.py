"""Background work of the chat app: commands and pins from the chat, run as timers.

Each is a timer row written with the record that asked for it (portal.timers), so a broker that
is down or a worker that dies delays it but never loses or repeats it. A busy chat
(`ChatRateLimited`) is tried again after the time it asked for, never by sleeping; an
unreachable one (`ChatUnavailable`) with the timers' backoff. What a command did is recorded
before its reply is sent, so only the reply is tried again.
"""

import logging
from datetime import timedelta

from django.utils import timezone

from portal.integrations.chat import ChatError, ChatRateLimited, ChatUnavailable
from portal.models import Timer
from portal.timers import TimerRetry, timer_handler, timer_schedule

from .services.commands import (
    COMMAND_REPLY_KIND,
    COMMAND_RUN_KIND,
    chat_command_reply,
    chat_command_run,
)
from .services.events import PIN_RECORD_KIND
from .services.pins import chat_pin_record

logger = logging.getLogger(__name__)


def _later(exc: ChatRateLimited) -> TimerRetry:
    return TimerRetry(timedelta(seconds=max(exc.retry_after, 1.0)), f"chat busy: {exc}")


@timer_handler(COMMAND_RUN_KIND)
def fire_command_run(timer: Timer) -> str:
    """Run one command from the chat as its member, once, then have it answered."""
    command_id = timer.payload["command_id"]
    try:
        # Looking the member up may fail before anything is done: then all of it runs again.
        ran = chat_command_run(command_id=command_id)
    except ChatRateLimited as exc:
        raise _later(exc) from exc
    if not ran:
        return "done before"
    timer_schedule(
        kind=COMMAND_REPLY_KIND,
        key=f"chat.command-{command_id}:reply",
        due_at=timezone.now(),
        payload=timer.payload,
    )
    return "done; reply scheduled"


@timer_handler(COMMAND_REPLY_KIND)
def fire_command_reply(timer: Timer) -> str:
    """Tell the person privately what their command did."""
    command_id = timer.payload["command_id"]
    try:
        chat_command_reply(command_id=command_id, response_url=timer.payload["response_url"])
    except ChatRateLimited as exc:
        raise _later(exc) from exc
    except ChatUnavailable:
        raise  # the timers' backoff tries again
    except ChatError as exc:
        # An expired response url or the like: the action stands, and the channel shows it.
        logger.warning("chat command %s: reply not delivered: %s", command_id, exc)
        return f"reply not delivered: {exc}"[:200]
    return "replied"


@timer_handler(PIN_RECORD_KIND)
def fire_pin_record(timer: Timer) -> str:
    """Record a message pinned in an incident channel on its timeline."""
    payload = timer.payload
    try:
        event = chat_pin_record(
            channel_id=payload["channel_id"],
            message_ts=payload["message_ts"],
            pinned_by=payload["pinned_by"],
            author_member_id=payload.get("author_member_id", ""),
            text=payload.get("text", ""),
        )
    except ChatRateLimited as exc:
        raise _later(exc) from exc
    return f"recorded as timeline event {event.pk}" if event is not None else "not recorded"
