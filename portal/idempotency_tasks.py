"""The beat task that deletes expired Idempotency-Keys (PortalConfig.ready() imports it)."""

from portal.celery import firebreak_task
from portal.idempotency import idempotency_keys_purge


@firebreak_task()
def idempotency_keys_purge_task() -> int:
    """Delete the stored answers of keys older than FIREBREAK_IDEMPOTENCY_TTL_HOURS."""
    return idempotency_keys_purge()
