"""Reads of the incidents domain."""

from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db.models import Max, Prefetch, Q, QuerySet
from django.utils import timezone

from portal.auth import RESPONDERS, AnyUser

from .guards import close_blocker
from .models import (
    OPEN_STATUSES,
    Incident,
    IncidentRole,
    IncidentStatus,
    RoleAssignment,
    Service,
    Severity,
    StatusUpdate,
    Team,
    TimelineEvent,
)
from .policies import Action, can
from .services.lifecycle import transition_allowed


def _current_roles_prefetch() -> Prefetch:
    return Prefetch(
        "role_assignments",
        queryset=RoleAssignment.objects.filter(ended_at__isnull=True).select_related("user"),
        to_attr="current_role_assignments",
    )


def _with_page_data(qs: QuerySet[Incident]) -> QuerySet[Incident]:
    return (
        qs.select_related("severity", "peak_severity", "team", "declared_by")
        .prefetch_related(_current_roles_prefetch())
        .annotate(last_update_at=Max("status_updates__posted_at"))
    )


def incident_list(
    *,
    status: str | None = None,
    severity: str | None = None,
    team: str | None = None,
    service: str | None = None,
    open_only: bool = False,
) -> QuerySet[Incident]:
    """Return incidents, newest first, filtered by status, severity code, team and service slug."""
    qs = _with_page_data(Incident.objects.prefetch_related("services"))
    if status:
        qs = qs.filter(status=status)
    if open_only:
        qs = qs.filter(status__in=OPEN_STATUSES)
    if severity:
        qs = qs.filter(severity__code=severity)
    if team:
        qs = qs.filter(team__slug=team)
    if service:
        qs = qs.filter(services__slug=service)
    # The aggregate groups the query, and Django drops Meta.ordering on grouped queries.
    return qs.order_by("-detected_at", "-id")


def incident_get(*, pk: int) -> Incident:
    """Return one incident with what its page needs, or raise Incident.DoesNotExist."""
    return _with_page_data(Incident.objects.prefetch_related("services__links")).get(pk=pk)


def incident_timeline(*, incident: Incident) -> QuerySet[TimelineEvent]:
    """Return the incident's timeline in event-time order."""
    return incident.timeline.select_related("actor", "corrects").order_by("occurred_at", "id")


def incident_status_updates(*, incident: Incident) -> QuerySet[StatusUpdate]:
    """Return the incident's internal status updates, newest first."""
    return incident.status_updates.select_related("author")


def incident_current_roles(*, incident: Incident) -> dict[str, RoleAssignment]:
    """Return the current holder of each role, keyed by role (from a list's prefetch if any)."""
    assignments = getattr(incident, "current_role_assignments", None)
    if assignments is None:
        assignments = RoleAssignment.objects.filter(
            incident=incident, ended_at__isnull=True
        ).select_related("user")
    return {assignment.role: assignment for assignment in assignments}


def incident_commander(incident: Incident) -> RoleAssignment | None:
    """Return the current Incident Commander's assignment, if there is one."""
    return incident_current_roles(incident=incident).get(IncidentRole.COMMANDER)


def incident_needs_commander(incident: Incident) -> bool:
    """Return whether the incident is past acknowledged, still open, and has no IC."""
    past_ack = incident.status in (IncidentStatus.INVESTIGATING, IncidentStatus.MITIGATED)
    return past_ack and incident_commander(incident) is None


def incident_next_update_due(incident: Incident) -> datetime | None:
    """Return when the next internal status update is due, from the severity's cadence."""
    interval = incident.severity.update_interval
    if interval is None or not incident.is_open or incident.status == IncidentStatus.TRIGGERED:
        return None
    last = getattr(incident, "last_update_at", None)
    if last is None and not hasattr(incident, "last_update_at"):
        last = incident.status_updates.aggregate(last=Max("posted_at"))["last"]
    start = last or incident.acknowledged_at or incident.detected_at
    return start + interval


def incident_update_overdue(incident: Incident, *, now: datetime | None = None) -> bool:
    """Return whether the next status update is past due."""
    due = incident_next_update_due(incident)
    return due is not None and (now or timezone.now()) > due


@dataclass(frozen=True)
class AllowedActions:
    acknowledge: bool
    start_investigating: bool
    mitigate: bool
    resolve: bool
    reopen: bool
    close: bool
    change_severity: bool
    assign_role: bool
    take_role: bool
    status_update: bool
    note: bool
    edit_details: bool


def incident_allowed_actions(*, user: AnyUser, incident: Incident) -> AllowedActions:
    """Return which actions the user may take on the incident right now (for offering forms)."""
    closed = incident.status == IncidentStatus.CLOSED
    return AllowedActions(
        acknowledge=incident.status == IncidentStatus.TRIGGERED
        and can(user, Action.ACKNOWLEDGE, incident),
        start_investigating=incident.status != IncidentStatus.RESOLVED
        and transition_allowed(incident, IncidentStatus.INVESTIGATING)
        and can(user, Action.START_INVESTIGATING, incident),
        mitigate=transition_allowed(incident, IncidentStatus.MITIGATED)
        and can(user, Action.MITIGATE, incident),
        resolve=transition_allowed(incident, IncidentStatus.RESOLVED)
        and can(user, Action.RESOLVE, incident),
        reopen=incident.status == IncidentStatus.RESOLVED and can(user, Action.REOPEN, incident),
        close=transition_allowed(incident, IncidentStatus.CLOSED)
        and not close_blocker(incident)
        and can(user, Action.CLOSE, incident),
        change_severity=not closed and can(user, Action.CHANGE_SEVERITY, incident),
        assign_role=not closed and can(user, Action.ASSIGN_ROLE, incident),
        take_role=not closed and can(user, Action.TAKE_ROLE, incident),
        status_update=not closed and can(user, Action.STATUS_UPDATE, incident),
        note=can(user, Action.NOTE, incident),
        edit_details=not closed and can(user, Action.EDIT_DETAILS, incident),
    )


def severity_list() -> QuerySet[Severity]:
    """Return the severity policy, most severe first."""
    return Severity.objects.order_by("rank")


def team_list() -> QuerySet[Team]:
    """Return all teams with their people."""
    return Team.objects.prefetch_related("members", "engineering_managers").select_related(
        "escalation_contact"
    )


def service_list() -> QuerySet[Service]:
    """Return the service catalog with owning teams and links."""
    return Service.objects.select_related("team").prefetch_related("links")


def responder_choices() -> QuerySet:
    """Return active users who may hold an incident role."""
    user_model = get_user_model()
    return (
        user_model.objects.filter(is_active=True)
        .filter(Q(groups__name=RESPONDERS) | Q(is_staff=True) | Q(is_superuser=True))
        .distinct()
        .order_by("username")
    )


def incident_close_blocker(*, incident: Incident) -> str:
    """Return why the incident cannot be closed yet (a registered guard's reason), or ""."""
    return close_blocker(incident)
