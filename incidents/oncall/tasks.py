"""Background work of on-call: engaging people when an incident opens (on the `paging` queue)."""

from portal.celery import firebreak_task

from .paging import incident_engage


@firebreak_task()
def incident_engage_task(incident_id: int) -> str:
    """Engage people for an incident per its severity (safe to run twice)."""
    return incident_engage(incident_id=incident_id)
