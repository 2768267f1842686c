"""Background work of the static snapshot (kept apart from tasks.py, the subscribers' queue work).

Celery discovers only `tasks` modules: receivers.py imports this one, and StatuspageConfig.ready()
imports receivers.py, so every worker registers the task.
"""

from portal.celery import firebreak_task

from .snapshot import FULL_RENDER_EVERY, KEEP_PAGES_AT_MOST, snapshot_directory, snapshot_refresh


@firebreak_task()
def statuspage_snapshot_task(periodic: bool = False) -> str:
    """Write the public pages to the snapshot directory unless it already shows this version.

    After a change it keeps the pages of unchanged incidents; the periodic run (beat) also
    renders every page again once a day, so that the runs after changes stay short.
    """
    directory = snapshot_directory()
    if directory is None:
        return "skipped: no snapshot directory is configured"
    full_every = FULL_RENDER_EVERY if periodic else KEEP_PAGES_AT_MOST
    written = snapshot_refresh(directory=directory, full_every=full_every)
    if written is None:
        return f"skipped: {directory} already shows the current status"
    return f"wrote {len(written)} files to {directory}"
