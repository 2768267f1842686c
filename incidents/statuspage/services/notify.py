"""Handing public changes to the subscriber fan-out, durably, once the publish commits."""

from django.utils import timezone

from portal.models import Timer
from portal.timers import timer_handler, timer_schedule

FANOUT = "statuspage.fanout"


def subscribers_notify_on_commit(*, event_key: str) -> None:
    """Have subscribers told about the event once the caller's transaction commits.

    Event keys: `update:<public update pk>`, `component:<status change pk>`,
    `maintenance:<public incident pk>:<start, unix time>` (the reminder before it starts).
    The fan-out is a timer written in the publishing transaction, so a broker that is down when
    the publish commits neither fails the publish nor loses the notification: the timer sweep
    fires it when the wake-up message never arrives.
    """
    timer_schedule(
        kind=FANOUT,
        key=f"{FANOUT}:{event_key}",
        due_at=timezone.now(),
        payload={"event": event_key},
    )


@timer_handler(FANOUT)
def fire_fanout(timer: Timer) -> str:
    """Create the event's deliveries; sending them runs on the default queue."""
    # Imported here: the fan-out imports the models and services of this app.
    from incidents.statuspage.subscriptions import subscribers_notify

    return f"{subscribers_notify(event_key=timer.payload['event'])} deliveries"
