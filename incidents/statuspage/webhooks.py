"""Webhook subscribers: their URLs checked against the allow-list, their payloads, their signing.

The HTTP side (address checks, pinned connections, Standard Webhooks signatures) is the adapter
in portal.integrations.webhooks; this module adds what the status page knows: the admin's
allow-list, the Statuspage webhook shape, and a stable message id per delivery. The allow-list
is registered with the adapter, so on-call's page webhooks are allowed the same targets.
"""

import json
import time
from typing import Any

from django.utils.crypto import salted_hmac

from portal.errors import InvalidInputError
from portal.integrations import webhooks as adapter

from .models import WebhookAllowedNetwork

# Headers of Standard Webhooks.
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


@adapter.allow_list_register
def allowed_networks() -> list[str]:
    """Return the allow-list: networks and host names webhooks may target although not public."""
    return list(WebhookAllowedNetwork.objects.values_list("network", flat=True))


def webhook_url_check(url: str) -> adapter.Target:
    """Return the checked target of a webhook URL, or raise InvalidInputError naming `url`."""
    try:
        return adapter.target_check(url, allowed=allowed_networks())
    except adapter.WebhookRefused as exc:
        raise InvalidInputError(str(exc), field="url") from exc


def webhook_message_id(delivery_id: int) -> str:
    """Return the `webhook-id` of a delivery: the same on every attempt, and reveals no count."""
    digest = salted_hmac("statuspage.webhook-id", str(delivery_id), algorithm="sha256")
    return "msg_" + digest.hexdigest()[:32]


def webhook_body(*, unsubscribe_url: str, documentation_url: str, event: dict[str, Any]) -> str:
    """Return the JSON body of a notification in Statuspage's webhook shape."""
    document = {"meta": {"unsubscribe": unsubscribe_url, "documentation": documentation_url}}
    document.update(event)
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def webhook_send(*, url: str, secret: str, message_id: str, body: str) -> None:
    """Check the URL again (its DNS may have changed), then POST the signed body to it.

    Raises the adapter's WebhookRefused or WebhookDeliveryError.
    """
    payload = body.encode()
    timestamp = int(time.time())
    headers = {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: adapter.sign(
            secret=secret, message_id=message_id, timestamp=timestamp, body=payload
        ),
    }
    adapter.send(url, body=payload, headers=headers, allowed=allowed_networks())
