"""Hand-built rows for the checklist, toil and export tests (helper HB's; conftest is another's)."""

import itertools
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User

from incidents.alerting.models import Alert, AlertGroup, AlertSource
from incidents.health.metrics import Window
from incidents.models import Incident, IncidentStatus, Service, Severity, Source, Team
from incidents.oncall.models import Page, Schedule
from incidents.runbooks.models import Runbook, RunbookFlag
from postmortems.models import ActionItem, Postmortem

UTC = ZoneInfo("UTC")
_numbers = itertools.count(1)


def at(text: str) -> datetime:
    """Return an aware UTC datetime from "2026-11-02 10:00"."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def window(
    start: str,
    end: str,
    *,
    zone: str = "UTC",
    team: Team | None = None,
    service: Service | None = None,
    severity: str | None = None,
) -> Window:
    """Return a window [start, end) in UTC with the dashboard's filters."""
    return Window(
        start=at(start),
        end=at(end),
        zone=ZoneInfo(zone),
        team_id=team.pk if team else None,
        service_id=service.pk if service else None,
        severity_code=severity,
    )


def incident(
    *,
    code: str = "P3",
    detected: str = "2026-11-02 10:00",
    impact_started: str | None = None,
    acknowledged: str | None = None,
    resolved: str | None = "2026-11-02 11:00",
    status: str | None = None,
    source: str = Source.ALERT,
    team: Team | None = None,
    services: tuple[Service, ...] = (),
    title: str = "Checkout returns 503",
) -> Incident:
    """Create an incident directly with exact timestamps (resolved unless told otherwise)."""
    severity = Severity.objects.get(code=code)
    if status is None:
        status = IncidentStatus.RESOLVED if resolved else IncidentStatus.INVESTIGATING
    created = Incident.objects.create(
        title=title,
        severity=severity,
        peak_severity=severity,
        team=team,
        source=source,
        status=status,
        detected_at=at(detected),
        impact_started_at=at(impact_started or detected),
        acknowledged_at=at(acknowledged) if acknowledged else None,
        resolved_at=at(resolved) if resolved else None,
        closed_at=at(resolved) if resolved and status == IncidentStatus.CLOSED else None,
    )
    if services:
        created.services.set(services)
    return created


def action_item(
    incident: Incident,
    title: str = "Add a canary deployment",
    *,
    owner: User | None = None,
    due_date: date | None = None,
    tracker_url: str = "",
    status: str = ActionItem.Status.OPEN,
) -> ActionItem:
    """Create an action item directly (any due date, any status)."""
    return ActionItem.objects.create(
        incident=incident,
        title=title,
        owner=owner,
        due_date=due_date,
        tracker_url=tracker_url,
        status=status,
    )


def postmortem(
    incident: Incident,
    *,
    required: bool | None = None,
    scheduled: str | None = None,
    meeting: str | None = None,
) -> Postmortem:
    """Create a postmortem, its review meeting scheduled at `scheduled` for `meeting`."""
    return Postmortem.objects.create(
        incident=incident,
        required=incident.peak_severity.postmortem_required if required is None else required,
        review_meeting_scheduled_at=at(scheduled) if scheduled else None,
        review_meeting_at=at(meeting or scheduled) if (meeting or scheduled) else None,
    )


def runbook(title: str = "All pods crashing") -> Runbook:
    """Create a runbook with a unique slug."""
    return Runbook.objects.create(title=title, slug=f"hb-runbook-{next(_numbers)}")


def flag(incident: Incident, book: Runbook, *, resolved: str | None = None) -> RunbookFlag:
    """Flag the runbook as needing an update from the incident."""
    return RunbookFlag.objects.create(
        runbook=book,
        incident=incident,
        note="The rollback command is out of date.",
        resolved_at=at(resolved) if resolved else None,
    )


def source(name: str = "prod-alertmanager") -> AlertSource:
    """Create an Alertmanager source."""
    created = AlertSource(name=name, kind=AlertSource.Kind.ALERTMANAGER)
    created.issue_secret()
    created.save()
    return created


def episode(
    alert_source: AlertSource,
    name: str,
    first_seen: str,
    *,
    incident: Incident | None = None,
    service: Service | None = None,
    actionable: bool | None = None,
    fingerprint: str | None = None,
    code: str = "P3",
) -> Alert:
    """Create one firing episode of the named alert, first seen at `first_seen` (UTC)."""
    number = next(_numbers)
    group = AlertGroup.objects.create(
        source=alert_source, key=f"group-{number}", key_digest=f"{number:064d}"
    )
    seen = at(first_seen)
    return Alert.objects.create(
        source=alert_source,
        group=group,
        fingerprint=fingerprint or f"fp{number:06d}",
        starts_at=seen,
        status=Alert.Status.FIRING,
        title=name,
        severity=Severity.objects.get(code=code),
        service=service,
        first_seen_at=seen,
        last_seen_at=seen,
        incident=incident,
        actionable=actionable,
    )


def schedule(team: Team, name: str = "Payments primary") -> Schedule:
    """Create a schedule (a rotation) of the team."""
    return Schedule.objects.create(name=name, slug=f"hb-schedule-{next(_numbers)}", team=team)


def page(
    incident: Incident,
    recipient: User,
    created: str,
    *,
    kind: str = Page.Kind.ESCALATION,
    state: str = Page.State.SENT,
    on: Schedule | None = None,
    acknowledged: str | None = None,
    actionable: bool | None = None,
    needed_manual_action: bool | None = None,
) -> Page:
    """Create one page of the incident to the recipient."""
    return Page.objects.create(
        incident=incident,
        kind=kind,
        step=f"esc-{next(_numbers)}",
        recipient=recipient,
        schedule=on,
        channel="email",
        address=recipient.email or "someone@example.com",
        state=state,
        created_at=at(created),
        acknowledged_at=at(acknowledged) if acknowledged else None,
        actionable=actionable,
        needed_manual_action=needed_manual_action,
    )
