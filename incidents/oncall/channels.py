"""The ways a page reaches a person, registered by the apps that provide them.

On-call registers email and signed webhooks itself; the chat app registers Slack direct messages
in its `AppConfig.ready()`, so paging imports no chat code. A channel sends one page and returns
the provider's message id, or raises `delivery.DeliveryError` (a failed attempt, retried),
`DeliveryRefused` (failed for good: the person's other contact methods still carry the page) or
`portal.timers.TimerRetry` (try again after a rate limit, the attempt not counted).
"""

from collections.abc import Callable
from dataclasses import dataclass

from portal.integrations import page_delivery as delivery

from .models import ContactMethod, Page

# The channel refused the page for good (an unknown member, a revoked token, a webhook address
# that may not be called): no retry. Page delivery raises it too, so it is defined there.
DeliveryRefused = delivery.DeliveryRefused

Send = Callable[[Page, delivery.Message], str]


def _always() -> bool:
    return True


@dataclass(frozen=True)
class PageChannel:
    """One contact method kind pages go out on; `available` says whether it is set up now."""

    kind: str
    send: Send
    available: Callable[[], bool] = _always


_channels: dict[str, PageChannel] = {}


def page_channel_register(channel: PageChannel) -> PageChannel:
    """Register (or replace) the channel for its contact method kind."""
    _channels[channel.kind] = channel
    return channel


def page_channel(kind: str) -> PageChannel | None:
    """Return the channel of a contact method kind, if one is registered."""
    return _channels.get(kind)


def page_channels_available() -> tuple[str, ...]:
    """Return the contact method kinds pages can go out on right now."""
    return tuple(kind for kind, channel in _channels.items() if channel.available())


def _send_email(page: Page, message: delivery.Message) -> str:
    return delivery.send_email(address=page.address, message=message, delivery_id=page.delivery_id)


def _send_webhook(page: Page, message: delivery.Message) -> str:
    if page.contact_method is None:
        raise DeliveryRefused("the webhook contact method was removed")
    return delivery.send_webhook(
        url=page.address,
        secret=page.contact_method.secret,
        message=message,
        delivery_id=page.delivery_id,
    )


page_channel_register(PageChannel(kind=ContactMethod.Kind.EMAIL, send=_send_email))
page_channel_register(PageChannel(kind=ContactMethod.Kind.WEBHOOK, send=_send_webhook))
