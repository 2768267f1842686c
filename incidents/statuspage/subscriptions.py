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
"""

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from portal.celery import enqueue
from portal.errors import ApplicationError
from portal.integrations import webhooks as adapter
from portal.models import Timer
from portal.timers import timer_cancel, timer_handler, timer_schedule

from . import webhooks
from .models import (
    Component,
    ComponentStatus,
    ComponentStatusChange,
    Delivery,
    PageSettings,
    PublicIncident,
    PublicIncidentStatus,
    PublicUpdate,
    Subscriber,
)
from .selectors import page_settings_get, page_time_zone
from .serializers import (
    component_payload,
    incident_link,
    incident_payload,
    public_link,
    status_payload,
)

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
CONFIRMATION_SEND = "statuspage.confirmation_send"
# The task that sends one delivery on the default queue (named: it imports this module).
SEND_TASK = "incidents.statuspage.tasks.delivery_send_task"
# Stands for the subscriber's own unsubscribe link in a message rendered once per event.
_UNSUBSCRIBE_PLACEHOLDER = "https://unsubscribe.invalid/__token__/"
_BATCH = 500


class RateLimited(ApplicationError):
    """Too many requests from one client or for one address; the view answers 429."""

    status_code = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --- Settings ------------------------------------------------------------------------------------


def max_consecutive_failures() -> int:
    """Return after how many failed webhook attempts in a row a subscriber is disabled."""
    return int(getattr(settings, "FIREBREAK_WEBHOOK_MAX_FAILURES", 10))


def _limit(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


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


def _documentation_url(page: PageSettings) -> str:
    return _link("status:subscribe", page=page) + "#webhooks"


# --- Rate limits --------------------------------------------------------------------------------


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


# --- Subscribing ---------------------------------------------------------------------------------


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


# --- Events --------------------------------------------------------------------------------------


@dataclass
class _Event:
    key: str
    kinds: tuple[str, ...]
    component_ids: set[int]
    subject: str
    email_context: dict[str, Any]
    webhook_event: dict[str, Any] = field(default_factory=dict)


def _format_time(moment: datetime | None, page: PageSettings) -> str:
    if moment is None:
        return ""
    local = timezone.localtime(moment, ZoneInfo(page.time_zone))
    return f"{local:%d %b %Y, %H:%M} {local.tzname()}"


def _page_block(page: PageSettings) -> dict[str, Any]:
    status = status_payload()
    return {
        "id": page.public_id,
        "status_indicator": status["indicator"],
        "status_description": status["description"],
    }


def _status_label(status: str) -> str:
    return PublicIncidentStatus(status).label if status in PublicIncidentStatus.values else status


def _component_label(status: str) -> str:
    return ComponentStatus(status).label if status in ComponentStatus.values else status


def _event_update(pk: int, page: PageSettings) -> _Event | None:
    update = PublicUpdate.objects.select_related("public_incident").filter(pk=pk).first()
    if update is None or not update.deliver_notifications:
        return None
    incident = update.public_incident
    affected = list(update.affected_components.select_related("component"))
    component_ids = set(incident.components.values_list("pk", flat=True))
    component_ids.update(change.component_id for change in affected)
    status_label = _status_label(update.status)
    return _Event(
        key=f"update:{pk}",
        kinds=(Subscriber.Kind.EMAIL, Subscriber.Kind.WEBHOOK),
        component_ids=component_ids,
        subject=f"[{page.name}] {incident.name}: {status_label}",
        email_context={
            "kind": "update",
            "title": incident.name,
            "status_label": status_label,
            "is_maintenance": incident.kind == PublicIncident.Kind.MAINTENANCE,
            "body": update.body,
            "when": _format_time(update.display_at, page),
            "scheduled_for": _format_time(incident.scheduled_for, page),
            "scheduled_until": _format_time(incident.scheduled_until, page),
            "affected": [
                {"name": change.component.name, "status": _component_label(change.new_status)}
                for change in affected
            ],
            "link": incident_link(incident, page=page),
        },
        webhook_event={
            "page": _page_block(page),
            "incident": incident_payload(incident, page=page),
        },
    )


def _event_component(pk: int, page: PageSettings) -> _Event | None:
    change = ComponentStatusChange.objects.select_related("component").filter(pk=pk).first()
    if change is None:
        return None
    component = change.component
    # A change made by a public incident or maintenance reaches email subscribers through that
    # incident's own updates; webhooks get every component change, as Statuspage sends them.
    kinds: tuple[str, ...] = (Subscriber.Kind.WEBHOOK,)
    if change.public_incident_id is None:
        kinds = (Subscriber.Kind.EMAIL, Subscriber.Kind.WEBHOOK)
    new_label = _component_label(change.new_status)
    update_id = webhooks.webhook_message_id(change.pk).removeprefix("msg_")[:12]
    return _Event(
        key=f"component:{pk}",
        kinds=kinds,
        component_ids={component.pk},
        subject=f"[{page.name}] {component.name}: {new_label}",
        email_context={
            "kind": "component",
            "title": component.name,
            "status_label": new_label,
            "old_status_label": _component_label(change.old_status) if change.old_status else "",
            "when": _format_time(change.changed_at, page),
            "link": public_link(page=page),
        },
        webhook_event={
            "page": _page_block(page),
            "component_update": {
                "created_at": change.changed_at.astimezone(page_time_zone(page)).isoformat(
                    timespec="milliseconds"
                ),
                "new_status": change.new_status,
                "old_status": change.old_status or None,
                "id": update_id,
                "component_id": component.public_id,
            },
            "component": component_payload(component, page=page),
        },
    )


def _event_maintenance(pk: int, key: str, page: PageSettings) -> _Event | None:
    maintenance = PublicIncident.objects.filter(pk=pk, kind=PublicIncident.Kind.MAINTENANCE).first()
    if maintenance is None or maintenance.is_finished:
        return None
    latest = maintenance.updates.order_by("-display_at", "-id").first()
    # A reminder goes by email only: a webhook receiver already got the maintenance's
    # updates, and the Statuspage webhook shape has no reminder event.
    return _Event(
        key=key,
        kinds=(Subscriber.Kind.EMAIL,),
        component_ids=set(maintenance.components.values_list("pk", flat=True)),
        subject=(
            f"[{page.name}] Scheduled maintenance: {maintenance.name} "
            f"starts {_format_time(maintenance.scheduled_for, page)}"
        ),
        email_context={
            "kind": "maintenance",
            "title": maintenance.name,
            "status_label": _status_label(maintenance.status),
            "is_maintenance": True,
            "body": latest.body if latest is not None else "",
            "scheduled_for": _format_time(maintenance.scheduled_for, page),
            "scheduled_until": _format_time(maintenance.scheduled_until, page),
            "affected": [
                {"name": component.name, "status": ""} for component in maintenance.components.all()
            ],
            "link": incident_link(maintenance, page=page),
        },
    )


def _event_load(event_key: str, page: PageSettings) -> _Event | None:
    kind, _, rest = event_key.partition(":")
    number = rest.partition(":")[0]
    if not number.isdigit():
        raise ValueError(f"Unknown event key {event_key!r}.")
    if kind == "update" and rest.isdigit():
        return _event_update(int(rest), page)
    if kind == "component" and rest.isdigit():
        return _event_component(int(rest), page)
    if kind == "maintenance":
        # `maintenance:<pk>` may carry a suffix (the window) so a rescheduled one reminds again.
        return _event_maintenance(int(number), event_key, page)
    raise ValueError(f"Unknown event key {event_key!r}.")


# --- Fan-out -------------------------------------------------------------------------------------


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


def _rendered_email(event: _Event, page: PageSettings) -> dict[str, str]:
    context = {
        **event.email_context,
        "page": page,
        "page_url": public_link(page=page),
        "unsubscribe_url": _UNSUBSCRIBE_PLACEHOLDER,
    }
    return {
        "subject": event.subject,
        "text": render_to_string("statuspage/email/notification.txt", context),
        "html": render_to_string("statuspage/email/notification.html", context),
    }


def _payload(
    subscriber: Subscriber, event: _Event, email: dict[str, str], page: PageSettings
) -> dict[str, Any]:
    unsubscribe = unsubscribe_url(subscriber, page=page)
    if subscriber.kind == Subscriber.Kind.WEBHOOK:
        body = webhooks.webhook_body(
            unsubscribe_url=unsubscribe,
            documentation_url=_documentation_url(page),
            event=event.webhook_event,
        )
        return {"body": body}
    return {
        "subject": email["subject"],
        "text": email["text"].replace(_UNSUBSCRIBE_PLACEHOLDER, unsubscribe),
        "html": email["html"].replace(_UNSUBSCRIBE_PLACEHOLDER, unsubscribe),
        "unsubscribe": unsubscribe,
    }


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


# --- Sending -------------------------------------------------------------------------------------


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
    message = EmailMultiAlternatives(subject=subject, body=text, to=[to], headers=headers)
    message.attach_alternative(html, "text/html")
    message.send(fail_silently=False)
