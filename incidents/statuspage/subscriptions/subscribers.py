"""Subscribers: subscribing, confirming, unsubscribing; their links (tokens) and rate limits.

Email subscriptions need a double opt-in: a confirmation mail goes to new (or not yet
confirmed) addresses, and nothing new to an address that is already subscribed, so subscribing
never tells a stranger whether an address is on the list and cannot be used to flood an inbox
that already receives the notifications. The confirmation mail is a timer (CONFIRMATION_SEND)
written with the subscription and sent by .delivery. Webhook subscribers are active at once: the
person registering the URL sees its signing secret.
"""

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from portal.errors import ApplicationError
from portal.integrations import webhooks as adapter
from portal.timers import timer_schedule

from .. import webhooks
from ..models import Component, Delivery, PageSettings, Subscriber
from ..serializers import public_link

logger = logging.getLogger(__name__)

# The timer that mails a new email subscription's confirmation link (fired by .delivery).
CONFIRMATION_SEND = "statuspage.confirmation_send"


class RateLimited(ApplicationError):
    """Too many requests from one client or for one address; the view answers 429."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --- Links ----------------------------------------------------------------------------------------


def _link(view_name: str, *args: str, page: PageSettings | None = None) -> str:
    """Return the absolute public address of a named public view."""
    path = reverse(view_name, args=args)
    return public_link(path.removeprefix(reverse("status:page")), page=page)


def unsubscribe_url(subscriber: Subscriber, *, page: PageSettings | None = None) -> str:
    """Return the subscriber's unsubscribe link (also the RFC 8058 one-click target)."""
    return _link("status:unsubscribe", subscriber.token, page=page)


def confirm_url(subscriber: Subscriber, *, page: PageSettings | None = None) -> str:
    """Return the link that confirms an email subscription."""
    return _link("status:subscribe-confirm", subscriber.token, page=page)


# --- Rate limits ----------------------------------------------------------------------------------


def _limit(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def _window_hit(key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one request in the current fixed window; return whether it is within the limit."""
    window = int(timezone.now().timestamp()) // window_seconds
    cache_key = f"statuspage:subscribe:{key}:{window}"
    cache.add(cache_key, 0, timeout=window_seconds + 60)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # evicted between add and incr
        cache.set(cache_key, 1, timeout=window_seconds + 60)
        count = 1
    return count <= limit


def subscribe_rate_check_client(*, client_ip: str) -> None:
    """Count a subscribe request from this client; raise RateLimited past the hourly limit."""
    limit = _limit("FIREBREAK_SUBSCRIBE_LIMIT_PER_IP_PER_HOUR", 10)
    if not _window_hit(f"ip:{client_ip}", limit=limit, window_seconds=3600):
        raise RateLimited(
            "Too many subscription requests from your network. Please try again in an hour.",
            retry_after=3600,
        )


def subscribe_rate_check_address(*, address: str) -> None:
    """Count a subscribe request for this address; raise RateLimited past the daily limit.

    It counts requests, not mails sent, so it answers the same whether or not the address is
    subscribed already.
    """
    limit = _limit("FIREBREAK_SUBSCRIBE_LIMIT_PER_ADDRESS_PER_DAY", 3)
    digest = hashlib.sha256(address.strip().lower().encode()).hexdigest()[:32]
    if not _window_hit(f"address:{digest}", limit=limit, window_seconds=86400):
        raise RateLimited(
            "This address was already used for several subscription requests today. "
            "Please check its inbox (and spam folder), or try again tomorrow.",
            retry_after=86400,
        )


# --- Subscribing ----------------------------------------------------------------------------------


def email_normalize(email: str) -> str:
    """Return the form of an address that subscriptions are keyed by."""
    return email.strip().lower()


def subscriber_email_subscribe(*, email: str, components: list[Component]) -> None:
    """Start an email subscription and mail its confirmation link, unless already subscribed.

    Returns nothing on purpose: callers must answer the same whatever the address's state.
    """
    email = email_normalize(email)
    with transaction.atomic():
        current = (
            Subscriber.objects.select_for_update()
            .filter(kind=Subscriber.Kind.EMAIL, email=email, unsubscribed_at__isnull=True)
            .first()
        )
        if current is not None and current.is_active:
            # Already receiving the notifications: nothing new to send.
            return
        if current is None:
            try:
                with transaction.atomic():
                    current = Subscriber.objects.create(kind=Subscriber.Kind.EMAIL, email=email)
            except IntegrityError:
                # Someone subscribed the same address at the same moment; their mail suffices.
                return
        current.components.set(components)
        # A timer written with the subscription: a broker outage neither turns this answer
        # into an error page (which would tell a new address from a subscribed one) nor loses
        # the mail.
        timer_schedule(
            kind=CONFIRMATION_SEND,
            key=f"{CONFIRMATION_SEND}:{current.pk}:{timezone.now().timestamp()}",
            due_at=timezone.now(),
            payload={"subscriber_id": current.pk},
        )


def subscriber_confirm(*, subscriber: Subscriber) -> Subscriber:
    """Confirm an email subscription (a no-op when already confirmed)."""
    with transaction.atomic():
        locked = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        if locked.unsubscribed_at is not None:
            raise ApplicationError(
                "This subscription was cancelled. Subscribe again to receive notifications."
            )
        if locked.is_active:
            return locked
        locked.confirmed_at = timezone.now()
        # Confirming again is how a disabled subscription comes back.
        locked.disabled_at = None
        locked.disabled_reason = ""
        locked.consecutive_failures = 0
        locked.save(
            update_fields=[
                "confirmed_at",
                "disabled_at",
                "disabled_reason",
                "consecutive_failures",
                "updated_at",
            ]
        )
    logger.info("subscriber %s confirmed", locked.pk)
    return locked


def subscriber_webhook_subscribe(*, url: str, components: list[Component]) -> Subscriber:
    """Subscribe a webhook URL (refused unless public or allow-listed); it is active at once.

    The returned subscriber carries the signing secret, which is shown to the person once.
    """
    target = webhooks.webhook_url_check(url)
    with transaction.atomic():
        subscriber = Subscriber.objects.create(
            kind=Subscriber.Kind.WEBHOOK,
            url=target.url,
            signing_secret=adapter.secret_new(),
            confirmed_at=timezone.now(),
        )
        subscriber.components.set(components)
    logger.info("webhook subscriber %s added for host %s", subscriber.pk, target.host)
    return subscriber


def subscriber_unsubscribe(*, subscriber: Subscriber) -> Subscriber:
    """End a subscription (a no-op when already ended); its pending deliveries are dropped."""
    with transaction.atomic():
        locked = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        if locked.unsubscribed_at is not None:
            return locked
        locked.unsubscribed_at = timezone.now()
        locked.save(update_fields=["unsubscribed_at", "updated_at"])
        _deliveries_drop(locked, reason="unsubscribed")
    logger.info("subscriber %s unsubscribed", locked.pk)
    return locked


def subscriber_enable(*, subscriber: Subscriber) -> Subscriber:
    """Enable a subscriber that was disabled after failures, with its failure count reset."""
    with transaction.atomic():
        locked = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
        if locked.disabled_at is None and locked.consecutive_failures == 0:
            return locked
        locked.disabled_at = None
        locked.disabled_reason = ""
        locked.consecutive_failures = 0
        locked.save(
            update_fields=["disabled_at", "disabled_reason", "consecutive_failures", "updated_at"]
        )
    logger.info("subscriber %s enabled again", locked.pk)
    return locked


def _deliveries_drop(subscriber: Subscriber, *, reason: str) -> None:
    Delivery.objects.filter(subscriber=subscriber, state=Delivery.State.PENDING).update(
        state=Delivery.State.FAILED, last_error=reason, next_attempt_at=None
    )
