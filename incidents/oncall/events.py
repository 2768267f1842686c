"""The on-call app's domain events (see portal.events)."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from portal.events import Event, event_type, transient

if TYPE_CHECKING:
    from incidents.models import Incident


@event_type
@dataclass(frozen=True, kw_only=True)
class PagesCreated(Event):
    """Pages were written for an incident (one step's, in its transaction); not yet sent."""

    name = "oncall.pages_created"
    incident_id: int
    page_ids: list[int]
    incident: "Incident | None" = transient()
    pages: Any = transient()
