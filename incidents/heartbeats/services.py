"""Writes of the heartbeats app: pings, the check that opens an incident on a miss, the config.

docs/ARCHITECTURE.md, Heartbeats. A heartbeat's row carries its state (`waiting`, `up`,
`missed`) and its alarm time (last ping + interval + grace). A ping moves the alarm time on; the
beat check moves an `up` heartbeat past its alarm time to `missed` with one conditional UPDATE
and opens the incident in the same transaction, so however many checks run at once (two beats,
a retried task) exactly one of them wins, and a crash rolls the miss back for the next check.
Nothing is scheduled per ping: the row is the timer.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import DateTimeField, ExpressionWrapper, F, Value
from django.utils import timezone

from incidents.alerting.models import AlertSource
from incidents.models import Incident, IncidentStatus, Service, Severity, Source, TimelineEvent
from incidents.services import (
    TransitionNotAllowed,
    incident_resolve,
    incident_trigger,
    timeline_record,
)
from portal.templatetags.portal_tags import duration

from .models import DEFAULT_SEVERITY, Heartbeat
from .selectors import HeartbeatNotFound, heartbeat_for_ping, heartbeats_due

logger = logging.getLogger(__name__)

State = Heartbeat.State


# --- Configuration (the back-office) ------------------------------------------------------------


def heartbeat_create(
    *,
    name: str,
    service: Service,
    interval: timedelta,
    grace: timedelta = timedelta(minutes=5),
    severity: Severity | None = None,
    **fields: Any,
) -> tuple[Heartbeat, str]:
    """Create a heartbeat waiting for its first ping; return it and its secret (shown once)."""
    heartbeat = Heartbeat(
        name=name,
        service=service,
        interval=interval,
        grace=grace,
        severity=severity or Severity.objects.get(code=DEFAULT_SEVERITY),
        **fields,
    )
    secret = heartbeat.issue_secret()
    heartbeat.full_clean()
    heartbeat.save()
    return heartbeat, secret


def heartbeat_rotate_secret(*, heartbeat: Heartbeat) -> str:
    """Issue a new secret (a new ping address); the old address answers 404 from now on."""
    secret = heartbeat.issue_secret()
    heartbeat.save(update_fields=["secret_digest", "updated_at"])
    return secret


# What a manager edits; the rest of the row belongs to the pings and the check.
CONFIG_FIELDS = (
    "name",
    "description",
    "service",
    "severity",
    "interval",
    "grace",
    "is_active",
    "alert_source",
    "alertname",
    "match_labels",
)


def heartbeat_configure(*, heartbeat: Heartbeat) -> Heartbeat:
    """Save a manager's edit of the heartbeat without overwriting what pings changed meanwhile.

    The alarm time follows a new interval or grace at once. Un-pausing waits for the next ping,
    as a new heartbeat does: a heartbeat paused for a week is not missed the moment it resumes.
    One paused while missed stays missed, with its incident: the next ping ends the miss.
    """
    with transaction.atomic():
        current = Heartbeat.objects.select_for_update().get(pk=heartbeat.pk)
        resumed = heartbeat.is_active and not current.is_active
        for name in CONFIG_FIELDS:
            setattr(current, name, getattr(heartbeat, name))
        if resumed and current.state != State.MISSED:
            current.state = State.WAITING
            current.alarm_at = None
            current.missed_at = None
            current.incident = None
        elif current.state == State.UP and current.last_ping_at is not None:
            current.alarm_at = current.last_ping_at + current.interval + current.grace
        current.save(
            update_fields=[
                *CONFIG_FIELDS,
                "state",
                "alarm_at",
                "missed_at",
                "incident",
                "updated_at",
            ]
        )
    return current


# --- Pings --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PingResult:
    """What a ping did: `first`, `up`, `resumed` (it ended a miss) or `paused` (ignored)."""

    heartbeat: Heartbeat
    outcome: str
    at: datetime
    incident: Incident | None = None
    incident_resolved: bool = False

    @property
    def next_expected_at(self) -> datetime | None:
        return None if self.outcome == "paused" else self.at + self.heartbeat.interval


def heartbeat_ping(*, secret: str, at: datetime | None = None) -> PingResult:
    """Record a ping to the heartbeat whose secret this is (HeartbeatNotFound: 404)."""
    return heartbeat_record_ping(heartbeat=heartbeat_for_ping(secret=secret), at=at)


def heartbeat_record_ping(*, heartbeat: Heartbeat, at: datetime | None = None) -> PingResult:
    """Move the heartbeat's alarm time on; a ping while missed also ends the miss.

    A paused heartbeat ignores pings. The usual ping is one conditional UPDATE; the alarm time
    is computed by the database from the row's own interval and grace, so a concurrent edit of
    them is never overwritten with the old values.
    """
    at = at or timezone.now()
    if not heartbeat.is_active:
        return PingResult(heartbeat, "paused", at)
    if heartbeat.state != State.MISSED:
        pinged = Heartbeat.objects.filter(
            pk=heartbeat.pk, is_active=True, state__in=(State.WAITING, State.UP)
        ).update(
            state=State.UP,
            last_ping_at=at,
            alarm_at=ExpressionWrapper(
                Value(at, output_field=DateTimeField()) + (F("interval") + F("grace")),
                output_field=DateTimeField(),
            ),
            ping_count=F("ping_count") + 1,
        )
        if pinged:
            return PingResult(heartbeat, "first" if heartbeat.state == State.WAITING else "up", at)
    # Missed (or paused or missed since it was read): decide under the row lock.
    return _ping_locked(heartbeat.pk, at)


def _ping_locked(heartbeat_id: int, at: datetime) -> PingResult:
    with transaction.atomic():
        heartbeat = Heartbeat.objects.select_for_update().filter(pk=heartbeat_id).first()
        if heartbeat is None:
            raise HeartbeatNotFound("No heartbeat has this address.")  # deleted meanwhile
        if not heartbeat.is_active:
            return PingResult(heartbeat, "paused", at)
        outcome = {"waiting": "first", "up": "up"}.get(heartbeat.state, "resumed")
        silence = at - heartbeat.last_ping_at if heartbeat.last_ping_at else None
        incident = heartbeat.incident if outcome == "resumed" else None
        heartbeat.state = State.UP
        heartbeat.last_ping_at = at
        heartbeat.alarm_at = at + heartbeat.interval + heartbeat.grace
        heartbeat.missed_at = None
        heartbeat.incident = None
        heartbeat.ping_count += 1
        heartbeat.save(
            update_fields=[
                "state",
                "last_ping_at",
                "alarm_at",
                "missed_at",
                "incident",
                "ping_count",
            ]
        )
        resolved = False
        if incident is not None:
            resolved = _end_miss(incident, heartbeat, at, silence)
    return PingResult(heartbeat, outcome, at, incident=incident, incident_resolved=resolved)


def _end_miss(
    incident: Incident, heartbeat: Heartbeat, at: datetime, silence: timedelta | None
) -> bool:
    """Resolve the miss's incident if nobody took it on yet; else tell its responders."""
    message = f"Heartbeat {heartbeat.name} resumed at {_utc(at)}"
    if silence is not None:
        message += f" after {duration(silence)} of silence"
    message += "."
    if incident.status in (IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED):
        try:
            incident_resolve(
                incident=incident,
                actor=None,
                source=Source.ALERT,
                at=at,
                message=message,
                even_if_acknowledged=True,
            )
        except TransitionNotAllowed:
            incident.refresh_from_db(fields=["status"])  # taken on meanwhile: a note, below
        else:
            return True
    if incident.status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
        note = message
    else:
        note = f"{message} The incident is being worked, so it stays open for its responders."
    timeline_record(
        incident=incident,
        kind=TimelineEvent.Kind.ALERT,
        actor=None,
        source=Source.ALERT,
        occurred_at=at,
        message=note,
        data={"heartbeat": heartbeat.pk},
    )
    return False


# --- Alertmanager's Watchdog --------------------------------------------------------------------


@dataclass
class WatchdogTake:
    """A delivery without its heartbeat alerts (`rest`), and the pings those alerts made."""

    rest: dict[str, Any]
    taken: int = 0
    pings: list[PingResult] = field(default_factory=list)


def heartbeat_watchdog_take(
    *, source: AlertSource, payload: dict[str, Any], at: datetime | None = None
) -> WatchdogTake:
    """Take the alerts heartbeats watch out of an Alertmanager delivery; firing ones are pings.

    `payload` must already be validated (parse_alertmanager). The taken alerts are not kept as
    alerts: an always-firing Watchdog would wait in triage for ever. A resolved Watchdog (its
    Prometheus stopped sending it) is taken too, and pings nothing.
    """
    heartbeats = list(Heartbeat.objects.filter(alert_source=source))
    kept: list[Any] = []
    pinged: dict[int, Heartbeat] = {}
    for alert in payload["alerts"]:
        watching = [heartbeat for heartbeat in heartbeats if heartbeat.watches(alert["labels"])]
        if not watching:
            kept.append(alert)
        elif alert["status"] == "firing":
            pinged.update((heartbeat.pk, heartbeat) for heartbeat in watching)
    at = at or timezone.now()
    return WatchdogTake(
        rest={**payload, "alerts": kept},
        taken=len(payload["alerts"]) - len(kept),
        pings=[heartbeat_record_ping(heartbeat=heartbeat, at=at) for heartbeat in pinged.values()],
    )


# --- The check ----------------------------------------------------------------------------------


def heartbeats_check(*, now: datetime | None = None, batch: int = 100) -> list[Incident]:
    """Open an incident for every heartbeat missed by `now`; return the incidents opened.

    Run by the beat; safe to run anywhere, any number of times at once. A heartbeat whose miss
    fails to record is left for the next check (nothing of it was written).
    """
    now = now or timezone.now()
    opened: list[Incident] = []
    failed: set[int] = set()
    while True:
        due = heartbeats_due(now=now, limit=batch, exclude=failed)
        for heartbeat_id in due:
            try:
                incident = heartbeat_miss(heartbeat_id=heartbeat_id, now=now)
            except Exception:
                logger.exception("heartbeat %s: the miss could not be recorded", heartbeat_id)
                failed.add(heartbeat_id)
                continue
            if incident is not None:
                opened.append(incident)
        if len(due) < batch:
            return opened


def heartbeat_miss(*, heartbeat_id: int, now: datetime | None = None) -> Incident | None:
    """Mark the heartbeat missed and open its incident, if it still is missed; else None.

    The conditional UPDATE decides: on PostgreSQL a concurrent check waits on the row and then
    finds it missed already, on SQLite the write transactions queue; a ping that came first
    moved the alarm time and wins.
    """
    now = now or timezone.now()
    with transaction.atomic():
        won = Heartbeat.objects.filter(
            pk=heartbeat_id, is_active=True, state=State.UP, alarm_at__lte=now
        ).update(state=State.MISSED, missed_at=now)
        if not won:
            return None
        heartbeat = Heartbeat.objects.select_related("service", "severity").get(pk=heartbeat_id)
        assert heartbeat.last_ping_at is not None  # up: pinged (pinged_heartbeat_has_alarm_time)
        expected = heartbeat.last_ping_at + heartbeat.interval
        silence = now - heartbeat.last_ping_at
        every = f"every {duration(heartbeat.interval)} with {duration(heartbeat.grace)} of grace"
        incident = incident_trigger(
            title=f"Heartbeat missed: {heartbeat.name}",
            severity=heartbeat.severity,
            services=[heartbeat.service],
            summary=(
                f"The heartbeat {heartbeat.name} of {heartbeat.service.name} stopped pinging: "
                f"last seen at {_utc(heartbeat.last_ping_at)}, expected {every}. Whatever "
                "sends it (a job, a monitor, Alertmanager's Watchdog) is down or cannot reach "
                "Firebreak."
            ),
            source=Source.ALERT,
            at=now,
            impact_started_at=expected,
        )
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.ALERT,
            actor=None,
            source=Source.ALERT,
            occurred_at=now,
            message=(
                f"Heartbeat {heartbeat.name} missed: last seen at {_utc(heartbeat.last_ping_at)} "
                f"({duration(silence)} ago); it pings {every}, so a ping was due by "
                f"{_utc(heartbeat.alarm_at or now)}."
            ),
            data={"heartbeat": heartbeat.pk},
        )
        Heartbeat.objects.filter(pk=heartbeat_id).update(incident=incident)
    return incident


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
