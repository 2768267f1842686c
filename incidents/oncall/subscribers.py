"""What on-call does about the incident core's events (registered in OncallConfig.ready).

Engaging people is durable work: a row written with the change that opened the incident, run
by a worker, so a broker that is down or a worker that dies never leaves an incident unpaged.
It runs on the `paging` queue, most severe incidents first (docs/ARCHITECTURE.md, "Queues and
priorities").
Stopping escalation is part of the change itself: it commits or rolls back with it.
"""

from incidents.events import (
    IncidentAcknowledged,
    IncidentOpened,
    IncidentReopened,
    IncidentResolved,
    IncidentSeverityChanged,
    IncidentWorkStarted,
)
from portal.events import subscribe

from .paging import incident_engage, incident_escalation_cancel, incident_escalation_replan


@subscribe(
    IncidentOpened,
    name="oncall.engage",
    durable=True,
    queue="paging",
    priority=IncidentOpened.severity_rank,
)
def engage_opened(event: IncidentOpened) -> str:
    return incident_engage(incident_id=event.incident_id)


@subscribe(
    IncidentReopened,
    name="oncall.engage_reopened",
    durable=True,
    queue="paging",
    priority=IncidentReopened.severity_rank,
)
def engage_reopened(event: IncidentReopened) -> str:
    return incident_engage(incident_id=event.incident_id)


def _stop_escalating(event: IncidentAcknowledged | IncidentWorkStarted | IncidentResolved) -> None:
    incident_escalation_cancel(incident=event.locked_incident())


subscribe(IncidentAcknowledged, name="oncall.stop_escalating", durable=False)(_stop_escalating)
subscribe(IncidentWorkStarted, name="oncall.stop_escalating", durable=False)(_stop_escalating)
subscribe(IncidentResolved, name="oncall.stop_escalating", durable=False)(_stop_escalating)


@subscribe(IncidentSeverityChanged, name="oncall.replan", durable=False)
def replan(event: IncidentSeverityChanged) -> None:
    incident_escalation_replan(incident=event.locked_incident())
