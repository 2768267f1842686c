"""What postmortems do about the incident core's events, and their rule on closing.

Registered in PostmortemsConfig.ready(); the incident core imports nothing of this app.
"""

from incidents.events import IncidentReopened, IncidentResolved
from incidents.guards import close_guard
from incidents.models import Incident
from portal.events import subscribe

from .selectors import postmortem_close_blocker
from .services.postmortems import postmortem_incident_reopened, postmortem_incident_resolved


@subscribe(IncidentResolved, name="postmortems.incident_resolved", durable=False)
def incident_resolved(event: IncidentResolved) -> None:
    # The peak severity decides whether a postmortem is required; an existing one (also one
    # started by hand) gets its due date from this resolution.
    postmortem_incident_resolved(incident=event.locked_incident(), actor=event.actor)


@subscribe(IncidentReopened, name="postmortems.incident_reopened", durable=False)
def incident_reopened(event: IncidentReopened) -> None:
    postmortem_incident_reopened(incident=event.locked_incident())


@close_guard
def postmortem_outstanding(incident: Incident) -> str:
    """A P1/P2 (by peak severity) closes only once its postmortem is published."""
    return postmortem_close_blocker(incident=incident)
