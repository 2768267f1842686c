"""Subscribers and the fan-out of public changes to them, by email and by signed webhook.

Email subscriptions need a double opt-in: a confirmation mail goes to new (or not yet
confirmed) addresses, and nothing new to an address that is already subscribed, so subscribing
never tells a stranger whether an address is on the list and cannot be used to flood an inbox
that already receives the notifications. Webhook subscribers are active at once: the person
registering the URL sees its signing secret, and a receiver that keeps failing is disabled.

Delivery: one `Delivery` row per subscriber and event (the unique constraint makes the fan-out
idempotent), its message rendered when it is created so every attempt sends the same bytes.
Each attempt is claimed with a conditional update that also schedules the next attempt as a
timer (timers as data), so a lost task message or a killed worker only delays a delivery until
its next retry. A delivery is marked sent at most once; a crash after the receiver accepted
and before the outcome was recorded can send it once more, with the same `webhook-id` (and
email Message-ID) so the receiver can tell.

Modules: .subscribers (subscribe, confirm, unsubscribe, links, rate limits), .rendering (an
event's email and webhook body), .delivery (fan-out, claims, sending, retries, failure counting,
and the timer handlers, registered when this package is imported).
"""

from .delivery import (
    DELIVERY_RETRY,
    FANOUT_CHECK,
    FANOUT_CHECK_ROUNDS,
    FIRST_ATTEMPT_GRACE,
    LAST_ATTEMPT_GRACE,
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    SEND_TASK,
    delivery_attempt,
    delivery_claim,
    delivery_send,
    fire_confirmation_send,
    fire_delivery_retry,
    fire_fanout_check,
    max_consecutive_failures,
    subscriber_confirmation_send,
    subscribers_notify,
)
from .subscribers import (
    CONFIRMATION_SEND,
    RateLimited,
    confirm_url,
    email_normalize,
    subscribe_rate_check_address,
    subscribe_rate_check_client,
    subscriber_confirm,
    subscriber_email_subscribe,
    subscriber_enable,
    subscriber_unsubscribe,
    subscriber_webhook_subscribe,
    unsubscribe_url,
)

__all__ = [
    "CONFIRMATION_SEND",
    "DELIVERY_RETRY",
    "FANOUT_CHECK",
    "FANOUT_CHECK_ROUNDS",
    "FIRST_ATTEMPT_GRACE",
    "LAST_ATTEMPT_GRACE",
    "MAX_ATTEMPTS",
    "RETRY_DELAYS",
    "SEND_TASK",
    "RateLimited",
    "confirm_url",
    "delivery_attempt",
    "delivery_claim",
    "delivery_send",
    "email_normalize",
    "fire_confirmation_send",
    "fire_delivery_retry",
    "fire_fanout_check",
    "max_consecutive_failures",
    "subscribe_rate_check_address",
    "subscribe_rate_check_client",
    "subscriber_confirm",
    "subscriber_confirmation_send",
    "subscriber_email_subscribe",
    "subscriber_enable",
    "subscriber_unsubscribe",
    "subscriber_webhook_subscribe",
    "subscribers_notify",
    "unsubscribe_url",
]
