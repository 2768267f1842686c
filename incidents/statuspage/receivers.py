"""Keep the static snapshot in step with the public status: one refresh after every change."""

import logging
from typing import Any

from django.dispatch import receiver

from .snapshot import snapshot_directory
from .snapshot_tasks import statuspage_snapshot_task
from .version import status_changed

logger = logging.getLogger(__name__)


@receiver(status_changed, dispatch_uid="statuspage-snapshot-refresh")
def snapshot_on_status_changed(sender: Any, **kwargs: Any) -> None:
    """Queue a snapshot refresh after a change to the public status has been committed."""
    if snapshot_directory() is None:
        return
    try:
        statuspage_snapshot_task.delay()
    except Exception:
        # The change is committed and the page shows it; a snapshot that could not be queued
        # (the broker is down) must not turn the publish into an error. The next change, or
        # the periodic refresh, writes it.
        logger.exception("Could not queue the status page snapshot; the previous one stays.")
