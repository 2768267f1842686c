"""What the status page does about events: the core's, and its own (StatuspageConfig.ready).

A P1/P2 with nothing public after five minutes reminds its IC and Communicator: the reminder is
a timer planned in the transaction that opened (or raised) the incident, and cancelled in the
one that resolved it.
"""

from datetime import datetime

from incidents.events import IncidentOpened, IncidentResolved, IncidentSeverityChanged
from portal.events import subscribe

from .events import StatusPublished
from .reminders import initial_update_reminder_cancel, initial_update_reminder_schedule
from .subscriptions import subscribers_notify


@subscribe(IncidentOpened, name="statuspage.initial_update_reminder", durable=False)
def remind_when_opened(event: IncidentOpened) -> None:
    initial_update_reminder_schedule(incident=event.locked_incident())


@subscribe(
    IncidentSeverityChanged,
    name="statuspage.initial_update_reminder",
    durable=False,
    when=lambda event: event.raised,
)
def remind_when_raised(event: IncidentSeverityChanged) -> None:
    initial_update_reminder_schedule(
        incident=event.locked_incident(), since=datetime.fromisoformat(event.at)
    )


@subscribe(IncidentResolved, name="statuspage.initial_update_reminder", durable=False)
def forget_when_resolved(event: IncidentResolved) -> None:
    initial_update_reminder_cancel(incident=event.locked_incident())


@subscribe(StatusPublished, name="statuspage.fanout", durable=True)
def fan_out(event: StatusPublished) -> str:
    """Create the change's deliveries to subscribers; sending them runs on the default queue."""
    return f"{subscribers_notify(event_key=event.event_key)} deliveries"
