"""Maintenance that runs itself: the timers that start it, complete it and remind subscribers.

Each handler re-reads the maintenance and does nothing when the timer no longer applies: the
window moved (the payload's window differs), someone already moved it by hand, or the timer is a
late duplicate. The moves themselves are the same services people use.
"""

from django.db import transaction

from portal.models import Timer
from portal.timers import timer_handler

from .models import PublicIncident, PublicIncidentStatus
from .services.maintenance import (
    MAINTENANCE_COMPLETE,
    MAINTENANCE_REMINDER,
    MAINTENANCE_START,
    maintenance_transition,
)
from .services.notify import subscribers_notify_on_commit

P = PublicIncidentStatus


def _current(timer: Timer) -> tuple[PublicIncident | None, str]:
    """Return the maintenance the timer is for, or None with the reason it no longer applies."""
    maintenance = (
        PublicIncident.objects.filter(
            pk=timer.payload["maintenance_id"], kind=PublicIncident.Kind.MAINTENANCE
        )
        .select_for_update()
        .first()
    )
    if maintenance is None:
        return None, "maintenance gone"
    assert maintenance.scheduled_for is not None and maintenance.scheduled_until is not None
    window = (maintenance.scheduled_for.isoformat(), maintenance.scheduled_until.isoformat())
    if window != (timer.payload["scheduled_for"], timer.payload["scheduled_until"]):
        return None, "rescheduled"
    return maintenance, ""


@timer_handler(MAINTENANCE_START)
def fire_maintenance_start(timer: Timer) -> str:
    """Start a scheduled maintenance at its window's start."""
    with transaction.atomic():
        maintenance, why_not = _current(timer)
        if maintenance is None:
            return why_not
        if maintenance.status != P.SCHEDULED:
            return f"already {maintenance.status}"
        if not maintenance.auto_transition:
            return "started by hand"
        maintenance_transition(maintenance=maintenance, status=P.IN_PROGRESS, actor=None)
    return "started"


@timer_handler(MAINTENANCE_COMPLETE)
def fire_maintenance_complete(timer: Timer) -> str:
    """Complete a maintenance at its window's end, giving its components back."""
    with transaction.atomic():
        maintenance, why_not = _current(timer)
        if maintenance is None:
            return why_not
        if maintenance.status == P.COMPLETED:
            return "already completed"
        if not maintenance.auto_transition:
            return "completed by hand"
        if maintenance.status == P.SCHEDULED:
            # The start was missed (its timer failed): still say it ran, then that it is done.
            maintenance_transition(maintenance=maintenance, status=P.IN_PROGRESS, actor=None)
        maintenance_transition(maintenance=maintenance, status=P.COMPLETED, actor=None)
    return "completed"


@timer_handler(MAINTENANCE_REMINDER)
def fire_maintenance_reminder(timer: Timer) -> str:
    """Remind subscribers of a maintenance that is about to start."""
    with transaction.atomic():
        maintenance, why_not = _current(timer)
        if maintenance is None:
            return why_not
        if maintenance.status != P.SCHEDULED:
            return f"not reminded: {maintenance.status}"
        # The window in the key: a rescheduled maintenance reminds its subscribers again.
        assert maintenance.scheduled_for is not None
        window = int(maintenance.scheduled_for.timestamp())
        subscribers_notify_on_commit(event_key=f"maintenance:{maintenance.pk}:{window}")
    return "subscribers reminded"
