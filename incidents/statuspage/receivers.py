"""Keep the static snapshot in step with the public status: one refresh after every change."""

from typing import Any

from django.dispatch import receiver

from portal.celery import enqueue

from .snapshot import snapshot_directory
from .version import status_changed

# Named, like every wake-up (portal.celery.enqueue); StatuspageConfig.ready() imports the module.
SNAPSHOT_TASK = "incidents.statuspage.snapshot_tasks.statuspage_snapshot_task"


@receiver(status_changed, dispatch_uid="statuspage-snapshot-refresh")
def snapshot_on_status_changed(sender: Any, **kwargs: Any) -> None:
    """Queue a snapshot refresh after a change to the public status has been committed.

    A refresh that could not be queued (the broker is down) must not turn the publish into an
    error: the change is committed and the page shows it; the next change, or the periodic
    refresh, writes the snapshot.
    """
    if snapshot_directory() is None:
        return
    enqueue(SNAPSHOT_TASK)
