"""Background work of the chat app (the `default` queue): commands and pins from the chat.

A busy chat (`ChatRateLimited`) is retried after the time it asked for, never by sleeping; an
unreachable one (`ChatUnavailable`) with backoff. What a command did is recorded before its
reply is sent, so only the reply is retried.
"""

import logging
from typing import Any

from portal.celery import firebreak_task
from portal.integrations.chat import ChatError, ChatRateLimited, ChatUnavailable

from .services.commands import chat_command_reply, chat_command_run
from .services.pins import chat_pin_record

logger = logging.getLogger(__name__)


def _retry_in(exc: ChatError, retries: int) -> float:
    """Return when to try again: when the chat said, else 5, 10, 20 … seconds (at most 5 min)."""
    if isinstance(exc, ChatRateLimited):
        return max(exc.retry_after, 1.0)
    return float(min(5 * 2**retries, 300))


@firebreak_task(bind=True)
def chat_command_reply_task(self: Any, command_id: int, response_url: str) -> str:
    """Tell the person privately what their command did (safe to run twice)."""
    try:
        chat_command_reply(command_id=command_id, response_url=response_url)
    except (ChatRateLimited, ChatUnavailable) as exc:
        raise self.retry(exc=exc, countdown=_retry_in(exc, self.request.retries)) from exc
    except ChatError as exc:
        # An expired response url or the like: the action stands, and the channel shows it.
        logger.warning("chat command %s: reply not delivered: %s", command_id, exc)
        return f"reply not delivered: {exc}"
    return "replied"


@firebreak_task(bind=True)
def chat_command_task(self: Any, command_id: int, response_url: str = "") -> str:
    """Run one command from the chat as its member, once, then reply (safe to run twice)."""
    try:
        ran = chat_command_run(command_id=command_id)
    except (ChatRateLimited, ChatUnavailable) as exc:
        # Looking the member up failed before anything was done: run it all again later.
        raise self.retry(exc=exc, countdown=_retry_in(exc, self.request.retries)) from exc
    if not ran:
        return "done before"
    try:
        chat_command_reply(command_id=command_id, response_url=response_url)
    except (ChatRateLimited, ChatUnavailable) as exc:
        chat_command_reply_task.apply_async((command_id, response_url), countdown=_retry_in(exc, 0))
        return f"done; reply later ({exc})"
    except ChatError as exc:
        logger.warning("chat command %s: reply not delivered: %s", command_id, exc)
        return f"done; reply not delivered: {exc}"
    return "done and replied"


@firebreak_task(bind=True)
def chat_pin_record_task(
    self: Any,
    channel_id: str,
    message_ts: str,
    pinned_by: str,
    author_member_id: str = "",
    text: str = "",
) -> str:
    """Record a message pinned in an incident channel on its timeline (safe to run twice)."""
    try:
        event = chat_pin_record(
            channel_id=channel_id,
            message_ts=message_ts,
            pinned_by=pinned_by,
            author_member_id=author_member_id,
            text=text,
        )
    except (ChatRateLimited, ChatUnavailable) as exc:
        raise self.retry(exc=exc, countdown=_retry_in(exc, self.request.retries)) from exc
    return f"recorded as timeline event {event.pk}" if event is not None else "not recorded"
