"""The incident lifecycle: one service per transition of the table in docs/ARCHITECTURE.md.

Every transition runs in one transaction on the incident row taken with `select_for_update()`,
checks the actor's permission and the transition map, writes its timeline event and publishes
its domain event (incidents.events) in the same transaction. What other apps do about it
(paging, reminders, postmortems) is theirs to subscribe to. Asking for the state the incident
is already in returns it unchanged.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import cast

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from portal import events
from portal.auth import AnyUser, is_responder
from portal.errors import ApplicationError, InvalidInputError
from portal.people import display_name

from ..events import (
    IncidentAcknowledged,
    IncidentClosed,
    IncidentMitigated,
    IncidentOpened,
    IncidentReopened,
    IncidentResolved,
    IncidentSeverityChanged,
    IncidentWorkStarted,
    incident_event_fields,
)
from ..guards import close_blocker
from ..models import (
    Incident,
    IncidentRole,
    IncidentStatus,
    RoleAssignment,
    Service,
    Severity,
    Source,
    Team,
    TimelineEvent,
)
from ..policies import Action, require
from .timeline import timeline_record

S = IncidentStatus

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.TRIGGERED: frozenset({S.ACKNOWLEDGED, S.INVESTIGATING, S.RESOLVED}),
    S.ACKNOWLEDGED: frozenset({S.INVESTIGATING, S.MITIGATED, S.RESOLVED}),
    S.INVESTIGATING: frozenset({S.MITIGATED, S.RESOLVED}),
    S.MITIGATED: frozenset({S.INVESTIGATING, S.RESOLVED}),
    # Back to triggered only when an alert reopens it (incident_reopen without an actor).
    S.RESOLVED: frozenset({S.TRIGGERED, S.INVESTIGATING, S.CLOSED}),
    S.CLOSED: frozenset(),
}


class TransitionNotAllowed(ApplicationError):
    """The incident's current status does not allow the requested change."""

    def __init__(self, message: str, *, incident: Incident, requested: str = "") -> None:
        super().__init__(message, extra={"status": incident.status, "requested": requested})


def transition_allowed(incident: Incident, to_status: str) -> bool:
    """Return whether the transition map allows moving the incident to `to_status`."""
    return to_status in ALLOWED_TRANSITIONS[incident.status]


def _lock(incident: Incident) -> Incident:
    """Re-read the incident under a row lock, so concurrent transitions queue up.

    The lock query joins nothing: PostgreSQL re-checks a locked row's joins against the rows
    it first read, so a join with the severity would find no row once a concurrent change of
    severity committed, and locking the joined rows too would make transitions of different
    incidents of one severity wait for each other. The severities are read after the lock.
    """
    locked = Incident.objects.select_for_update().get(pk=incident.pk)
    severities = Severity.objects.in_bulk({locked.severity_id, locked.peak_severity_id})
    locked.severity = severities[locked.severity_id]
    locked.peak_severity = severities[locked.peak_severity_id]
    return locked


def _check_transition(incident: Incident, to_status: str) -> None:
    if not transition_allowed(incident, to_status):
        raise TransitionNotAllowed(
            f"{incident.reference} is {incident.get_status_display().lower()}; "
            f"it can't move to {IncidentStatus(to_status).label.lower()} from there.",
            incident=incident,
            requested=to_status,
        )


def _move(
    incident: Incident,
    *,
    to_status: str,
    kind: str,
    actor: AnyUser | None,
    source: str,
    at: datetime,
    message: str = "",
) -> TimelineEvent:
    from_status = incident.status
    incident.status = to_status
    incident.save()
    return timeline_record(
        incident=incident,
        kind=kind,
        actor=actor,
        source=source,
        occurred_at=at,
        from_value=from_status,
        to_value=to_status,
        message=message,
    )


def _bridge_url_for(incident: Incident) -> str:
    template = settings.FIREBREAK_BRIDGE_URL_TEMPLATE
    return template.format(number=incident.pk, reference=incident.reference) if template else ""


def _team_id_for(team: Team | None, services: list[Service]) -> int | None:
    """Return the owning team: the one given, else the first service's (by id: no query)."""
    if team is not None:
        return team.pk
    return services[0].team_id if services else None


def incident_declare(
    *,
    actor: AnyUser,
    title: str,
    severity: Severity,
    services: Iterable[Service] = (),
    team: Team | None = None,
    summary: str = "",
    impact: str = "",
    users_affected_pct: int | None = None,
    regions: Iterable[str] = (),
    customer_facing: bool = True,
    bridge_url: str = "",
    commander: AnyUser | None = None,
    impact_started_at: datetime | None = None,
    source: str = Source.WEB,
    at: datetime | None = None,
) -> Incident:
    """Declare an incident: it starts investigating, acknowledged by its declarer, with an IC."""
    require(actor, Action.DECLARE)
    title = title.strip()
    if not title:
        raise InvalidInputError("Give the incident a title.", field="title")
    at = at or timezone.now()
    impact_started_at = impact_started_at or at
    if impact_started_at > at:
        raise InvalidInputError(
            "Impact can't start after the incident is declared.", field="impact_started_at"
        )
    commander = commander or actor
    if not commander.is_active or not is_responder(commander):
        raise InvalidInputError(
            f"{commander} is not a responder and can't be Incident Commander.", field="commander"
        )
    service_list = list(services)
    with transaction.atomic():
        incident = Incident.objects.create(
            title=title,
            summary=summary,
            severity=severity,
            peak_severity=severity,
            team_id=_team_id_for(team, service_list),
            impact=impact,
            users_affected_pct=users_affected_pct,
            regions=[r.strip() for r in regions if r.strip()],
            customer_facing=customer_facing,
            bridge_url=bridge_url,
            source=source,
            declared_by=cast(User, actor),
            status=S.INVESTIGATING,
            impact_started_at=impact_started_at,
            detected_at=at,
            acknowledged_at=at,
        )
        if not incident.bridge_url and settings.FIREBREAK_BRIDGE_URL_TEMPLATE:
            incident.bridge_url = _bridge_url_for(incident)
            incident.save(update_fields=["bridge_url"])
        incident.services.add(*service_list)
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.DECLARED,
            actor=actor,
            source=source,
            occurred_at=at,
            to_value=S.INVESTIGATING,
            message=f"Declared {severity.code}: {title}",
            data={"severity": severity.code},
        )
        RoleAssignment.objects.create(
            incident=incident,
            role=IncidentRole.COMMANDER,
            user=commander,
            assigned_by=cast(User, actor),
            started_at=at,
        )
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.ROLE_ASSIGNED,
            actor=actor,
            source=source,
            occurred_at=at,
            to_value=IncidentRole.COMMANDER,
            message=f"{display_name(commander)} is Incident Commander",
            data={"role": IncidentRole.COMMANDER, "user": commander.get_username()},
        )
        events.publish(
            IncidentOpened(
                **incident_event_fields(incident, at=at, actor=actor, source=source),
                how="declared",
                severity=severity.code,
            )
        )
    return incident


def incident_trigger(
    *,
    title: str,
    severity: Severity,
    services: Iterable[Service] = (),
    team: Team | None = None,
    summary: str = "",
    source: str = Source.ALERT,
    at: datetime | None = None,
    impact_started_at: datetime | None = None,
) -> Incident:
    """Open an incident from an alert: it waits in triggered until someone acknowledges it."""
    at = at or timezone.now()
    service_list = list(services)
    # All or nothing with the caller's ingestion; no savepoint of its own (a round trip less).
    with transaction.atomic(savepoint=False):
        incident = Incident.objects.create(
            title=title.strip()[:200] or "Untitled alert",
            summary=summary,
            severity=severity,
            peak_severity=severity,
            team_id=_team_id_for(team, service_list),
            source=source,
            status=S.TRIGGERED,
            impact_started_at=min(impact_started_at or at, at),
            detected_at=at,
        )
        if settings.FIREBREAK_BRIDGE_URL_TEMPLATE:
            incident.bridge_url = _bridge_url_for(incident)
            incident.save(update_fields=["bridge_url"])
        incident.services.add(*service_list)
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.TRIGGERED,
            actor=None,
            source=source,
            occurred_at=at,
            to_value=S.TRIGGERED,
            message=f"Triggered {severity.code}: {incident.title}",
            data={"severity": severity.code},
        )
        events.publish(
            IncidentOpened(
                **incident_event_fields(incident, at=at, source=source),
                how="triggered",
                severity=severity.code,
            )
        )
    return incident


def incident_acknowledge(
    *,
    incident: Incident,
    actor: AnyUser | None,
    source: str = Source.WEB,
    at: datetime | None = None,
) -> Incident:
    """Acknowledge a triggered incident; acknowledging it again changes nothing.

    With no actor, the alert source acknowledged it (a PagerDuty `acknowledge` event).
    """
    if actor is None:
        if source != Source.ALERT:
            raise InvalidInputError("Only an alert source acknowledges without a person.")
    else:
        require(actor, Action.ACKNOWLEDGE, incident)
    with transaction.atomic():
        incident = _lock(incident)
        if incident.status == S.ACKNOWLEDGED:
            return incident
        _check_transition(incident, S.ACKNOWLEDGED)
        at = at or timezone.now()
        if incident.acknowledged_at is None:
            # Reopened by its alert, it keeps its first acknowledgement (MTTA).
            incident.acknowledged_at = at
        _move(
            incident,
            to_status=S.ACKNOWLEDGED,
            kind=TimelineEvent.Kind.ACKNOWLEDGED,
            actor=actor,
            source=source,
            at=at,
            message=f"Acknowledged by {display_name(actor)}"
            if actor
            else "Acknowledged by the alert source",
        )
        events.publish(
            IncidentAcknowledged(
                **incident_event_fields(incident, at=at, actor=actor, source=source)
            )
        )
    return incident


def incident_start_investigating(
    *,
    incident: Incident,
    actor: AnyUser,
    reason: str = "",
    source: str = Source.WEB,
    at: datetime | None = None,
) -> Incident:
    """Start (or, after a mitigation that did not hold, resume) investigating."""
    require(actor, Action.START_INVESTIGATING, incident)
    with transaction.atomic():
        incident = _lock(incident)
        if incident.status == S.INVESTIGATING:
            return incident
        if incident.status == S.RESOLVED:
            raise TransitionNotAllowed(
                f"{incident.reference} is resolved; reopen it to investigate again.",
                incident=incident,
                requested=S.INVESTIGATING,
            )
        _check_transition(incident, S.INVESTIGATING)
        if incident.status == S.MITIGATED and not reason.strip():
            raise InvalidInputError("Say why the mitigation did not hold.", field="reason")
        at = at or timezone.now()
        if incident.acknowledged_at is None:
            # Starting work on a triggered incident acknowledges it.
            incident.acknowledged_at = at
        _move(
            incident,
            to_status=S.INVESTIGATING,
            kind=TimelineEvent.Kind.INVESTIGATING,
            actor=actor,
            source=source,
            at=at,
            message=reason.strip(),
        )
        events.publish(
            IncidentWorkStarted(
                **incident_event_fields(incident, at=at, actor=actor, source=source)
            )
        )
    return incident


def incident_mitigate(
    *,
    incident: Incident,
    actor: AnyUser,
    message: str = "",
    source: str = Source.WEB,
    at: datetime | None = None,
) -> Incident:
    """Mark the service restored by a fix or workaround, now being monitored."""
    require(actor, Action.MITIGATE, incident)
    with transaction.atomic():
        incident = _lock(incident)
        if incident.status == S.MITIGATED:
            return incident
        _check_transition(incident, S.MITIGATED)
        at = at or timezone.now()
        incident.mitigated_at = at
        _move(
            incident,
            to_status=S.MITIGATED,
            kind=TimelineEvent.Kind.MITIGATED,
            actor=actor,
            source=source,
            at=at,
            message=message.strip(),
        )
        events.publish(
            IncidentMitigated(**incident_event_fields(incident, at=at, actor=actor, source=source))
        )
    return incident


def incident_resolve(
    *,
    incident: Incident,
    actor: AnyUser | None,
    message: str = "",
    source: str = Source.WEB,
    at: datetime | None = None,
    even_if_acknowledged: bool = False,
) -> Incident:
    """Resolve the incident; with no actor, the alert source resolved an unacknowledged one.

    With `even_if_acknowledged`, the alert source also resolves an acknowledged one (PagerDuty
    Events v2: a `resolve` resolves the incident whoever acknowledged it); an incident people
    moved on to investigating or mitigated is still only resolved by them.
    """
    if actor is not None:
        require(actor, Action.RESOLVE, incident)
    unattended = {S.TRIGGERED, S.ACKNOWLEDGED} if even_if_acknowledged else {S.TRIGGERED}
    with transaction.atomic():
        incident = _lock(incident)
        if incident.status == S.RESOLVED:
            return incident
        if actor is None and incident.status not in unattended:
            raise TransitionNotAllowed(
                f"{incident.reference} is being worked; only its Incident Commander resolves it.",
                incident=incident,
                requested=S.RESOLVED,
            )
        _check_transition(incident, S.RESOLVED)
        at = at or timezone.now()
        incident.resolved_at = at
        if incident.mitigated_at is None:
            incident.mitigated_at = at
        _move(
            incident,
            to_status=S.RESOLVED,
            kind=TimelineEvent.Kind.RESOLVED,
            actor=actor,
            source=source,
            at=at,
            message=message.strip(),
        )
        events.publish(
            IncidentResolved(**incident_event_fields(incident, at=at, actor=actor, source=source))
        )
    return incident


def incident_reopen(
    *,
    incident: Incident,
    actor: AnyUser | None,
    reason: str,
    source: str = Source.WEB,
    at: datetime | None = None,
) -> Incident:
    """Reopen a resolved incident: back to investigating, its resolution time cleared.

    With no actor, its alert reopened it (it fired again within the flapping window): back to
    triggered, so it engages people as the new incident it replaces would have.
    """
    if actor is None:
        if source != Source.ALERT:
            raise InvalidInputError("Only an alert source reopens without a person.")
    else:
        require(actor, Action.REOPEN, incident)
    to_status = S.INVESTIGATING if actor is not None else S.TRIGGERED
    with transaction.atomic():
        incident = _lock(incident)
        if incident.status != S.RESOLVED:
            # Not a repeat of a state change: nothing was resolved, so there is nothing to reopen.
            raise TransitionNotAllowed(
                f"{incident.reference} is {incident.get_status_display().lower()}, not resolved; "
                "there is nothing to reopen.",
                incident=incident,
                requested="reopen",
            )
        if not reason.strip():
            raise InvalidInputError("Say why the incident is reopened.", field="reason")
        at = at or timezone.now()
        incident.resolved_at = None
        from_status = incident.status
        incident.status = to_status
        incident.save()
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.REOPENED,
            actor=actor,
            source=source,
            occurred_at=at,
            from_value=from_status,
            to_value=to_status,
            message=reason.strip(),
        )
        events.publish(
            IncidentReopened(**incident_event_fields(incident, at=at, actor=actor, source=source))
        )
    return incident


def incident_close(
    *,
    incident: Incident,
    actor: AnyUser,
    source: str = Source.WEB,
    at: datetime | None = None,
) -> Incident:
    """Close a resolved incident once no postmortem is outstanding.

    No postmortem is outstanding when the peak severity requires none, or when the required
    postmortem is published.
    """
    require(actor, Action.CLOSE, incident)
    with transaction.atomic():
        incident = _lock(incident)
        if incident.status == S.CLOSED:
            return incident
        _check_transition(incident, S.CLOSED)
        blocker = close_blocker(incident)
        if blocker:
            raise TransitionNotAllowed(blocker, incident=incident, requested=S.CLOSED)
        at = at or timezone.now()
        incident.closed_at = at
        _move(
            incident,
            to_status=S.CLOSED,
            kind=TimelineEvent.Kind.CLOSED,
            actor=actor,
            source=source,
            at=at,
        )
        events.publish(
            IncidentClosed(**incident_event_fields(incident, at=at, actor=actor, source=source))
        )
    return incident


def incident_change_severity(
    *,
    incident: Incident,
    actor: AnyUser | None,
    severity: Severity,
    reason: str = "",
    source: str = Source.WEB,
    at: datetime | None = None,
) -> Incident:
    """Change the severity; the peak severity keeps the most severe one ever set.

    With no actor, alert ingestion raised it: a more severe alert joined a grouped incident.
    """
    if actor is None:
        if source != Source.ALERT:
            raise InvalidInputError("Only alert ingestion changes the severity without a person.")
    else:
        require(actor, Action.CHANGE_SEVERITY, incident)
    with transaction.atomic():
        incident = _lock(incident)
        if incident.severity_id == severity.pk:
            return incident
        if incident.status == S.CLOSED:
            raise TransitionNotAllowed(
                f"{incident.reference} is closed; its severity is final.", incident=incident
            )
        at = at or timezone.now()
        old = incident.severity
        incident.severity = severity
        if severity.is_more_severe_than(incident.peak_severity):
            incident.peak_severity = severity
        incident.save()
        direction = "Raised" if severity.is_more_severe_than(old) else "Lowered"
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.SEVERITY_CHANGED,
            actor=actor,
            source=source,
            occurred_at=at,
            from_value=old.code,
            to_value=severity.code,
            message=f"{direction} severity {old.code} → {severity.code}"
            + (f": {reason.strip()}" if reason.strip() else ""),
        )
        events.publish(
            IncidentSeverityChanged(
                **incident_event_fields(incident, at=at, actor=actor, source=source),
                from_severity=old.code,
                to_severity=severity.code,
                raised=severity.is_more_severe_than(old),
            )
        )
    return incident


EDITABLE_DETAILS = (
    "title",
    "summary",
    "impact",
    "users_affected_pct",
    "regions",
    "customer_facing",
    "bridge_url",
    "impact_started_at",
)


def incident_update_details(
    *,
    incident: Incident,
    actor: AnyUser,
    source: str = Source.WEB,
    at: datetime | None = None,
    **changes: object,
) -> Incident:
    """Edit the incident's descriptive fields; the timeline records what changed (and when)."""
    require(actor, Action.EDIT_DETAILS, incident)
    unknown = set(changes) - set(EDITABLE_DETAILS)
    if unknown:
        raise InvalidInputError(
            f"{', '.join(sorted(unknown))} can't be edited here.", field=sorted(unknown)[0]
        )
    with transaction.atomic():
        incident = _lock(incident)
        changed: dict[str, list[str]] = {}
        for field, value in changes.items():
            if field == "title":
                value = str(value).strip()
                if not value:
                    raise InvalidInputError("Give the incident a title.", field="title")
            if field == "regions":
                value = [str(r).strip() for r in value if str(r).strip()]  # type: ignore[attr-defined]
            if field == "impact_started_at":
                if value is None:
                    value = incident.detected_at
                if value > incident.detected_at:  # type: ignore[operator]
                    raise InvalidInputError(
                        "Impact can't start after the incident was detected.",
                        field="impact_started_at",
                    )
            old = getattr(incident, field)
            if old != value:
                changed[field] = [_plain(old), _plain(value)]
                setattr(incident, field, value)
        if not changed:
            return incident
        incident.save()
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.DETAILS_CHANGED,
            actor=actor,
            source=source,
            occurred_at=at or timezone.now(),
            message="Changed " + ", ".join(f.replace("_", " ") for f in changed),
            data={"changes": changed},
        )
    return incident


def _plain(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)
