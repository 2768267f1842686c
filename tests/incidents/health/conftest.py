"""Small builders for the on-call health metric tests: rows with exact timestamps."""

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User

from incidents.alerting.models import Alert, AlertGroup, AlertSource
from incidents.health.metrics import Window
from incidents.models import Incident, IncidentStatus, Service, Severity, Source, Team
from incidents.oncall.models import Page, Schedule
from tests import factories

UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str, zone: ZoneInfo = UTC) -> datetime:
    """Return an aware datetime from "2026-11-02 10:00" read in the zone (default UTC)."""
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


class Build:
    """Create teams, incidents, alert episodes and pages with the timestamps a test gives."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)

    def team(self, name: str, zone: str = "Europe/Berlin") -> Team:
        return factories.TeamFactory(name=name, slug=name.lower().replace(" ", "-"), time_zone=zone)

    def service(self, name: str, team: Team) -> Service:
        return factories.ServiceFactory(name=name, slug=name.lower().replace(" ", "-"), team=team)

    def window(
        self,
        start: datetime,
        end: datetime,
        zone: ZoneInfo = UTC,
        *,
        team: Team | None = None,
        service: Service | None = None,
        severity: str | None = None,
    ) -> Window:
        return Window(
            start=start,
            end=end,
            zone=zone,
            team_id=team.pk if team else None,
            service_id=service.pk if service else None,
            severity_code=severity,
        )

    def incident(
        self,
        detected: datetime,
        *,
        acknowledged: timedelta | None = None,
        resolved: timedelta | None = None,
        detection_delay: timedelta = timedelta(0),
        source: str = Source.ALERT,
        code: str = "P3",
        team: Team | None = None,
        services: tuple[Service, ...] = (),
    ) -> Incident:
        """Create an incident; acknowledged and resolved are offsets from `detected`."""
        severity = Severity.objects.get(code=code)
        incident = Incident.objects.create(
            title=f"Incident {next(self._numbers)}",
            severity=severity,
            peak_severity=severity,
            team=team,
            source=source,
            status=IncidentStatus.RESOLVED if resolved is not None else IncidentStatus.TRIGGERED,
            impact_started_at=detected - detection_delay,
            detected_at=detected,
            acknowledged_at=detected + acknowledged if acknowledged is not None else None,
            resolved_at=detected + resolved if resolved is not None else None,
        )
        if services:
            incident.services.set(services)
        return incident

    def source(self, name: str) -> AlertSource:
        created = AlertSource(name=name, kind=AlertSource.Kind.ALERTMANAGER)
        created.issue_secret()
        created.save()
        return created

    def episode(
        self,
        source: AlertSource,
        name: str,
        first_seen: datetime,
        *,
        actionable: bool | None = None,
        service: Service | None = None,
        incident: Incident | None = None,
        code: str = "P3",
    ) -> Alert:
        """Create one firing episode of the named alert (no incident unless given)."""
        number = next(self._numbers)
        group = AlertGroup.objects.create(
            source=source, key=f"group-{number}", key_digest=f"{number:064d}"
        )
        return Alert.objects.create(
            source=source,
            group=group,
            fingerprint=f"fp{number:06d}",
            starts_at=first_seen,
            status=Alert.Status.FIRING,
            title=name,
            severity=Severity.objects.get(code=code),
            service=service,
            first_seen_at=first_seen,
            last_seen_at=first_seen,
            incident=incident,
            actionable=actionable,
        )

    def schedule(self, name: str, team: Team) -> Schedule:
        return Schedule.objects.create(name=name, slug=f"schedule-{next(self._numbers)}", team=team)

    def page(
        self,
        incident: Incident,
        recipient: User,
        created: datetime,
        *,
        schedule: Schedule | None = None,
        kind: str = Page.Kind.ESCALATION,
        state: str = Page.State.SENT,
        actionable: bool | None = None,
        manual: bool | None = None,
    ) -> Page:
        return Page.objects.create(
            incident=incident,
            kind=kind,
            step=f"step-{next(self._numbers)}",
            recipient=recipient,
            schedule=schedule,
            channel="email",
            address=recipient.email,
            state=state,
            created_at=created,
            actionable=actionable,
            needed_manual_action=manual,
        )


@pytest.fixture
def build(db) -> Build:
    return Build()
