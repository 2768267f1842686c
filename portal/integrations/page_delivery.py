"""Sending a page: email and signed outbound webhooks. Typed functions, no models inside.

A webhook request carries `X-Firebreak-Timestamp` (Unix seconds) and
`X-Firebreak-Signature: sha256=<hex>`, the HMAC-SHA256 of `<timestamp>.<body>` under the contact
method's secret, so a gateway can reject forged and replayed requests; `X-Firebreak-Delivery` is
the same on every resend of one page, so a gateway can drop a duplicate. The body's `ack_url`
is null on a page that asks for no acknowledgement (an FYI, a person who may not acknowledge).

Webhooks go out through portal.integrations.webhooks, like the status page's: a gateway on a
loopback, private or link-local address is refused unless the admin's webhook allow-list names
it (checked again at every send), the connection goes to the address that was checked, and
redirects are not followed. A refused address fails the page for good (`DeliveryRefused`).

Emails are built by portal.mail, which folds the subject into one line (an incident title often
spans lines) and refuses an address no mail can go to: that page fails for good at once too.
"""

import json
import time
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from django.conf import settings

from portal import mail

from . import webhooks

SIGNATURE_HEADER = "X-Firebreak-Signature"
TIMESTAMP_HEADER = "X-Firebreak-Timestamp"
DELIVERY_HEADER = "X-Firebreak-Delivery"
# Seconds to wait for a gateway to answer before the attempt counts as failed.
WEBHOOK_TIMEOUT_SECONDS = 10.0


class DeliveryError(Exception):
    """The message was not accepted; sending it again later may work."""


class DeliveryRefused(DeliveryError):
    """The message may never be sent as addressed (an invalid email address, a refused webhook
    address, a mail server that refuses the address for good): no retry."""


@dataclass(frozen=True)
class Message:
    """What a page says; `ack_url` is None when the page may not acknowledge (FYI, viewers)."""

    subject: str
    text: str
    ack_url: str | None
    data: dict[str, Any]


def email_message_id(delivery_id: str) -> str:
    """Return the Message-ID header of a page, the same on every resend."""
    sender = parseaddr(settings.DEFAULT_FROM_EMAIL)[1]  # "Firebreak <pager@example.com>" too
    domain = sender.rpartition("@")[2] or "localhost"
    return f"<{delivery_id}@{domain}>"


def send_email(*, address: str, message: Message, delivery_id: str) -> str:
    """Email the message; return its Message-ID.

    Raises DeliveryRefused when it can never be sent (an invalid address, a mail server that
    refuses the address for good), else DeliveryError when the mail server can't take it now.
    """
    try:
        email = mail.mail_message(
            subject=message.subject,
            body=message.text,
            to=[address],
            headers={"Message-ID": email_message_id(delivery_id)},
        )
        return mail.mail_deliver(email)
    except mail.MailRefused as exc:
        raise DeliveryRefused(f"email refused: {exc}") from exc
    except OSError as exc:  # smtplib errors are OSErrors
        raise DeliveryError(f"mail server refused: {exc}") from exc


def send_webhook(*, url: str, secret: str, message: Message, delivery_id: str) -> str:
    """POST the message as signed JSON; return the gateway's message id (or the delivery id).

    Raises DeliveryRefused when the address may not be called, else DeliveryError.
    """
    body = json.dumps(
        {
            "delivery_id": delivery_id,
            "subject": message.subject,
            "text": message.text,
            "ack_url": message.ack_url,
            **message.data,
        },
        sort_keys=True,
    ).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Firebreak",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: webhooks.firebreak_signature(
            secret=secret, timestamp=timestamp, body=body
        ),
        DELIVERY_HEADER: delivery_id,
    }
    try:
        answer = webhooks.send(
            url,
            body=body,
            headers=headers,
            allowed=webhooks.allow_list(),
            timeout=WEBHOOK_TIMEOUT_SECONDS,
        )
    except webhooks.WebhookUnresolvable as exc:
        raise DeliveryError(f"gateway unreachable: {exc}") from exc
    except webhooks.WebhookRefused as exc:
        raise DeliveryRefused(
            f"webhook address refused: {exc} An admin can allow it under "
            "Status page > Webhook allowed networks."
        ) from exc
    except webhooks.WebhookDeliveryError as exc:
        if exc.status is not None:
            raise DeliveryError(f"gateway answered HTTP {exc.status}") from exc
        raise DeliveryError(f"gateway unreachable: {exc}") from exc
    try:
        reply = json.loads(answer.body)
    except ValueError:
        reply = None
    if isinstance(reply, dict):
        for key in ("message_id", "id", "sid"):
            if reply.get(key):
                return str(reply[key])[:255]
    return delivery_id
