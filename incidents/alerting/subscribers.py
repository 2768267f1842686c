"""What alerting does about the incident core's events (registered in AlertingConfig.ready).

A grouping (an alert storm, a grouping rule's incident) follows its incident: alerts stop
joining it when the incident resolves, and join it again when the incident is reopened
(docs/ARCHITECTURE.md, Storms, grouping rules and flapping).
"""

from datetime import datetime

from incidents.events import IncidentReopened, IncidentResolved
from portal.events import subscribe

from .services.grouping import grouping_close_for_incident, grouping_reopen_for_incident


@subscribe(IncidentResolved, name="alerting.close_grouping", durable=False)
def close_grouping(event: IncidentResolved) -> None:
    # The next alerts count towards a new storm, or open a new grouped incident.
    grouping_close_for_incident(event.incident_id, datetime.fromisoformat(event.at))


@subscribe(IncidentReopened, name="alerting.reopen_grouping", durable=False)
def reopen_grouping(event: IncidentReopened) -> None:
    grouping_reopen_for_incident(event.incident_id)
