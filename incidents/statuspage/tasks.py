"""Background work of the status page: the subscriber fan-out (on the `default` queue)."""

from portal.celery import firebreak_task

from .subscriptions.delivery import (
    delivery_attempt,
    delivery_send,
)


@firebreak_task()
def delivery_send_task(delivery_id: int, attempt: int | None = None) -> str:
    """Send one delivery: its next attempt, or the attempt a retry timer already claimed."""
    if attempt is None:
        return delivery_send(delivery_id=delivery_id)
    return delivery_attempt(delivery_id=delivery_id, attempt=attempt)
