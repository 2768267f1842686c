from portal.celery import firebreak_task

from .services import incident_notify_team


@firebreak_task()
def incident_notify_team_task(event_id: int) -> None:
    """Tell the owning team about one timeline event (safe to run twice)."""
    incident_notify_team(event_id=event_id)
