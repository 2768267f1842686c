"""Domain events: how a service tells the rest of the product that something happened.

A service publishes a typed event inside the transaction that made the change::

    events.publish(IncidentAcknowledged(incident_id=incident.pk, ...))

and the apps that care subscribe to it in their `AppConfig.ready()`, in one of two ways:

- **in the transaction** (`durable=False`): the subscriber runs at once, inside the publishing
  transaction, and commits or rolls back with the change (cancelling escalation steps when an
  incident is acknowledged, say). It must not talk to the outside world.
- **durable** (`durable=True`): the subscriber's work is written as a timer row in the
  publishing transaction (kind `event.<subscriber name>`, due now) and run by a worker under the
  timers' rules (portal.timers): claimed with a lease, its outcome recorded in the transaction of
  its own writes, retried with backoff when it fails, taken over when its worker dies. A broker
  message is only ever a wake-up: if the broker is down when the change commits, the next timer
  sweep runs it. Nothing a committed change asked for is lost, and none of it is done twice.
  Its timers go to the subscriber's `queue` ("default" unless it says "paging" or "jobs"), each
  with the `priority` the subscriber gives the event (0 the most urgent; 9 unless it says).

The publisher imports no subscriber: the core stays ignorant of the apps that follow it. See
docs/ARCHITECTURE.md, "Events".
"""

import dataclasses
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from django.db import connection
from django.utils import timezone

from portal.models import Timer
from portal.timers import PRIORITY_NONE, timer_handler, timer_schedule

logger = logging.getLogger(__name__)

DURABLE_PREFIX = "event."


@dataclass(frozen=True, kw_only=True)
class Event:
    """A fact about the domain, named in the past tense; fields are JSON values.

    A field declared with `transient()` carries an object for in-transaction subscribers (the
    locked incident, say) and is not stored for durable ones, which read what they need.
    """

    name: ClassVar[str] = ""

    def payload(self) -> dict[str, Any]:
        """Return the stored fields (transient ones left out)."""
        return {
            item.name: getattr(self, item.name)
            for item in dataclasses.fields(self)
            if not item.metadata.get("transient")
        }


def transient(default: Any = None) -> Any:
    """Declare a field that in-transaction subscribers get and durable ones do not."""
    return dataclasses.field(
        default=default, compare=False, repr=False, metadata={"transient": True}
    )


E = TypeVar("E", bound=Event)
Handler = Callable[[Any], "str | None"]

_types: dict[str, type[Event]] = {}


def event_type(cls: type[E]) -> type[E]:
    """Register an event class under its `name`, so a stored event can be read back."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a name.")
    if _types.get(cls.name, cls) is not cls:
        raise ValueError(f"Event name {cls.name!r} is taken by {_types[cls.name].__name__}.")
    _types[cls.name] = cls
    return cls


@dataclass(frozen=True)
class Subscriber:
    name: str
    event: type[Event]
    func: Handler
    durable: bool
    when: Callable[[Any], bool] | None = None
    priority: Callable[[Any], int] | None = None


_subscribers: dict[type[Event], list[Subscriber]] = {}
_durable: dict[str, Subscriber] = {}


def subscribe(
    event: type[E],
    *,
    name: str,
    durable: bool,
    when: Callable[[E], bool] | None = None,
    queue: str = Timer.Queue.DEFAULT,
    priority: Callable[[E], int] | None = None,
) -> Callable[[Callable[[E], "str | None"]], Callable[[E], "str | None"]]:
    """Register the decorated function for every published `event`.

    `name` identifies the subscriber (durable ones are stored under it: keep it stable). `when`
    is asked at publishing time, inside the transaction, and skips events the subscriber does
    not need, so no row is written for them. A durable subscriber returns a short outcome text;
    its work goes to `queue`, with the priority that `priority` (asked at publishing time too,
    with the event's transient fields at hand) gives the event, else 9.
    """
    if not durable and (queue != Timer.Queue.DEFAULT or priority is not None):
        raise ValueError(f"{name}: only a durable subscriber has a queue and a priority.")

    def register(func: Callable[[E], "str | None"]) -> Callable[[E], "str | None"]:
        subscriber = Subscriber(
            name=name, event=event, func=func, durable=durable, when=when, priority=priority
        )
        existing = [s for s in _subscribers.get(event, []) if s.name != name]
        _subscribers[event] = [*existing, subscriber]
        if durable:
            kind = DURABLE_PREFIX + name
            if len(kind) > Timer._meta.get_field("kind").max_length:  # type: ignore[operator]
                raise ValueError(f"Subscriber name {name!r} is too long to be stored.")
            _durable[name] = subscriber
            timer_handler(kind, queue=queue)(_run_durable)
        return func

    return register


class NotInTransaction(RuntimeError):
    """An event was published outside a transaction: nothing would tie its work to the change."""


def publish(event: Event) -> None:
    """Hand the event to its subscribers, inside the caller's transaction.

    In-transaction subscribers run now, in registration order (an exception rolls the change
    back); durable ones get a timer row each, committed with the change.
    """
    if not connection.in_atomic_block:
        raise NotInTransaction(f"Publish {event.name} inside the transaction that made it true.")
    stored: dict[str, Any] | None = None
    event_id = uuid.uuid4().hex
    for subscriber in _subscribers.get(type(event), ()):
        if subscriber.when is not None and not subscriber.when(event):
            continue
        if not subscriber.durable:
            subscriber.func(event)
            continue
        if stored is None:
            stored = event.payload()
        timer_schedule(
            kind=DURABLE_PREFIX + subscriber.name,
            key=f"event-{event_id}:{subscriber.name}",
            due_at=timezone.now(),
            payload={"subscriber": subscriber.name, "event": event.name, "data": stored},
            fresh=True,
            priority=PRIORITY_NONE if subscriber.priority is None else subscriber.priority(event),
        )


def event_load(name: str, data: dict[str, Any]) -> Event:
    """Return the event stored as `name` with its fields `data`."""
    cls = _types[name]
    known = {item.name for item in dataclasses.fields(cls)}
    return cls(**{key: value for key, value in data.items() if key in known})


def _run_durable(timer: Timer) -> str:
    """Fire a durable subscriber's timer: read the event back and hand it over."""
    subscriber = _durable.get(timer.payload.get("subscriber", ""))
    if subscriber is None:
        logger.error("timer %s: no subscriber %r", timer.key, timer.payload.get("subscriber"))
        return "no such subscriber"
    event = event_load(timer.payload["event"], timer.payload["data"])
    return subscriber.func(event) or "done"
