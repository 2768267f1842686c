"""Delivery: the fan-out of an event to its subscribers, sending, retries, failure counting.

One `Delivery` row per subscriber and event (the unique constraint makes the fan-out
idempotent), its message rendered when it is created (.rendering) so every attempt sends the
same bytes. Each attempt is claimed with a conditional update that also schedules the next
attempt as a timer (timers as data), so a lost task message or a killed worker only delays a
delivery until its next retry. A delivery is marked sent at most once; a crash after the
receiver accepted and before the outcome was recorded can send it once more, with the same
`webhook-id` (and email Message-ID) so the receiver can tell. A webhook receiver that keeps
failing is disabled.

The timer kinds of the fan-out check, the retries and the confirmation mail are registered when
this module is imported (StatuspageConfig.ready() imports the package).
"""

import logging
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.utils import timezone

from portal.celery import enqueue
from portal.integrations import webhooks as adapter
from portal.mail import MailRefused, mail_send
from portal.models import Timer
from portal.timers import timer_cancel, timer_handler, timer_schedule

from .. import webhooks
from ..models import Delivery, Subscriber
from ..selectors import page_settings_get
from ..serializers import public_link
from .rendering import _Event, _event_load, _payload, _rendered_email
from .subscribers import CONFIRMATION_SEND, _deliveries_drop, confirm_url, unsubscribe_url

logger = logging.getLogger(__name__)

# Waits before attempts 2, 3, …: a receiver down for most of a day still gets the message.
RETRY_DELAYS = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
    timedelta(hours=12),
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# How long the last attempt may take before the delivery is given up as failed.
LAST_ATTEMPT_GRACE = timedelta(minutes=15)
# A delivery whose first send task never ran (a lost message) is picked up after this.
FIRST_ATTEMPT_GRACE = timedelta(minutes=2)
FANOUT_CHECK_ROUNDS = 5
DELIVERY_RETRY = "statuspage.delivery_retry"
FANOUT_CHECK = "statuspage.fanout_check"
# The task that sends one delivery on the default queue (named: it imports this module).
SEND_TASK = "incidents.statuspage.tasks.delivery_send_task"
_BATCH = 500


def max_consecutive_failures() -> int:
    """Return after how many failed webhook attempts in a row a subscriber is disabled."""
    return int(getattr(settings, "FIREBREAK_WEBHOOK_MAX_FAILURES", 10))


# --- Fan-out --------------------------------------------------------------------------------------


def _interested(event: _Event) -> list[int]:
    """Return the ids of active subscribers who want the event and have no delivery of it yet."""
    chosen = Subscriber.components.through.objects.filter(subscriber_id=OuterRef("pk"))
    subscribers = Subscriber.objects.filter(
        kind__in=event.kinds,
        confirmed_at__isnull=False,
        unsubscribed_at__isnull=True,
        disabled_at__isnull=True,
    ).filter(
        # No components chosen means all of them.
        ~Exists(chosen) | Exists(chosen.filter(component_id__in=event.component_ids))
    )
    subscribers = subscribers.exclude(
        Exists(Delivery.objects.filter(subscriber_id=OuterRef("pk"), event_key=event.key))
    )
    return list(subscribers.order_by("pk").values_list("pk", flat=True))


def subscribers_notify(*, event_key: str) -> int:
    """Create one delivery per interested subscriber and send them; return how many are new.

    Safe to run twice: a subscriber that has a delivery of the event gets no second one.
    """
    page = page_settings_get()
    event = _event_load(event_key, page)
    if event is None:
        return 0
    subscriber_ids = _interested(event)
    if not subscriber_ids:
        return 0
    email = _rendered_email(event, page) if Subscriber.Kind.EMAIL in event.kinds else {}
    created = 0
    for start in range(0, len(subscriber_ids), _BATCH):
        batch = list(Subscriber.objects.filter(pk__in=subscriber_ids[start : start + _BATCH]))
        with transaction.atomic():
            Delivery.objects.bulk_create(
                [
                    Delivery(
                        subscriber=subscriber,
                        event_key=event.key,
                        payload=_payload(subscriber, event, email, page),
                    )
                    for subscriber in batch
                ],
                # A concurrent run of the same event may have created some of them.
                ignore_conflicts=True,
            )
            new_ids = list(
                Delivery.objects.filter(
                    event_key=event.key,
                    subscriber__in=batch,
                    state=Delivery.State.PENDING,
                    attempts=0,
                ).values_list("pk", flat=True)
            )
            # Wake-ups only: the fan-out check timer sends whatever they miss.
            transaction.on_commit(partial(_deliveries_enqueue, new_ids))
        created += len(new_ids)
    timer_schedule(
        kind=FANOUT_CHECK,
        key=f"{FANOUT_CHECK}:{event.key}:1",
        due_at=timezone.now() + FIRST_ATTEMPT_GRACE,
        payload={"event_key": event.key, "round": 1},
    )
    logger.info("%s: %s deliveries created", event.key, created)
    return created


def _deliveries_enqueue(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        enqueue(SEND_TASK, delivery_id)


@timer_handler(FANOUT_CHECK)
def fire_fanout_check(timer: Timer) -> str:
    """Send the deliveries of an event whose first send never ran (a lost task message)."""
    event_key = timer.payload["event_key"]
    waiting = list(
        Delivery.objects.filter(
            event_key=event_key,
            state=Delivery.State.PENDING,
            attempts=0,
            next_attempt_at__isnull=True,
        ).values_list("pk", flat=True)
    )
    if not waiting:
        return "all deliveries started"
    transaction.on_commit(partial(_deliveries_enqueue, waiting))
    round_number = int(timer.payload.get("round", 1))
    if round_number < FANOUT_CHECK_ROUNDS:
        timer_schedule(
            kind=FANOUT_CHECK,
            key=f"{FANOUT_CHECK}:{event_key}:{round_number + 1}",
            due_at=timezone.now() + FIRST_ATTEMPT_GRACE * (round_number + 1),
            payload={"event_key": event_key, "round": round_number + 1},
        )
    return f"{len(waiting)} deliveries sent again"


# --- Sending --------------------------------------------------------------------------------------


def _retry_timer_prefix(delivery_id: int) -> str:
    return f"{DELIVERY_RETRY}:{delivery_id}:"


def delivery_claim(*, delivery_id: int) -> int | None:
    """Claim the next attempt of a due delivery; return its number, or None if not ours.

    The claim schedules the attempt after it as a timer, so a claim whose worker dies before
    recording an outcome is retried there.
    """
    now = timezone.now()
    with transaction.atomic():
        delivery = Delivery.objects.filter(pk=delivery_id).first()
        if delivery is None or delivery.state != Delivery.State.PENDING:
            return None
        if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
            return None
        attempts = delivery.attempts
        if attempts >= MAX_ATTEMPTS:
            # The last attempt never recorded an outcome.
            Delivery.objects.filter(pk=delivery_id, state=Delivery.State.PENDING).update(
                state=Delivery.State.FAILED,
                next_attempt_at=None,
                last_error=(delivery.last_error or "no answer recorded")[:300],
            )
            return None
        wait = RETRY_DELAYS[attempts] if attempts < len(RETRY_DELAYS) else LAST_ATTEMPT_GRACE
        next_at = now + wait
        won = Delivery.objects.filter(
            pk=delivery_id, state=Delivery.State.PENDING, attempts=attempts
        ).update(attempts=attempts + 1, next_attempt_at=next_at)
        if not won:
            return None
        timer_schedule(
            kind=DELIVERY_RETRY,
            key=f"{_retry_timer_prefix(delivery_id)}{attempts + 2}",
            due_at=next_at,
            payload={"delivery_id": delivery_id},
        )
    return attempts + 1


def delivery_attempt(*, delivery_id: int, attempt: int) -> str:
    """Make a claimed attempt of a delivery and record its outcome."""
    delivery = Delivery.objects.select_related("subscriber").filter(pk=delivery_id).first()
    if delivery is None or delivery.state != Delivery.State.PENDING:
        return "already finished"
    if delivery.attempts != attempt:
        return f"attempt {attempt} superseded by attempt {delivery.attempts}"
    subscriber = delivery.subscriber
    if not subscriber.is_active:
        with transaction.atomic():
            _delivery_finish(delivery, state=Delivery.State.FAILED, error="subscriber inactive")
        return "subscriber inactive"
    try:
        if subscriber.kind == Subscriber.Kind.WEBHOOK:
            webhooks.webhook_send(
                url=subscriber.url,
                secret=subscriber.signing_secret,
                message_id=webhooks.webhook_message_id(delivery.pk),
                body=delivery.payload["body"],
            )
        else:
            _email_send(
                to=subscriber.email,
                subject=delivery.payload["subject"],
                text=delivery.payload["text"],
                html=delivery.payload["html"],
                unsubscribe=delivery.payload["unsubscribe"],
                message_id=webhooks.webhook_message_id(delivery.pk),
            )
    except MailRefused as exc:  # can never be sent as addressed: no retry
        with transaction.atomic():
            _delivery_finish(delivery, state=Delivery.State.FAILED, error=str(exc))
        return f"failed for good: {exc}"
    except (adapter.WebhookRefused, adapter.WebhookDeliveryError, OSError) as exc:
        return _delivery_failed(delivery, attempt=attempt, error=str(exc) or type(exc).__name__)
    with transaction.atomic():
        _delivery_finish(delivery, state=Delivery.State.SENT, error="")
        Subscriber.objects.filter(pk=subscriber.pk, consecutive_failures__gt=0).update(
            consecutive_failures=0
        )
    return f"sent (attempt {attempt})"


def delivery_send(*, delivery_id: int) -> str:
    """Send a delivery now if it is due and not sent (safe to run twice)."""
    attempt = delivery_claim(delivery_id=delivery_id)
    if attempt is None:
        return "not due or already finished"
    return delivery_attempt(delivery_id=delivery_id, attempt=attempt)


def _delivery_finish(delivery: Delivery, *, state: str, error: str) -> None:
    fields: dict[str, Any] = {"state": state, "next_attempt_at": None, "last_error": error[:300]}
    if state == Delivery.State.SENT:
        fields["sent_at"] = timezone.now()
    Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.PENDING).update(**fields)
    timer_cancel(key_prefix=_retry_timer_prefix(delivery.pk))


def _delivery_failed(delivery: Delivery, *, attempt: int, error: str) -> str:
    logger.info("delivery %s attempt %s failed: %s", delivery.pk, attempt, error)
    with transaction.atomic():
        if attempt >= MAX_ATTEMPTS:
            _delivery_finish(delivery, state=Delivery.State.FAILED, error=error)
        else:
            Delivery.objects.filter(
                pk=delivery.pk, state=Delivery.State.PENDING, attempts=attempt
            ).update(last_error=error[:300])
        # A mail server failing is our fault, not the subscriber's: only webhooks count.
        if delivery.subscriber.kind == Subscriber.Kind.WEBHOOK:
            _subscriber_failure(delivery.subscriber_id, error=error)
    return f"attempt {attempt} failed: {error}"


def _subscriber_failure(subscriber_id: int, *, error: str) -> None:
    subscriber = Subscriber.objects.select_for_update().get(pk=subscriber_id)
    subscriber.consecutive_failures += 1
    fields = ["consecutive_failures", "updated_at"]
    limit = max_consecutive_failures()
    if subscriber.disabled_at is None and subscriber.consecutive_failures >= limit:
        subscriber.disabled_at = timezone.now()
        subscriber.disabled_reason = (
            f"{subscriber.consecutive_failures} deliveries failed in a row; last: {error}"
        )[:200]
        fields += ["disabled_at", "disabled_reason"]
        _deliveries_drop(subscriber, reason="subscriber disabled after repeated failures")
        logger.warning("subscriber %s disabled: %s", subscriber.pk, subscriber.disabled_reason)
    subscriber.save(update_fields=fields)


@timer_handler(DELIVERY_RETRY)
def fire_delivery_retry(timer: Timer) -> str:
    """Claim the delivery's next attempt and hand it to a worker on the default queue."""
    delivery_id = int(timer.payload["delivery_id"])
    attempt = delivery_claim(delivery_id=delivery_id)
    if attempt is None:
        return "nothing to send"
    # The send itself runs on the default queue, not in the timer sweep; if this message is
    # lost, the timer the claim scheduled for the next attempt picks the delivery up.
    transaction.on_commit(lambda: enqueue(SEND_TASK, delivery_id, attempt))
    return f"attempt {attempt} handed over"


# --- The confirmation mail ------------------------------------------------------------------------


@timer_handler(CONFIRMATION_SEND)
def fire_confirmation_send(timer: Timer) -> str:
    """Mail a new email subscription's confirmation link."""
    return subscriber_confirmation_send(subscriber_id=int(timer.payload["subscriber_id"]))


def subscriber_confirmation_send(*, subscriber_id: int) -> str:
    """Mail the confirmation link to a subscriber still waiting for it (safe to run twice)."""
    subscriber = Subscriber.objects.filter(pk=subscriber_id, kind=Subscriber.Kind.EMAIL).first()
    if subscriber is None or subscriber.unsubscribed_at is not None:
        return "no longer pending"
    if subscriber.is_active:
        return "already confirmed"
    page = page_settings_get()
    unsubscribe = unsubscribe_url(subscriber, page=page)
    context = {
        "page": page,
        "confirm_url": confirm_url(subscriber, page=page),
        "unsubscribe_url": unsubscribe,
        "page_url": public_link(page=page),
    }
    _email_send(
        to=subscriber.email,
        subject=f"[{page.name}] Confirm your subscription",
        text=render_to_string("statuspage/email/confirm.txt", context),
        html=render_to_string("statuspage/email/confirm.html", context),
        unsubscribe=unsubscribe,
        message_id=None,
    )
    return "confirmation sent"


def _email_send(
    *, to: str, subject: str, text: str, html: str, unsubscribe: str, message_id: str | None
) -> None:
    headers = {
        # RFC 2369 and RFC 8058: mail clients show an unsubscribe button that POSTs here.
        "List-Unsubscribe": f"<{unsubscribe}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Auto-Submitted": "auto-generated",
    }
    if message_id is not None:
        domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2] or "localhost"
        headers["Message-ID"] = f"<{message_id}@{domain}>"
    mail_send(subject=subject, body=text, html=html, to=[to], headers=headers)
