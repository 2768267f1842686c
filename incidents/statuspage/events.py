"""The status page's domain events (see portal.events)."""

from dataclasses import dataclass

from portal.events import Event, event_type


@event_type
@dataclass(frozen=True, kw_only=True)
class StatusPublished(Event):
    """Something public changed that subscribers hear of.

    `event_key`: `update:<public update pk>`, `component:<status change pk>`, or
    `maintenance:<public incident pk>:<start, unix time>` (the reminder before it starts).
    """

    name = "statuspage.published"
    event_key: str
