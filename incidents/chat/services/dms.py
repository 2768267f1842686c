"""Pages as direct messages in the chat, with an Acknowledge button and the ack link.

An FYI page, or one to someone who may not acknowledge, goes out with neither.
"""

from datetime import timedelta

from incidents.oncall.acks import page_ack_url
from incidents.oncall.channels import DeliveryRefused
from incidents.oncall.models import Page
from portal.integrations import page_delivery as delivery
from portal.integrations.chat import (
    ChatAuthError,
    ChatInvalidRequest,
    ChatNotFound,
    ChatNotInChannel,
    ChatRateLimited,
    ChatUnavailable,
)
from portal.timers import TimerRetry

from .. import messages
from ..platform import chat_platform


def page_dm_send(*, page: Page) -> str:
    """Send a page to its recipient's chat member id; return the message id (Slack's `ts`).

    A rate limit comes back after its Retry-After (TimerRetry: the attempt does not count); an
    unreachable chat is a failed attempt, retried like any channel's; an unknown member or a
    broken installation fails the page for good (the person's other contact methods still
    carry it).
    """
    platform = chat_platform()
    if platform is None:
        raise DeliveryRefused("Slack is not configured any more")
    message = messages.page_dm(page=page, ack_url=page_ack_url(page))
    try:
        posted = platform.direct_message(member_id=page.address, message=message)
    except ChatRateLimited as exc:
        raise TimerRetry(
            timedelta(seconds=max(exc.retry_after, 1.0)), reason=f"Slack rate limit: {exc}"
        ) from exc
    except ChatUnavailable as exc:
        raise delivery.DeliveryError(f"Slack unavailable: {exc}") from exc
    except (ChatAuthError, ChatNotFound, ChatNotInChannel, ChatInvalidRequest) as exc:
        raise DeliveryRefused(f"Slack refused the message: {exc}") from exc
    return posted.message_id
