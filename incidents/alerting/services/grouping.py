"""Storms, grouping rules and flapping: the settings and the reads and locks ingestion decides by.

Ingestion (.ingest) asks these when a sender group would open an incident; the decision itself,
and the writes, are in `_place_firing` there. See docs/ARCHITECTURE.md, "Storms, grouping rules
and flapping".
"""

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from incidents.models import OPEN_STATUSES, Incident, Service, Source

from ..models import IncidentGrouping, RoutingRule

logger = logging.getLogger(__name__)

STORM = IncidentGrouping.Kind.STORM
LABELS = IncidentGrouping.Kind.LABELS


@dataclass(frozen=True)
class StormPolicy:
    """More than `threshold` alert groups opening incidents within `minutes`: a storm."""

    threshold: int
    minutes: int

    @property
    def on(self) -> bool:
        return self.threshold > 0 and self.minutes > 0


def storm_policy(service: Service, rule: RoutingRule | None) -> StormPolicy:
    """Return the storm settings for alerts a rule (or no rule) routes to the service.

    The rule's own values win, then the service's, then the site's defaults.
    """

    def pick(name: str, default: int) -> int:
        for holder in (rule, service):
            value = getattr(holder, name, None) if holder is not None else None
            if value is not None:
                return int(value)
        return default

    return StormPolicy(
        threshold=pick("storm_threshold", settings.FIREBREAK_STORM_THRESHOLD),
        minutes=pick("storm_window_minutes", settings.FIREBREAK_STORM_WINDOW_MINUTES),
    )


def flap_minutes(service: Service | None) -> int:
    """Return the flapping window of alerts of the service, in minutes; 0 when off."""
    if service is not None and service.flap_window_minutes is not None:
        return service.flap_window_minutes
    return int(settings.FIREBREAK_FLAP_WINDOW_MINUTES)


def storm_key(service: Service) -> str:
    return f"storm:{service.pk}"


def labels_key(rule: RoutingRule, values: list[tuple[str, str]]) -> str:
    """Return a grouping rule's key for these label values (a digest: values may be long)."""
    digest = hashlib.sha256(json.dumps(values, ensure_ascii=False).encode()).hexdigest()
    return f"rule:{rule.pk}:{digest}"


def labels_reason(rule: RoutingRule, values: list[tuple[str, str]]) -> str:
    pairs = ", ".join(f"{name}={value}" if value else f"{name} (none)" for name, value in values)
    return f"Grouped by {pairs} (rule '{rule.name}')"


@dataclass(frozen=True)
class OpenGrouping:
    """An open grouping, as read before its incident is locked."""

    id: int
    kind: str
    service_id: int | None
    incident_id: int
    opened_at: datetime
    severity_id: int


def grouping_find(kind: str, key: str, now: datetime) -> OpenGrouping | None:
    """Return the open grouping of this kind and key, unlocked; None when there is none.

    A grouping whose incident is no longer open (it can't be: resolving closes it in the same
    transaction) is closed here rather than left to block its key.
    """
    row = (
        IncidentGrouping.objects.filter(kind=kind, key=key, is_open=True)
        .values_list(
            "id",
            "service_id",
            "incident_id",
            "opened_at",
            "incident__severity_id",
            "incident__status",
        )
        .order_by()[:1]
    )
    found = list(row)
    if not found:
        return None
    pk, service_id, incident_id, opened_at, severity_id, status = found[0]
    if status not in OPEN_STATUSES:
        grouping_close(pk, now)
        return None
    return OpenGrouping(
        id=pk,
        kind=kind,
        service_id=service_id,
        incident_id=incident_id,
        opened_at=opened_at,
        severity_id=severity_id,
    )


def grouping_close(grouping_id: int, at: datetime) -> None:
    """Stop alerts joining a grouping (its incident resolved, or its window passed)."""
    IncidentGrouping.objects.filter(pk=grouping_id, is_open=True).update(
        is_open=False, closed_at=at
    )


def grouping_close_for_incident(incident_id: int, at: datetime) -> None:
    """Stop alerts joining the incident's grouping: the incident resolved."""
    IncidentGrouping.objects.filter(incident_id=incident_id, is_open=True).update(
        is_open=False, closed_at=at
    )


def grouping_reopen_for_incident(incident_id: int) -> None:
    """Let alerts join the incident's grouping again: the incident was reopened.

    Unless another grouping has taken its key meanwhile (a new storm of the service): then the
    reopened incident keeps its members and collects no new ones.
    """
    grouping = IncidentGrouping.objects.filter(incident_id=incident_id, is_open=False).first()
    if grouping is None:
        return
    taken = IncidentGrouping.objects.filter(kind=grouping.kind, key=grouping.key, is_open=True)
    if taken.exists():
        return
    try:
        with transaction.atomic():  # a savepoint: a grouping opened at this very moment wins
            IncidentGrouping.objects.filter(pk=grouping.pk).update(is_open=True, closed_at=None)
    except IntegrityError:
        logger.info("%s: its grouping's key was taken meanwhile; not grouping again", incident_id)


def grouping_count_members(grouping_id: int, joined: int) -> int:
    """Add `joined` to the grouping's member count and return the new count.

    The last write of a join: the grouping's row lock is held only until the delivery commits.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {IncidentGrouping._meta.db_table}"  # noqa: S608 (model table)
            " SET members = members + %s WHERE id = %s RETURNING members",
            [joined, grouping_id],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else joined


def incident_lock_open(incident_id: int, *, exclusive: bool) -> Incident | None:
    """Lock an open grouped incident for a join; None once it is resolved (or closed).

    FOR SHARE: joins of many deliveries go on together, and a resolution (FOR UPDATE) waits for
    them, or they for it, and then see it resolved. A join that raises the severity takes the
    lock the severity change takes (FOR UPDATE) from the start: two joins upgrading a shared
    lock would deadlock. SQLite's write transaction holds the whole database anyway.
    """
    lock = ""
    if connection.features.has_select_for_update:
        lock = " FOR UPDATE" if exclusive else " FOR SHARE"
    statuses = list(OPEN_STATUSES)
    found = list(
        Incident.objects.raw(
            f"SELECT * FROM {Incident._meta.db_table}"  # noqa: S608 (model table)
            f" WHERE id = %s AND status IN ({', '.join(['%s'] * len(statuses))}){lock}",
            [incident_id, *statuses],
        )
    )
    return found[0] if found else None


def storm_lock_and_count(service: Service, policy: StormPolicy, now: datetime) -> tuple[int, int]:
    """Serialise storm decisions of the service and count its recent alert incidents.

    Returns (the id of an open storm grouping, else 0; how many incidents alerts opened on the
    service within the storm window). On PostgreSQL the service row is locked first (FOR NO KEY
    UPDATE: inserts that reference the service are not blocked), so of two deliveries deciding at
    once the second counts the first's incident, or finds the storm it opened; the count is a
    new statement, after the lock, so it sees what committed while this one waited.
    """
    if connection.features.has_select_for_update:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {Service._meta.db_table}"  # noqa: S608 (model table)
                " WHERE id = %s FOR NO KEY UPDATE",
                [service.pk],
            )
    since = now - timedelta(minutes=policy.minutes)
    at = connection.ops.adapt_datetimefield_value
    incidents = Incident._meta.db_table
    links = Incident.services.through._meta.db_table
    groupings = IncidentGrouping._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT id FROM {groupings}"  # noqa: S608 (model tables)
            "  WHERE kind = %s AND key = %s AND is_open = %s),"
            f" (SELECT COUNT(*) FROM {incidents} i JOIN {links} s ON s.incident_id = i.id"
            "  WHERE s.service_id = %s AND i.source = %s AND i.detected_at >= %s)",
            [STORM, storm_key(service), True, service.pk, Source.ALERT, at(since)],
        )
        row = cursor.fetchone()
    assert row is not None
    return int(row[0] or 0), int(row[1])


def flap_text(gap: timedelta, minutes: int) -> str:
    """Say how soon an alert fired again, for the reopening's timeline event."""
    seconds = max(0, int(gap.total_seconds()))
    if seconds < 60:
        soon = f"{seconds} second{'s' if seconds != 1 else ''}"
    else:
        whole = seconds // 60
        soon = f"{whole} minute{'s' if whole != 1 else ''}"
    return (
        f"Reopened: the alert fired again {soon} after it resolved (flapping window {minutes} min)"
    )
