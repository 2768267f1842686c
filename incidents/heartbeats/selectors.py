"""Reads of the heartbeats app: the ping's lookup, the check's due list, the triage panel."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Case, IntegerField, Value, When
from django.urls import reverse
from django.utils import timezone

from incidents.alerting.models import secret_digest
from incidents.models import Incident
from portal.errors import ApplicationError
from portal.links import absolute_url

from .models import Heartbeat

State = Heartbeat.State


class HeartbeatNotFound(ApplicationError):
    """No heartbeat has this ping address (never issued, rotated away, or deleted)."""

    status_code = 404


def heartbeat_for_ping(*, secret: str) -> Heartbeat:
    """Return the heartbeat whose secret this is, or raise HeartbeatNotFound.

    Looked up by the secret's SHA-256 digest, as alert sources are: how long the lookup takes
    tells nothing about the secret; the compare in Python is constant-time as well.
    """
    heartbeat = Heartbeat.objects.filter(secret_digest=secret_digest(secret)).first()
    if heartbeat is None or not heartbeat.secret_matches(secret):
        raise HeartbeatNotFound("No heartbeat has this address.")
    return heartbeat


def heartbeat_ping_url(secret: str) -> str:
    """Return the full address a sender pings (the secret is part of it)."""
    return absolute_url(reverse("heartbeat_hooks:ping", kwargs={"secret": secret}))


def heartbeats_due(*, now: datetime, limit: int = 100, exclude: Collection[int] = ()) -> list[int]:
    """Return ids of active heartbeats that are up but were not pinged by their alarm time."""
    return list(
        Heartbeat.objects.filter(is_active=True, state=State.UP, alarm_at__lte=now)
        .exclude(pk__in=exclude)
        .order_by("alarm_at")
        .values_list("pk", flat=True)[:limit]
    )


@dataclass(frozen=True)
class HeartbeatRow:
    """One heartbeat as the triage panel shows it."""

    heartbeat: Heartbeat
    status: str  # waiting, up, missed or paused
    label: str
    since_last_ping: timedelta | None
    overdue_by: timedelta | None
    incident: Incident | None

    @property
    def badge(self) -> str:
        """The status badge style it borrows from incidents (missed: red, up: green)."""
        return {"missed": "triggered", "up": "resolved"}.get(self.status, "closed")


# Missed first: they are why someone looks at the panel.
_STATUS_ORDER = Case(
    When(is_active=False, then=Value(3)),
    When(state=State.MISSED, then=Value(0)),
    When(state=State.WAITING, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def heartbeat_panel(*, now: datetime | None = None) -> list[HeartbeatRow]:
    """Return every heartbeat for the triage page: missed first, then by name."""
    now = now or timezone.now()
    rows = []
    heartbeats = (
        Heartbeat.objects.select_related("service", "incident")
        .annotate(status_order=_STATUS_ORDER)
        .order_by("status_order", "name")
    )
    for heartbeat in heartbeats:
        status = heartbeat.state if heartbeat.is_active else "paused"
        expected = heartbeat.next_expected_at
        rows.append(
            HeartbeatRow(
                heartbeat=heartbeat,
                status=status,
                label="Paused" if status == "paused" else heartbeat.get_state_display(),
                since_last_ping=now - heartbeat.last_ping_at if heartbeat.last_ping_at else None,
                overdue_by=now - expected
                if status in (State.UP, State.MISSED) and expected and expected < now
                else None,
                incident=heartbeat.incident if status == State.MISSED else None,
            )
        )
    return rows
