"""Hand-built data for the health pages' tests (helper HC): a known week of two teams.

`NOW` is Wednesday 2026-11-18 12:00 UTC, in ISO week 2026-W47; tests freeze the clock there
(`frozen_now`), so the 7-day window of a Berlin team is [2026-11-11 00:00 CET, NOW).
"""

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User
from django.utils import timezone

from incidents.alerting.models import Alert, AlertGroup, AlertSource
from incidents.models import Incident, IncidentStatus, Service, Severity, Source, Team
from incidents.oncall.models import Page, Schedule
from tests import factories

UTC = ZoneInfo("UTC")
NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
_numbers = itertools.count(1)


def at(text: str, zone: ZoneInfo = UTC) -> datetime:
    """Return an aware datetime from "2026-11-17 10:00" read in the zone (default UTC)."""
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def weeks_since_now(now: datetime) -> timedelta:
    """Return the whole weeks from NOW to `now`: the shift that puts known_week() near it."""
    return timedelta(weeks=(now - NOW) // timedelta(weeks=1))


def minutes(value: float) -> timedelta:
    return timedelta(minutes=value)


def freeze(monkeypatch, now: datetime = NOW) -> datetime:
    """Freeze the portal's clock (django.utils.timezone.now) at `now`."""
    monkeypatch.setattr(timezone, "now", lambda: now)
    return now


def team(name: str, zone: str = "Europe/Berlin", *, managers: tuple[User, ...] = ()) -> Team:
    created = factories.TeamFactory(name=name, slug=name.lower().replace(" ", "-"), time_zone=zone)
    if managers:
        created.engineering_managers.set(managers)
    return created


def service(name: str, owner: Team) -> Service:
    return factories.ServiceFactory(name=name, slug=name.lower().replace(" ", "-"), team=owner)


def incident(
    detected: datetime,
    *,
    acknowledged: timedelta | None = None,
    resolved: timedelta | None = None,
    detection_delay: timedelta = timedelta(0),
    source: str = Source.ALERT,
    code: str = "P3",
    owner: Team | None = None,
    services: tuple[Service, ...] = (),
    title: str = "",
) -> Incident:
    """Create an incident; acknowledged and resolved are offsets from `detected`."""
    severity = Severity.objects.get(code=code)
    number = next(_numbers)
    created = Incident.objects.create(
        title=title or f"Health incident {number}",
        severity=severity,
        peak_severity=severity,
        team=owner,
        source=source,
        status=IncidentStatus.RESOLVED if resolved is not None else IncidentStatus.TRIGGERED,
        impact_started_at=detected - detection_delay,
        detected_at=detected,
        acknowledged_at=detected + acknowledged if acknowledged is not None else None,
        resolved_at=detected + resolved if resolved is not None else None,
    )
    if services:
        created.services.set(services)
    return created


def alert_source(name: str = "prod-alertmanager") -> AlertSource:
    created = AlertSource(name=name, kind=AlertSource.Kind.ALERTMANAGER)
    created.issue_secret()
    created.save()
    return created


def episode(
    source: AlertSource,
    name: str,
    first_seen: datetime,
    *,
    actionable: bool | None = None,
    on: Service | None = None,
    opened: Incident | None = None,
    code: str = "P3",
) -> Alert:
    """Create one firing episode of the named alert."""
    number = next(_numbers)
    group = AlertGroup.objects.create(
        source=source, key=f"hc-group-{number}", key_digest=f"{number:064d}"
    )
    return Alert.objects.create(
        source=source,
        group=group,
        fingerprint=f"hc{number:06d}",
        starts_at=first_seen,
        status=Alert.Status.FIRING,
        title=name,
        severity=Severity.objects.get(code=code),
        service=on,
        first_seen_at=first_seen,
        last_seen_at=first_seen,
        incident=opened,
        actionable=actionable,
    )


def rotation(name: str, owner: Team) -> Schedule:
    return Schedule.objects.create(name=name, slug=f"hc-schedule-{next(_numbers)}", team=owner)


def page(
    of: Incident,
    recipient: User,
    created: datetime,
    *,
    on: Schedule | None = None,
    kind: str = Page.Kind.ESCALATION,
    state: str = Page.State.SENT,
    actionable: bool | None = None,
    manual: bool | None = None,
) -> Page:
    return Page.objects.create(
        incident=of,
        kind=kind,
        step=f"hc-step-{next(_numbers)}",
        recipient=recipient,
        schedule=on,
        channel="email",
        address=recipient.email,
        state=state,
        created_at=created,
        actionable=actionable,
        needed_manual_action=manual,
    )


@dataclass
class Week:
    """The known data: what each figure of the Payments team's last 7 days should say."""

    payments: Team
    search: Team
    api: Service
    source: AlertSource
    alice: User
    bob: User
    primary: Schedule
    secondary: Schedule
    incidents: dict[str, Incident] = field(default_factory=dict)


def known_week(shift: timedelta = timedelta(0)) -> Week:
    """Build two teams' incidents, alerts and pages around NOW, with known figures.

    Payments (Europe/Berlin), last 7 days: alert-opened P1 acknowledged in 3 min and P2 in
    9 min (MTTA mean 6 min: over target), one P3 never acknowledged, one P2 declaration (no
    MTTA), the P2 detected 20 min after impact (slow). 30 days add a P1 acknowledged in 20 min.
    Search (America/New_York): one P3 acknowledged in 1 min.
    Alerts: HighLatency 3 episodes (1 not actionable, 1 actionable, 1 unreviewed); DiskFull 1
    actionable; CPUThrottling 6 episodes this month (noisy), MemoryPressure 5 (not noisy),
    QueueDepth 7 last month (noisy).
    Pages on "Payments primary": W47 5 actionable of 6 (one manual action), W46 1 of 2 (one
    manual action); Bob on "Payments secondary": W47 1 page; plus a notify and a failed page
    that are not pages. `shift` (whole weeks) moves it all, for tests on the real clock.
    """

    def at(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=UTC) + shift

    alice = factories.responder("alice", first_name="Alice")
    bob = factories.responder("bob", first_name="Bob")
    payments = team("Payments")
    search = team("Search", "America/New_York")
    api = service("Payments API", payments)
    search_api = service("Search API", search)
    week = Week(
        payments=payments,
        search=search,
        api=api,
        source=alert_source(),
        alice=alice,
        bob=bob,
        primary=rotation("Payments primary", payments),
        secondary=rotation("Payments secondary", payments),
    )
    made = week.incidents
    made["p1"] = incident(
        at("2026-11-17 10:00"),
        acknowledged=minutes(3),
        resolved=minutes(60),
        code="P1",
        owner=payments,
        services=(api,),
        title="Checkout down",
    )
    made["p2"] = incident(
        at("2026-11-16 09:00"),
        acknowledged=minutes(9),
        resolved=minutes(120),
        detection_delay=minutes(20),
        code="P2",
        owner=payments,
        services=(api,),
        title="Card payments slow",
    )
    made["never"] = incident(
        at("2026-11-15 08:00"), code="P3", owner=payments, title="Refunds delayed"
    )
    made["declared"] = incident(
        at("2026-11-14 14:00"),
        acknowledged=timedelta(0),
        resolved=minutes(30),
        source=Source.WEB,
        code="P2",
        owner=payments,
        title="Payouts stuck",
    )
    made["old"] = incident(
        at("2026-11-01 10:00"),
        acknowledged=minutes(20),
        resolved=minutes(90),
        code="P1",
        owner=payments,
        services=(api,),
        title="Ledger outage",
    )
    made["search"] = incident(
        at("2026-11-17 15:00"),
        acknowledged=minutes(1),
        resolved=minutes(10),
        code="P3",
        owner=search,
        services=(search_api,),
        title="Search results empty",
    )

    source = week.source
    episode(source, "HighLatency", at("2026-11-16 08:55"), actionable=False, on=api)
    episode(source, "HighLatency", at("2026-11-17 09:55"), actionable=True, on=api)
    episode(source, "HighLatency", at("2026-11-17 11:00"), on=api)
    episode(source, "DiskFull", at("2026-11-15 07:55"), actionable=True, on=api)
    for day in range(2, 8):
        episode(
            source,
            "CPUThrottling",
            at(f"2026-11-0{day} 06:00"),
            on=api,
            opened=made["old"],
        )
    for day in range(2, 7):
        episode(source, "MemoryPressure", at(f"2026-11-0{day} 07:00"), on=api)
    for day in range(10, 17):
        episode(source, "QueueDepth", at(f"2026-10-{day} 07:00"), on=api, opened=made["old"])

    for hour in range(8, 13):
        page(
            made["p1"],
            alice,
            at(f"2026-11-17 {hour:02d}:00"),
            on=week.primary,
            actionable=True,
            manual=hour == 8,
        )
    page(made["p1"], alice, at("2026-11-16 13:00"), on=week.primary, actionable=False)
    page(made["p2"], alice, at("2026-11-12 09:00"), on=week.primary, actionable=True, manual=True)
    page(made["p2"], alice, at("2026-11-13 09:00"), on=week.primary, actionable=False)
    page(made["p1"], bob, at("2026-11-17 10:05"), on=week.secondary, actionable=True)
    page(made["p1"], bob, at("2026-11-17 10:06"), on=week.secondary, kind=Page.Kind.NOTIFY)
    page(made["p1"], bob, at("2026-11-17 10:07"), on=week.secondary, state=Page.State.FAILED)
    return week
