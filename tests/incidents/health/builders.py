"""Builders for the on-call health tests: rows written straight to the database with exact
timestamps, so that every figure's inputs are known.

A moment is a datetime, or text such as "2026-11-02 10:00" read in UTC (`at`). `known_week()`
builds the week of two teams that the page tests read: `NOW` is Wednesday 2026-11-18 12:00 UTC,
in ISO week 2026-W47; those tests freeze the clock there (`freeze`), so the 7-day window of a
Berlin team is [2026-11-11 00:00 CET, NOW).
"""

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from incidents.alerting.models import Alert, AlertGroup, AlertSource
from incidents.health.metrics import Window
from incidents.models import Incident, IncidentStatus, Service, Severity, Source, Team
from incidents.oncall.models import Page, Schedule
from incidents.runbooks.models import Runbook, RunbookFlag
from postmortems.models import ActionItem, Postmortem
from tests import factories

UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)

# A moment: a datetime, or text read in UTC by at().
Moment = datetime | str

# Module-wide, not per test: transactional tests flush the rows but slugs and keys stay unique.
_numbers = itertools.count(1)


# --- time ---------------------------------------------------------------------------------------


def at(text: str, zone: ZoneInfo = UTC) -> datetime:
    """Return an aware datetime from "2026-11-02 10:00" read in the zone (default UTC)."""
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def moment(value: Moment) -> datetime:
    """Return the datetime, or read the text in UTC."""
    return at(value) if isinstance(value, str) else value


def minutes(value: float) -> timedelta:
    """Return `value` minutes."""
    return timedelta(minutes=value)


def freeze(monkeypatch: pytest.MonkeyPatch, now: datetime = NOW) -> datetime:
    """Freeze the portal's clock (django.utils.timezone.now) at `now`."""
    monkeypatch.setattr(timezone, "now", lambda: now)
    return now


def weeks_since_now(now: datetime) -> timedelta:
    """Return the whole weeks from NOW to `now`: the shift that puts known_week() near it."""
    return timedelta(weeks=(now - NOW) // timedelta(weeks=1))


def window(
    start: Moment,
    end: Moment,
    zone: ZoneInfo | str = UTC,
    *,
    team: Team | None = None,
    service: Service | None = None,
    severity: str | None = None,
) -> Window:
    """Return the window [start, end) read in the zone, with the dashboard's filters."""
    return Window(
        start=moment(start),
        end=moment(end),
        zone=ZoneInfo(zone) if isinstance(zone, str) else zone,
        team_id=team.pk if team else None,
        service_id=service.pk if service else None,
        severity_code=severity,
    )


# --- teams and services -------------------------------------------------------------------------


def team(name: str, zone: str = "Europe/Berlin") -> Team:
    """Create a team whose slug is its name in lower case."""
    return factories.TeamFactory(name=name, slug=name.lower().replace(" ", "-"), time_zone=zone)


def service(name: str, team: Team) -> Service:
    """Create a service of the team whose slug is its name in lower case."""
    return factories.ServiceFactory(name=name, slug=name.lower().replace(" ", "-"), team=team)


# --- incidents and what follows them ------------------------------------------------------------


def incident(
    detected: datetime,
    *,
    acknowledged: timedelta | None = None,
    resolved: timedelta | None = None,
    detection_delay: timedelta = timedelta(0),
    status: str | None = None,
    source: str = Source.ALERT,
    code: str = "P3",
    team: Team | None = None,
    services: tuple[Service, ...] = (),
    title: str = "",
) -> Incident:
    """Create an incident, open unless resolved; acknowledged and resolved count from `detected`."""
    severity = Severity.objects.get(code=code)
    resolved_at = detected + resolved if resolved is not None else None
    if status is None:
        status = IncidentStatus.RESOLVED if resolved_at is not None else IncidentStatus.TRIGGERED
    created = Incident.objects.create(
        title=title or f"Incident {next(_numbers)}",
        severity=severity,
        peak_severity=severity,
        team=team,
        source=source,
        status=status,
        impact_started_at=detected - detection_delay,
        detected_at=detected,
        acknowledged_at=detected + acknowledged if acknowledged is not None else None,
        resolved_at=resolved_at,
        closed_at=resolved_at if status == IncidentStatus.CLOSED else None,
    )
    if services:
        created.services.set(services)
    return created


def incident_at(
    *,
    detected: Moment = "2026-11-02 10:00",
    impact_started: Moment | None = None,
    acknowledged: Moment | None = None,
    resolved: Moment | None = "2026-11-02 11:00",
    status: str | None = None,
    source: str = Source.ALERT,
    code: str = "P3",
    team: Team | None = None,
    services: tuple[Service, ...] = (),
    title: str = "",
) -> Incident:
    """Create an incident from clock times, resolved at 2026-11-02 11:00 unless told otherwise."""
    start = moment(detected)
    return incident(
        start,
        acknowledged=moment(acknowledged) - start if acknowledged else None,
        resolved=moment(resolved) - start if resolved else None,
        detection_delay=start - moment(impact_started or detected),
        status=status,
        source=source,
        code=code,
        team=team,
        services=services,
        title=title,
    )


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
    scheduled: Moment | None = None,
    meeting: Moment | None = None,
) -> Postmortem:
    """Create a postmortem, its review meeting scheduled at `scheduled` for `meeting`."""
    meeting = meeting or scheduled
    return Postmortem.objects.create(
        incident=incident,
        required=incident.peak_severity.postmortem_required if required is None else required,
        review_meeting_scheduled_at=moment(scheduled) if scheduled else None,
        review_meeting_at=moment(meeting) if meeting else None,
    )


def runbook(title: str = "All pods crashing") -> Runbook:
    """Create a runbook with a unique slug."""
    return Runbook.objects.create(title=title, slug=f"runbook-{next(_numbers)}")


def flag(incident: Incident, book: Runbook, *, resolved: Moment | None = None) -> RunbookFlag:
    """Flag the runbook as needing an update from the incident."""
    return RunbookFlag.objects.create(
        runbook=book,
        incident=incident,
        note="The rollback command is out of date.",
        resolved_at=moment(resolved) if resolved else None,
    )


# --- alerts -------------------------------------------------------------------------------------


def source(name: str = "prod-alertmanager") -> AlertSource:
    """Create an Alertmanager source."""
    created = AlertSource(name=name, kind=AlertSource.Kind.ALERTMANAGER)
    created.issue_secret()
    created.save()
    return created


def episode(
    source: AlertSource,
    name: str,
    first_seen: Moment,
    *,
    actionable: bool | None = None,
    service: Service | None = None,
    incident: Incident | None = None,
    fingerprint: str | None = None,
    code: str = "P3",
) -> Alert:
    """Create one firing episode of the named alert (no incident unless given)."""
    number = next(_numbers)
    group = AlertGroup.objects.create(
        source=source, key=f"group-{number}", key_digest=f"{number:064d}"
    )
    seen = moment(first_seen)
    return Alert.objects.create(
        source=source,
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


# --- rotations and pages ------------------------------------------------------------------------


def rotation(name: str, team: Team) -> Schedule:
    """Create a schedule (a rotation) of the team."""
    return Schedule.objects.create(name=name, slug=f"schedule-{next(_numbers)}", team=team)


def page(
    incident: Incident,
    recipient: User,
    created: Moment,
    *,
    schedule: Schedule | None = None,
    kind: str = Page.Kind.ESCALATION,
    state: str = Page.State.SENT,
    acknowledged: Moment | None = None,
    actionable: bool | None = None,
    manual: bool | None = None,
) -> Page:
    """Create one page of the incident to the recipient, reached through `schedule` if given."""
    return Page.objects.create(
        incident=incident,
        kind=kind,
        step=f"step-{next(_numbers)}",
        recipient=recipient,
        schedule=schedule,
        channel="email",
        address=recipient.email,
        state=state,
        created_at=moment(created),
        acknowledged_at=moment(acknowledged) if acknowledged else None,
        actionable=actionable,
        needed_manual_action=manual,
    )


# --- the known week of the page tests -----------------------------------------------------------


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

    def shifted(text: str) -> datetime:
        return at(text) + shift

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
        source=source(),
        alice=alice,
        bob=bob,
        primary=rotation("Payments primary", payments),
        secondary=rotation("Payments secondary", payments),
    )
    made = week.incidents
    # Opened by alerts. Minutes after detection: acknowledged, resolved; minutes the detection
    # came after the impact started.
    for key, detected, code, acknowledged, resolved, late, owner, services, title in (
        ("p1", "11-17 10:00", "P1", 3, 60, 0, payments, (api,), "Checkout down"),
        ("p2", "11-16 09:00", "P2", 9, 120, 20, payments, (api,), "Card payments slow"),
        ("never", "11-15 08:00", "P3", None, None, 0, payments, (), "Refunds delayed"),
        ("old", "11-01 10:00", "P1", 20, 90, 0, payments, (api,), "Ledger outage"),
        ("search", "11-17 15:00", "P3", 1, 10, 0, search, (search_api,), "Search results empty"),
    ):
        made[key] = incident(
            shifted(f"2026-{detected}"),
            acknowledged=minutes(acknowledged) if acknowledged is not None else None,
            resolved=minutes(resolved) if resolved is not None else None,
            detection_delay=minutes(late),
            code=code,
            team=owner,
            services=services,
            title=title,
        )
    # Declared by a person, who acknowledges by declaring: not in MTTA.
    made["declared"] = incident(
        shifted("2026-11-14 14:00"),
        acknowledged=timedelta(0),
        resolved=minutes(30),
        source=Source.WEB,
        code="P2",
        team=payments,
        title="Payouts stuck",
    )

    prod = week.source
    episode(prod, "HighLatency", shifted("2026-11-16 08:55"), actionable=False, service=api)
    episode(prod, "HighLatency", shifted("2026-11-17 09:55"), actionable=True, service=api)
    episode(prod, "HighLatency", shifted("2026-11-17 11:00"), service=api)
    episode(prod, "DiskFull", shifted("2026-11-15 07:55"), actionable=True, service=api)
    for day in range(2, 8):
        first_seen = shifted(f"2026-11-0{day} 06:00")
        episode(prod, "CPUThrottling", first_seen, service=api, incident=made["old"])
    for day in range(2, 7):
        episode(prod, "MemoryPressure", shifted(f"2026-11-0{day} 07:00"), service=api)
    for day in range(10, 17):
        first_seen = shifted(f"2026-10-{day} 07:00")
        episode(prod, "QueueDepth", first_seen, service=api, incident=made["old"])

    primary, secondary = week.primary, week.secondary
    for hour in range(8, 13):
        created = shifted(f"2026-11-17 {hour:02d}:00")
        page(made["p1"], alice, created, schedule=primary, actionable=True, manual=hour == 8)
    page(made["p1"], alice, shifted("2026-11-16 13:00"), schedule=primary, actionable=False)
    page(
        made["p2"],
        alice,
        shifted("2026-11-12 09:00"),
        schedule=primary,
        actionable=True,
        manual=True,
    )
    page(made["p2"], alice, shifted("2026-11-13 09:00"), schedule=primary, actionable=False)
    page(made["p1"], bob, shifted("2026-11-17 10:05"), schedule=secondary, actionable=True)
    page(made["p1"], bob, shifted("2026-11-17 10:06"), schedule=secondary, kind=Page.Kind.NOTIFY)
    page(made["p1"], bob, shifted("2026-11-17 10:07"), schedule=secondary, state=Page.State.FAILED)
    return week
