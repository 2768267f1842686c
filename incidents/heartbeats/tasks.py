"""Background work of heartbeats: the check that opens an incident for each missed heartbeat.

Sent by the beat (`heartbeats-check`, at the timer sweep's cadence) to the `paging` queue.
No retries: the next beat runs the check again, and a miss is a row, not a message.
"""

from portal.celery import firebreak_task

from .services import heartbeats_check


@firebreak_task(max_retries=0)
def heartbeats_check_task() -> int:
    """Open an incident for every heartbeat missed by now; return how many were opened."""
    return len(heartbeats_check())
