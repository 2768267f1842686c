"""Ingesting alerts from Alertmanager, PagerDuty Events and generic JSON senders.

Ingestion validates the whole payload before it writes anything, then runs in one transaction
holding the row lock of the sender's group (Alertmanager's groupKey, a dedup key), so concurrent
deliveries of one group queue up and never open a second incident. A group follows one incident
while that incident is open; an alert that fires after its incident was resolved opens a new one,
unless it flaps (it fires again soon after resolving: its incident reopens), a grouping rule or an
alert storm puts it on an open incident (docs/ARCHITECTURE.md, Storms, grouping rules and
flapping).
"""

import logging
import uuid
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from incidents.models import (
    OPEN_STATUSES,
    Incident,
    IncidentStatus,
    Service,
    Severity,
    Source,
    TimelineEvent,
)
from incidents.services import (
    TransitionNotAllowed,
    incident_acknowledge,
    incident_change_severity,
    incident_reopen,
    incident_resolve,
    incident_trigger,
    timeline_record,
)
from portal import events
from portal.auth import AnyUser

from ..events import AlertsGrouped
from ..formats import (
    AlertmanagerNotification,
    GenericEvent,
    PagerDutyEvent,
    PayloadInvalid,
    parse_alertmanager,
    parse_generic,
    parse_pagerduty,
)
from ..models import Alert, AlertGroup, AlertSource, IncidentGrouping, RoutingRule, secret_digest
from ..routing import Route, Router, routing_policy, routing_policy_forget
from .grouping import (
    LABELS,
    STORM,
    OpenGrouping,
    StormPolicy,
    flap_minutes,
    flap_text,
    grouping_close,
    grouping_count_members,
    grouping_find,
    incident_lock_open,
    labels_key,
    labels_reason,
    storm_key,
    storm_lock_and_count,
    storm_policy,
)

logger = logging.getLogger(__name__)

FIRING = Alert.Status.FIRING
RESOLVED = Alert.Status.RESOLVED


@dataclass
class IngestResult:
    """What one delivery did, for the reply and the logs."""

    dedup_key: str = ""
    created: int = 0
    repeated: int = 0
    resolved: int = 0
    dropped: int = 0
    incidents_opened: list[Incident] = field(default_factory=list)


# --- Ingestion ----------------------------------------------------------------------------------


def alertmanager_count_repeat(
    *, source_id: int, kinds: Collection[str], secret: str, payload: object
) -> IngestResult | None:
    """Count a delivery of one still-firing known episode, the sender checked in the same UPDATE.

    Most deliveries are this (Alertmanager re-sends each group every repeat_interval), and one
    statement is all they cost. Anything else returns None with nothing written: an invalid
    payload, a new episode, a resolve, several alerts, or no active source of these kinds with
    this secret; the caller then authenticates the sender and calls `alertmanager_ingest`.
    """
    if not secret:
        return None
    try:
        notification = parse_alertmanager(payload)
    except PayloadInvalid:
        return None
    keys = {(item.fingerprint, item.starts_at) for item in notification.alerts}
    if len(keys) != 1 or any(item.status != FIRING for item in notification.alerts):
        return None
    ((fingerprint, starts_at),) = keys
    at = connection.ops.adapt_datetimefield_value  # what the ORM stores (SQLite: naive UTC)
    kind_list = sorted(kinds)
    with connection.cursor() as cursor:
        # The database compares SHA-256 digests, as the PagerDuty lookup does: how long that
        # takes tells nothing about the secret, which is what a constant-time compare is for.
        cursor.execute(
            f"UPDATE {Alert._meta.db_table}"  # noqa: S608 (model tables)
            " SET last_seen_at = %s, receive_count = receive_count + 1"
            " WHERE source_id = %s AND fingerprint = %s AND starts_at = %s AND status = %s"
            f" AND EXISTS (SELECT 1 FROM {AlertSource._meta.db_table}"
            "  WHERE id = %s AND is_active = %s AND secret_digest = %s"
            f"  AND kind IN ({', '.join(['%s'] * len(kind_list))}))",
            [
                at(timezone.now()),
                source_id,
                fingerprint,
                at(starts_at),
                FIRING,
                source_id,
                True,
                secret_digest(secret),
                *kind_list,
            ],
        )
        if cursor.rowcount == 0:
            return None
    return IngestResult(repeated=len(notification.alerts))


def alertmanager_ingest(
    *, source: AlertSource, payload: object, repeat_checked: bool = False
) -> IngestResult:
    """Ingest an Alertmanager v4 (or Grafana v1) notification: one alert row per episode.

    `repeat_checked`: `alertmanager_count_repeat` already found it is not the plain repeat of
    one episode (a statement saved).
    """
    notification = parse_alertmanager(payload)
    result = IngestResult()
    if _count_plain_repeats(source, notification, result, repeat_checked=repeat_checked):
        return result
    return _apply_atomically(
        lambda result, retry: _alertmanager_apply(source, notification, result, retry=retry),
        IngestResult,
    )


# PostgreSQL aborted the transaction to let a concurrent one go on: applying it again succeeds.
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


def _apply_atomically(
    apply: Callable[[IngestResult, bool], None], new_result: Callable[[], IngestResult]
) -> IngestResult:
    """Apply a delivery in one transaction, once more if a concurrent one stored an episode first.

    Episodes are inserted without a savepoint each (a round trip saved per write); the rare
    unique conflict with a delivery of another group rolls this one back, and the second run
    (`retry`) finds the other's row. A delivery PostgreSQL aborted as a deadlock's victim (or a
    serialization failure) is applied once more too: ingestion takes its row locks in one order
    (docs/ARCHITECTURE.md, Storms, grouping rules and flapping), so this is a safety net, and
    the sender gets its answer rather than an error it would resend on.
    """
    for retry in (False, True):
        result = new_result()
        try:
            with transaction.atomic():
                apply(result, retry)
        except IntegrityError:
            if retry:
                raise
            logger.info("An episode was stored concurrently; applying the delivery again")
            # Or a rule's service was deleted by another process: route with fresh rules.
            routing_policy_forget()
            continue
        except OperationalError as error:
            if retry or _sqlstate(error) not in _TRANSIENT_SQLSTATES:
                raise
            logger.warning("A delivery was aborted (%s); applying it again", error)
            continue
        break
    return result


def _sqlstate(error: OperationalError) -> str | None:
    """Return the SQLSTATE PostgreSQL gave the error (psycopg 3: sqlstate, psycopg2: pgcode)."""
    cause = error.__cause__
    code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    return str(code) if code else None


class _NotOnlyRepeats(Exception):
    pass


def _count_plain_repeats(
    source: AlertSource,
    notification: AlertmanagerNotification,
    result: IngestResult,
    *,
    repeat_checked: bool,
) -> bool:
    """Count a delivery whose alerts all still fire as known episodes, in one UPDATE.

    Alertmanager re-sends every group each repeat_interval, so this is most deliveries. Anything
    else (a new episode, a resolve, a re-fire) returns False with nothing written, and the full
    path, which locks the group, handles it.
    """
    keys = {(item.fingerprint, item.starts_at) for item in notification.alerts}
    if not keys or any(item.status != FIRING for item in notification.alerts):
        return False
    if len(keys) == 1 and repeat_checked:
        return False
    if len(keys) == 1 and not transaction.get_connection().in_atomic_block:
        # One alert (the usual group): one statement either counts it or writes nothing.
        if not _count_one_repeat(source, *next(iter(keys))):
            return False
        result.repeated += len(notification.alerts)
        return True
    matches = Q()
    for fingerprint, starts_at in keys:
        matches |= Q(fingerprint=fingerprint, starts_at=starts_at)
    repeats = Alert.objects.filter(matches, source=source, status=FIRING)
    try:
        with transaction.atomic():  # undone unless every alert was a repeat
            counted = repeats.update(
                last_seen_at=timezone.now(), receive_count=F("receive_count") + 1
            )
            if counted != len(keys):
                raise _NotOnlyRepeats
    except _NotOnlyRepeats:
        return False
    result.repeated += len(notification.alerts)
    return True


def _count_one_repeat(source: AlertSource, fingerprint: str, starts_at: datetime) -> bool:
    """Count a repeat of one firing episode; False when there is no such episode.

    The hottest statement of ingestion, written out: building it through the ORM cost more
    than running it.
    """
    at = connection.ops.adapt_datetimefield_value  # what the ORM stores (SQLite: naive UTC)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Alert._meta.db_table}"  # noqa: S608 (model table)
            " SET last_seen_at = %s, receive_count = receive_count + 1"
            " WHERE source_id = %s AND fingerprint = %s AND starts_at = %s AND status = %s",
            [at(timezone.now()), source.pk, fingerprint, at(starts_at), FIRING],
        )
        return cursor.rowcount > 0


def pagerduty_event(*, source: AlertSource, event: object) -> IngestResult:
    """Apply a PagerDuty Events API v2 event; unknown keys to acknowledge or resolve are dropped."""
    parsed = parse_pagerduty(event)
    dedup_key = parsed.dedup_key or uuid.uuid4().hex

    def apply(result: IngestResult, retry: bool) -> None:
        if parsed.action == "trigger":
            _trigger(source, _pagerduty_fields(parsed, dedup_key), result)
        elif parsed.action == "acknowledge":
            _acknowledge_key(source, dedup_key, result)
        else:
            # As at PagerDuty: a resolve resolves the incident, acknowledged or not.
            _resolve_key(source, dedup_key, result, even_if_acknowledged=True)

    return _apply_atomically(apply, lambda: IngestResult(dedup_key=dedup_key))


def generic_ingest(*, source: AlertSource, payload: object) -> IngestResult:
    """Ingest a generic alert (title, severity, service, dedup key, details); resolve by key."""
    parsed = parse_generic(payload)
    dedup_key = parsed.dedup_key or uuid.uuid4().hex

    def apply(result: IngestResult, retry: bool) -> None:
        if parsed.status == "resolved":
            _resolve_key(source, dedup_key, result)
        else:
            _trigger(source, _generic_fields(parsed, dedup_key), result)

    return _apply_atomically(apply, lambda: IngestResult(dedup_key=dedup_key))


@dataclass
class _Episode:
    """A firing episode as parsed, before it is routed and stored."""

    fingerprint: str
    starts_at: datetime
    status: str
    title: str
    summary: str
    labels: dict[str, str]
    severity_label: str
    service_name: str = ""
    ends_at: datetime | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    generator_url: str = ""
    dashboard_url: str = ""
    panel_url: str = ""
    silence_url: str = ""
    impact_started_at: datetime | None = None


def _alertmanager_apply(
    source: AlertSource,
    notification: AlertmanagerNotification,
    result: IngestResult,
    *,
    retry: bool,
) -> None:
    now = timezone.now()
    router = Router(source)
    group, group_is_new = _lock_group(source, notification.group_key, now)
    known: dict[tuple[str, datetime], Alert] = {}
    if not group_is_new or retry:
        # A new group has no episodes, though one of its alerts may have been stored under
        # another group key (Alertmanager regrouped it): that insert fails, and the retry looks.
        known = {
            (alert.fingerprint, alert.starts_at): alert
            for alert in Alert.objects.select_related("incident__grouping", "severity")
            .filter(
                source=source,
                fingerprint__in={item.fingerprint for item in notification.alerts},
                starts_at__in={item.starts_at for item in notification.alerts},
            )
            .order_by()  # a lookup, not a listing: skip the model's sort
        }
    to_place: list[Alert] = []
    resolved_unseen: list[Alert] = []
    resolved_now: list[Alert] = []
    repeats: list[int] = []
    for item in notification.alerts:
        alert = known.get((item.fingerprint, item.starts_at))
        if alert is None:
            episode = _Episode(
                fingerprint=item.fingerprint,
                starts_at=item.starts_at,
                status=item.status,
                ends_at=(item.ends_at or now) if item.status == RESOLVED else None,
                title=item.name[:255],
                summary=item.summary,
                labels=item.labels,
                severity_label=item.labels.get("severity", ""),
                annotations=item.annotations,
                details=item.values,
                generator_url=item.generator_url,
                dashboard_url=item.dashboard_url,
                panel_url=item.panel_url,
                silence_url=item.silence_url,
                impact_started_at=item.starts_at,
            )
            alert = _create_episode(source, group, episode, router, now)
            known[(item.fingerprint, item.starts_at)] = alert
            result.created += 1
            (to_place if item.status == FIRING else resolved_unseen).append(alert)
            continue
        if item.status == FIRING and alert.status == RESOLVED:
            # Alertmanager resolved it (resolve_timeout) and the rule fires on, same start.
            alert._resolved_at = alert.ends_at  # type: ignore[attr-defined]  # (flapping)
            _touch(alert, now, status=FIRING, ends_at=None)
            result.repeated += 1
            if alert.incident is None or not alert.incident.is_open:
                to_place.append(alert)
            elif _grouping_of(alert.incident) is None:
                _note(alert.incident, f"Alert fired again: {_headline(alert)}", alert, now)
        elif item.status == RESOLVED and alert.status == FIRING:
            _touch(alert, now, status=RESOLVED, ends_at=item.ends_at or now)
            result.resolved += 1
            resolved_now.append(alert)
        else:
            repeats.append(alert.pk)
    if repeats:
        Alert.objects.filter(pk__in=repeats).update(
            last_seen_at=now, receive_count=F("receive_count") + 1
        )
        result.repeated += len(repeats)
    opened = _place_firing(
        group,
        to_place,
        now,
        sender=f"{source.name} ({notification.sender})",
        group_is_new=group_is_new,
        resolving=_Resolving(
            incident_ids=frozenset(
                alert.incident_id for alert in resolved_now if alert.incident_id is not None
            ),
            # Resolved episodes never seen firing go to the incident the group follows after
            # placing, which is the one its firing episodes joined.
            wherever_joined=bool(resolved_unseen),
        ),
    )
    if opened is not None:
        result.incidents_opened.append(opened)
    _record_resolved_unseen(group, resolved_unseen, now)
    _record_resolutions(resolved_now, now)
    _resolve_unattended(resolved_now + resolved_unseen, now)
    if notification.truncated_alerts:
        logger.warning(
            "%s left out %d alerts of group %s", source, notification.truncated_alerts, group.pk
        )


def _pagerduty_fields(event: PagerDutyEvent, dedup_key: str) -> _Episode:
    details: dict[str, Any] = {
        key: value
        for key, value in (
            ("source", event.source),
            ("component", event.component),
            ("group", event.group),
            ("class", event.event_class),
            ("custom_details", event.custom_details),
            ("links", event.links),
            ("images", event.images),
            ("client", event.client),
            ("timestamp", event.timestamp.isoformat() if event.timestamp else ""),
        )
        if value not in ("", None, [])
    }
    return _Episode(
        fingerprint=dedup_key,
        starts_at=timezone.now(),
        status=FIRING,
        title=event.summary[:255],
        summary=event.summary if len(event.summary) > 255 else "",
        labels=event.labels,
        severity_label=event.severity,
        details=details,
        generator_url=event.client_url,
        impact_started_at=event.timestamp,
    )


def _generic_fields(event: GenericEvent, dedup_key: str) -> _Episode:
    labels = dict(event.labels)
    if event.service:
        labels.setdefault("service", event.service)
    if event.severity:
        labels.setdefault("severity", event.severity)
    details = {"details": event.details} if event.details not in (None, {}, []) else {}
    return _Episode(
        fingerprint=dedup_key,
        starts_at=timezone.now(),
        status=FIRING,
        title=event.title[:255],
        summary=event.summary or (event.title if len(event.title) > 255 else ""),
        labels=labels,
        severity_label=event.severity,
        service_name=event.service,
        details=details,
        generator_url=event.url,
    )


def _trigger(source: AlertSource, episode: _Episode, result: IngestResult) -> None:
    """Open an alert for a dedup key, or count a repeat while one is open under that key."""
    now = timezone.now()
    group, group_is_new = _lock_group(source, episode.fingerprint, now)
    # A group is one dedup key: a new one has no alert yet.
    alert = None if group_is_new else _open_alert(source, episode.fingerprint)
    if alert is not None:
        Alert.objects.filter(pk=alert.pk).update(
            last_seen_at=now, receive_count=F("receive_count") + 1
        )
        result.repeated += 1
        return
    alert = _create_episode(source, group, episode, Router(source), now)
    result.created += 1
    opened = _place_firing(group, [alert], now, sender=source.name, group_is_new=group_is_new)
    if opened is not None:
        result.incidents_opened.append(opened)


def _acknowledge_key(source: AlertSource, dedup_key: str, result: IngestResult) -> None:
    """Record the source's acknowledgement; a triggered incident becomes acknowledged.

    A grouped incident (an alert storm, a grouping rule's) only once every firing member is
    acknowledged at the source: one member's acknowledgement is not the storm's.
    """
    now = timezone.now()
    alert = _open_alert_locked(source, dedup_key)
    if alert is None:
        result.dropped += 1
        return
    if alert.acknowledged_at is not None:
        result.repeated += 1
        return
    alert.acknowledged_at = now
    alert.last_seen_at = now
    alert.save(update_fields=["acknowledged_at", "last_seen_at"])
    incident = alert.incident
    if incident is None:
        return
    if _grouping_of(incident) is not None:
        _acknowledge_grouped(incident.pk, now)  # its page lists its members: no note
    elif Incident.objects.filter(pk=incident.pk, status=IncidentStatus.TRIGGERED).exists():
        # Its timeline event says the alert source acknowledged it.
        incident_acknowledge(incident=incident, actor=None, source=Source.ALERT, at=now)
    else:
        _note(incident, f"Alert acknowledged at the source: {_headline(alert)}", alert, now)


def _acknowledge_grouped(incident_id: int, now: datetime) -> None:
    """Acknowledge a triggered grouped incident once no firing member is unacknowledged.

    Until then escalation goes on: someone acknowledging one alert at the source is not on the
    hundreds of others. The incident row is locked (exclusively: acknowledging takes that lock)
    before the members are counted, so of two last acknowledgements at once the second counts
    the first's, and a member joining meanwhile is counted or finds it acknowledged.
    """
    incident = incident_lock_open(incident_id, exclusive=True)
    if incident is None or incident.status != IncidentStatus.TRIGGERED:
        return
    unacknowledged = Alert.objects.filter(
        incident_id=incident_id, status=FIRING, acknowledged_at__isnull=True
    )
    if not unacknowledged.exists():
        incident_acknowledge(incident=incident, actor=None, source=Source.ALERT, at=now)


def _resolve_key(
    source: AlertSource, dedup_key: str, result: IngestResult, *, even_if_acknowledged: bool = False
) -> None:
    """Resolve the open alert under a dedup key; the next trigger with that key is a new one.

    Its incident resolves with it once none of its alerts fires: if nobody acknowledged it, or,
    with `even_if_acknowledged` (PagerDuty Events v2), if it is acknowledged but nobody moved it
    on to investigating or mitigated.
    """
    now = timezone.now()
    alert = _open_alert_locked(source, dedup_key)
    if alert is None:
        result.dropped += 1
        return
    _touch(alert, now, status=RESOLVED, ends_at=now)
    result.resolved += 1
    _record_resolutions([alert], now)
    _resolve_unattended([alert], now, even_if_acknowledged=even_if_acknowledged)


# --- Ingestion steps ----------------------------------------------------------------------------


def _lock_group(source: AlertSource, key: str, now: datetime) -> tuple[AlertGroup, bool]:
    """Return the sender's group, locked until the transaction ends, and whether it is new.

    Inserting the row locks it (a concurrent insert of the same key waits for this transaction);
    a known key's row is locked with SELECT … FOR UPDATE (SQLite's write transaction holds the
    whole database anyway). Only a new group lets ingestion skip looking for its episodes.
    """
    table = AlertGroup._meta.db_table
    digest = secret_digest(key)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                f"INSERT INTO {table} (source_id, key, key_digest, created_at)"  # noqa: S608 (model table)
                " VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (source_id, key_digest) DO NOTHING"
                " RETURNING id, incident_id, created_at",
                [source.pk, key, digest, now],
            )
            row = cursor.fetchone()
            created = row is not None
            if not created:
                cursor.execute(
                    f"SELECT id, incident_id, created_at FROM {table}"  # noqa: S608 (model table)
                    f" WHERE source_id = %s AND key_digest = %s{lock}",
                    [source.pk, digest],
                )
                row = cursor.fetchone()  # None: deleted in between (its source was); insert
            if row is not None:
                break
    group_id, incident_id, created_at = row
    group = AlertGroup(
        id=group_id,
        source=source,
        key=key,
        key_digest=digest,
        incident_id=incident_id,
        created_at=created_at,
    )
    return group, created


def _open_alert(source: AlertSource, dedup_key: str, *, related: str = "incident") -> Alert | None:
    return (
        Alert.objects.select_related(related)
        .filter(source=source, fingerprint=dedup_key, status=FIRING)
        .order_by("-starts_at")
        .first()
    )


def _open_alert_locked(source: AlertSource, dedup_key: str) -> Alert | None:
    """Lock the key's group (when the key was ever seen) and return its open alert."""
    group = (
        AlertGroup.objects.select_for_update()
        .filter(source=source, key_digest=secret_digest(dedup_key))
        .first()
    )
    if group is None:
        return None
    return _open_alert(source, dedup_key, related="incident__grouping")


def _create_episode(
    source: AlertSource, group: AlertGroup, episode: _Episode, router: Router, now: datetime
) -> Alert:
    """Store a new episode, routed (IntegrityError if a concurrent delivery stored it first)."""
    route = router.route(
        labels=episode.labels,
        severity_label=episode.severity_label,
        service_name=episode.service_name,
    )
    alert = Alert.objects.create(
        source=source,
        group=group,
        fingerprint=episode.fingerprint,
        starts_at=episode.starts_at,
        ends_at=episode.ends_at,
        status=episode.status,
        title=episode.title or "Alert",
        summary=episode.summary,
        labels=episode.labels,
        annotations=episode.annotations,
        details=episode.details,
        generator_url=episode.generator_url,
        dashboard_url=episode.dashboard_url,
        panel_url=episode.panel_url,
        silence_url=episode.silence_url,
        first_seen_at=now,
        last_seen_at=now,
        **_route_fields(route, episode),
    )
    alert._impact_started_at = episode.impact_started_at  # type: ignore[attr-defined]
    return alert


def _route_fields(route: Route, episode: _Episode) -> dict[str, Any]:
    return {
        "severity": route.severity,
        "severity_label": episode.severity_label[:40],
        "severity_note": route.severity_note[:200],
        "service": route.service,
        "routing_rule": route.rule,
    }


def _touch(alert: Alert, now: datetime, *, status: str, ends_at: datetime | None) -> None:
    alert.status = status
    alert.ends_at = ends_at
    alert.last_seen_at = now
    alert.receive_count = F("receive_count") + 1  # type: ignore[assignment]
    alert.save(update_fields=["status", "ends_at", "last_seen_at", "receive_count"])
    alert.refresh_from_db(fields=["receive_count"])


def _open_incident(group: AlertGroup) -> Incident | None:
    if group.incident_id is None:
        return None
    return (
        Incident.objects.select_related("grouping")
        .filter(pk=group.incident_id)
        .exclude(status__in=(IncidentStatus.RESOLVED, IncidentStatus.CLOSED))
        .first()
    )


def _grouping_of(incident: Incident) -> IncidentGrouping | None:
    """Return the incident's grouping (an alert storm, a grouping rule's), if it has one.

    Free when the incident was read with select_related("grouping"), as ingestion reads them.
    """
    return getattr(incident, "grouping", None)


@dataclass(frozen=True)
class _Resolving:
    """The incidents a delivery resolves alerts on after placing its firing ones.

    `_resolve_unattended` takes those incidents FOR UPDATE: a join onto one of them takes that
    lock from the start, as two deliveries each upgrading a shared lock would deadlock.
    """

    incident_ids: frozenset[int] = frozenset()
    wherever_joined: bool = False  # whichever incident the firing episodes join

    def includes(self, incident_id: int) -> bool:
        return self.wherever_joined or incident_id in self.incident_ids


_RESOLVING_NOTHING = _Resolving()


def _place_firing(
    group: AlertGroup,
    alerts: list[Alert],
    now: datetime,
    *,
    sender: str,
    group_is_new: bool,
    resolving: _Resolving = _RESOLVING_NOTHING,
) -> Incident | None:
    """Put newly firing episodes on the group's open incident, a new incident, or in triage.

    Returns the incident it opened, if any. Episodes no rule or default routes to a service
    stay in triage, unless they join an open incident of their group. Where the group would
    open an incident, flapping reopens the alert's resolved one, and a grouping rule or an alert
    storm puts the episodes on an open one (docs/ARCHITECTURE.md, Storms, grouping rules and
    flapping). `resolving`: what the delivery resolves next, for the lock a join takes.
    """
    if not alerts:
        return None
    incident = _open_incident(group)
    if incident is not None:
        grouping = _grouping_of(incident)
        if grouping is None:
            _join_plain(incident, alerts, now)
            return None
        joined = OpenGrouping(
            id=grouping.pk,
            kind=grouping.kind,
            service_id=grouping.service_id,
            incident_id=incident.pk,
            opened_at=grouping.opened_at,
            severity_id=incident.severity_id,
        )
        if _join_grouping(joined, group, alerts, now, resolving=resolving):
            return None
        # Its incident resolved meanwhile: placed as if the group had none open.
    routed = [alert for alert in alerts if alert.service_id is not None]
    if not routed:
        return None
    ids = [alert.pk for alert in alerts]
    # Episodes of this group that waited in triage join the incident the group now gets.
    waiting = (
        []
        if group_is_new
        else list(
            group.alerts.filter(incident__isnull=True, status=FIRING)
            .exclude(actionable=False)
            .exclude(pk__in=ids)
            .select_related("severity", "service")
        )
    )
    members = alerts + waiting
    lead = min(routed, key=lambda alert: (alert.severity.rank, alert.pk))
    if not group_is_new and _reopen_flapping(group, alerts, members, now):
        return None
    assert lead.service is not None
    rule = lead.routing_rule
    labels: list[tuple[str, str]] = []
    if rule is not None and rule.group_by:
        labels = rule.group_values(lead.labels)
        found = grouping_find(LABELS, labels_key(rule, labels), now)
        window = rule.group_window_minutes
        if found is not None and window and found.opened_at <= now - timedelta(minutes=window):
            grouping_close(found.id, now)  # its window has passed: the next incident opens
            found = None
        if found is not None and _join_grouping(found, group, members, now, resolving=resolving):
            return None
    policy = storm_policy(lead.service, rule)
    if policy.on:
        placed, storm = _storm_join_or_open(
            group, members, lead, lead.service, policy, now, sender=sender, resolving=resolving
        )
        if placed:
            return storm
    return _open_incident_for(group, members, lead, now, sender=sender, rule=rule, labels=labels)


def _join_plain(incident: Incident, alerts: list[Alert], now: datetime) -> None:
    """Put episodes on their group's open (ungrouped) incident, a timeline event each."""
    _attach(alerts, incident)
    for alert in alerts:
        message = f"Alert fired: {_headline(alert)}"
        if alert.severity_note:
            message += f"\n{alert.severity_note}"
        if alert.severity.is_more_severe_than(incident.severity):
            message += (
                f"\nIt is {alert.severity.code}, more severe than the incident's "
                f"{incident.severity.code}: consider raising the severity."
            )
        _note(incident, message, alert, now)


def _open_incident_for(
    group: AlertGroup,
    members: list[Alert],
    lead: Alert,
    now: datetime,
    *,
    sender: str,
    rule: RoutingRule | None,
    labels: list[tuple[str, str]],
) -> Incident:
    """Open the group's own incident; with `labels`, the grouping rule's incident for them."""
    incident = _trigger_for(members, lead, now, title=_headline(lead), summary=lead.summary)
    _attach_group(group, members, incident)
    lines = [f"Opened by {len(members)} alert{'s' if len(members) > 1 else ''} from {sender}:"]
    if labels and rule is not None:
        reason = labels_reason(rule, labels)
        IncidentGrouping.objects.create(
            kind=LABELS,
            key=labels_key(rule, labels),
            service=lead.service,
            rule=rule,
            incident=incident,
            reason=reason,
            labels=dict(labels),
            opened_at=now,
            members=len(members),
        )
        lines.insert(0, f"{reason}: further alerts with these values join this incident.")
    lines += [f"• {_headline(alert)}" for alert in members]
    lines += [f"{alert.title}: {alert.severity_note}" for alert in members if alert.severity_note]
    _note(incident, "\n".join(lines), members[0], now, alerts=members)
    return incident


def _trigger_for(
    members: list[Alert], lead: Alert, now: datetime, *, title: str, summary: str
) -> Incident:
    """Open an incident for the members: their worst severity, their services, earliest impact."""
    severity = min((alert.severity for alert in members), key=lambda s: s.rank)
    services = _distinct(alert.service for alert in members if alert.service is not None)
    impact_starts = [
        started
        for started in (getattr(alert, "_impact_started_at", None) for alert in members)
        if started is not None
    ]
    return incident_trigger(
        title=title,
        severity=severity,
        services=services,
        summary=summary,
        source=Source.ALERT,
        at=now,
        impact_started_at=min(impact_starts) if impact_starts else None,
    )


def _storm_join_or_open(
    group: AlertGroup,
    members: list[Alert],
    lead: Alert,
    service: Service,
    policy: StormPolicy,
    now: datetime,
    *,
    sender: str,
    resolving: _Resolving,
) -> tuple[bool, Incident | None]:
    """Join the service's open alert storm, or start one.

    Returns (whether the members were placed, the storm incident it opened if it opened one);
    not placed: no storm, the group opens its own incident. Only when no storm is open does it
    lock the service (storm_lock_and_count): joins of a running storm take no service lock.
    """
    key = storm_key(service)
    if connection.features.has_select_for_update:  # (SQLite: the count below finds it too)
        found = grouping_find(STORM, key, now)
        if found is not None and _join_grouping(found, group, members, now, resolving=resolving):
            return True, None
    storm_id, opened = storm_lock_and_count(service, policy, now)
    if storm_id:
        # Opened while this delivery waited for the lock (or, on SQLite, open all along).
        found = grouping_find(STORM, key, now)
        if found is not None and _join_grouping(found, group, members, now, resolving=resolving):
            return True, None
        # It resolved in between (which closed it): the count decides.
    if opened < policy.threshold:
        return False, None
    reason = (
        f"{opened + 1} alert groups opened incidents on {service.name} within "
        f"{policy.minutes} minute{'s' if policy.minutes != 1 else ''} "
        f"(more than {policy.threshold})"
    )
    incident = _trigger_for(
        members,
        lead,
        now,
        title=f"Alert storm on {service.name}",
        summary=f"Grouped as an alert storm: {reason}. Its alerts are listed on the incident page.",
    )
    _attach_group(group, members, incident)
    IncidentGrouping.objects.create(
        kind=STORM,
        key=key,
        service=service,
        incident=incident,
        reason=reason,
        opened_at=now,
        members=len(members),
    )
    lines = [
        f"Grouped as an alert storm: {reason}. Further alerts for {service.name} join this "
        "incident until it resolves; the incident page lists them.",
        f"Opened by {len(members)} alert{'s' if len(members) > 1 else ''} from {sender}:",
    ]
    lines += [f"• {_headline(alert)}" for alert in members]
    _note(incident, "\n".join(lines), members[0], now, alerts=members)
    return True, incident


def _join_grouping(
    found: OpenGrouping,
    group: AlertGroup,
    members: list[Alert],
    now: datetime,
    *,
    resolving: _Resolving = _RESOLVING_NOTHING,
) -> bool:
    """Put episodes on a grouped incident; False (nothing written) if it resolved meanwhile.

    No timeline event per member (a storm has a thousand): the incident page lists them, and
    one `AlertsGrouped` is published per delivery. The incident row is locked so the join and
    the incident's resolution never interleave (docs/ARCHITECTURE.md, Storms, grouping rules
    and flapping): shared, unless the join raises the severity or the delivery goes on to
    resolve alerts on the incident, which both lock it exclusively. A more severe member raises
    the incident's severity through the severity service, which plans escalation again.
    """
    severities = routing_policy().severities_by_id
    worst = min((alert.severity for alert in members), key=lambda s: s.rank)
    current = severities.get(found.severity_id)
    incident = incident_lock_open(
        found.incident_id,
        exclusive=current is None
        or worst.is_more_severe_than(current)
        or resolving.includes(found.incident_id),
    )
    if incident is None:
        return False
    current = severities.get(incident.severity_id) or Severity.objects.get(pk=incident.severity_id)
    if worst.is_more_severe_than(current):
        alert = next(alert for alert in members if alert.severity.pk == worst.pk)
        what = "alert storm" if found.kind == STORM else "grouped incident"
        incident = incident_change_severity(
            incident=incident,
            actor=None,
            severity=worst,
            reason=f"a {worst.code} alert joined the {what}: {_headline(alert)}",
            source=Source.ALERT,
            at=now,
        )
    _attach_group(group, members, incident)
    total = grouping_count_members(found.id, len(members))
    events.publish(
        AlertsGrouped(
            incident_id=incident.pk,
            grouping_id=found.id,
            kind=found.kind,
            service_id=found.service_id,
            joined=len(members),
            members=total,
            at=now.isoformat(),
        )
    )
    return True


def _reopen_flapping(
    group: AlertGroup, alerts: list[Alert], members: list[Alert], now: datetime
) -> bool:
    """Reopen the resolved incident of an alert that fired again within its flapping window.

    The window is the alert's service's (0: off). A closed incident stays closed: the alert
    opens a new one. The reopening is the lifecycle's own (engagement, postmortem and chat
    follow its event); it returns the incident to triggered. On a grouped incident the episodes
    new to it count as members, as when they join.
    """
    flapped = _flapped(group, alerts, now)
    if flapped is None:
        return False
    incident_id, alert, gap, minutes = flapped
    reason = f"{flap_text(gap, minutes)}: {_headline(alert)}"
    try:
        incident = incident_reopen(
            incident=Incident(pk=incident_id),
            actor=None,
            reason=reason,
            source=Source.ALERT,
            at=now,
        )
    except TransitionNotAllowed:
        return False  # closed meanwhile: a new incident opens
    joined = sum(1 for member in members if member.incident_id != incident.pk)
    _attach_group(group, members, incident)
    grouping = (
        IncidentGrouping.objects.filter(incident=incident)
        .values_list("id", "kind", "service_id")
        .first()
    )
    if grouping is not None and joined:
        grouping_id, kind, service_id = grouping
        events.publish(
            AlertsGrouped(
                incident_id=incident.pk,
                grouping_id=grouping_id,
                kind=kind,
                service_id=service_id,
                joined=joined,
                members=grouping_count_members(grouping_id, joined),
                at=now.isoformat(),
            )
        )
    worst = min((member.severity for member in members), key=lambda s: s.rank)
    if not worst.is_more_severe_than(incident.severity):
        return True
    if grouping is not None:
        # A grouped incident takes its worst member's severity, as when members join.
        incident_change_severity(
            incident=incident,
            actor=None,
            severity=worst,
            reason=f"a {worst.code} alert fired again: {_headline(alert)}",
            source=Source.ALERT,
            at=now,
        )
    else:
        _note(
            incident,
            f"It is {worst.code}, more severe than the incident's {incident.severity.code}: "
            "consider raising the severity.",
            alert,
            now,
        )
    return True


def _flapped(
    group: AlertGroup, alerts: list[Alert], now: datetime
) -> tuple[int, Alert, timedelta, int] | None:
    """Return (the resolved incident to reopen, the alert, how soon it fired again, the window).

    An alert flaps when the same alert (source and fingerprint) resolved within its service's
    flapping window before firing again: the same episode (Alertmanager resolved it and the
    rule fires on) or a new one (a new episode, a PagerDuty or generic trigger of a known key).
    """
    policy = routing_policy()
    windows = {
        alert.pk: flap_minutes(policy.service(alert.service_id) if alert.service_id else None)
        for alert in alerts
    }
    if not any(windows.values()):
        return None
    candidates: list[tuple[datetime, int, Alert]] = []  # (resolved at, incident, alert)
    for alert in alerts:
        resolved_at = getattr(alert, "_resolved_at", None)
        incident = alert.incident
        if resolved_at is not None and incident and incident.status == IncidentStatus.RESOLVED:
            candidates.append((resolved_at, incident.pk, alert))
    if not candidates:
        by_fingerprint = {alert.fingerprint: alert for alert in alerts}
        cutoff = now - timedelta(minutes=max(windows.values()))
        previous = (
            Alert.objects.filter(
                group=group,
                fingerprint__in=list(by_fingerprint),
                status=RESOLVED,
                ends_at__gte=cutoff,
                incident__status=IncidentStatus.RESOLVED,
            )
            .exclude(pk__in=[alert.pk for alert in alerts])
            .order_by("-ends_at")
            .values_list("ends_at", "incident_id", "fingerprint")[:1]
        )
        candidates = [
            (ends_at, incident_id, by_fingerprint[fingerprint])
            for ends_at, incident_id, fingerprint in previous
            if ends_at is not None and incident_id is not None
        ]
    for resolved_at, incident_id, alert in sorted(candidates, key=lambda c: c[0], reverse=True):
        minutes = windows[alert.pk]
        started = alert.starts_at
        fired_at = started if resolved_at <= started <= now else now
        gap = max(fired_at - resolved_at, timedelta(0))
        if minutes and gap <= timedelta(minutes=minutes):
            return incident_id, alert, gap, minutes
    return None


def _record_resolved_unseen(group: AlertGroup, alerts: list[Alert], now: datetime) -> None:
    """Keep resolved episodes whose firing never arrived; they join the group's open incident."""
    if not alerts:
        return
    incident = _open_incident(group)
    if incident is None:
        return
    _attach(alerts, incident)
    if _grouping_of(incident) is not None:
        return  # a grouped incident's page lists its members; no event per member
    for alert in alerts:
        _note(
            incident,
            f"Alert resolved at the source (its firing was not received): {_headline(alert)}",
            alert,
            _clamp(alert.ends_at or now, incident.detected_at, now),
        )


def _record_resolutions(alerts: list[Alert], now: datetime) -> None:
    for alert in alerts:
        if alert.incident is None or _grouping_of(alert.incident) is not None:
            continue  # (a grouped incident's page lists its members; no event per member)
        _note(
            alert.incident,
            f"Alert resolved at the source: {_headline(alert)}",
            alert,
            _clamp(alert.ends_at or now, alert.incident.detected_at, now),
        )


def _resolve_unattended(
    alerts: list[Alert], now: datetime, *, even_if_acknowledged: bool = False
) -> None:
    """Resolve incidents nobody acknowledged once every one of their alerts has resolved.

    With `even_if_acknowledged`, acknowledged incidents too (nobody investigating them yet). A
    grouped incident (an alert storm, a grouping rule's) resolves when acknowledged too; one
    people are investigating or have mitigated gets a timeline event saying every member
    resolved, and stays theirs to resolve. The incident is locked before its alerts are
    counted, so an alert joining it at the same time is either counted or finds it resolved.
    """
    incidents = {alert.incident_id for alert in alerts if alert.incident_id is not None}
    if not incidents:
        return  # (an empty `IN` runs no query, but building it costs as much as one)
    statuses = [IncidentStatus.TRIGGERED]
    if even_if_acknowledged:
        statuses.append(IncidentStatus.ACKNOWLEDGED)
    candidates = (
        Incident.objects.select_for_update(of=("self",))
        .select_related("grouping")
        .filter(pk__in=incidents, status__in=OPEN_STATUSES)
        .filter(Q(status__in=statuses) | Q(grouping__isnull=False))
        .order_by("pk")  # (locks taken in one order)
    )
    for incident in candidates:
        if Alert.objects.filter(incident=incident, status=FIRING).exists():
            continue
        grouped = _grouping_of(incident) is not None
        ended = [a.ends_at for a in alerts if a.incident_id == incident.pk and a.ends_at]
        at = _clamp(max(ended) if ended else now, incident.detected_at, now)
        if grouped and incident.status in (IncidentStatus.INVESTIGATING, IncidentStatus.MITIGATED):
            _note(
                incident,
                "Every member alert has resolved at the source. The incident is being worked: "
                "it stays open for its responders to resolve.",
                next(a for a in alerts if a.incident_id == incident.pk),
                at,
            )
            continue
        if grouped:
            message = "Every member alert resolved at the source."
        elif incident.status == IncidentStatus.ACKNOWLEDGED:
            message = "Every alert resolved at the source."
        else:
            message = "Every alert resolved at the source before anyone acknowledged."
        try:
            incident_resolve(
                incident=incident,
                actor=None,
                source=Source.ALERT,
                at=at,
                message=message,
                even_if_acknowledged=even_if_acknowledged or grouped,
            )
        except TransitionNotAllowed:
            # Someone took it on meanwhile; it is theirs to resolve now.
            logger.info("%s was taken on meanwhile; left open", incident.reference)


def _attach_group(group: AlertGroup, alerts: list[Alert], incident: Incident) -> None:
    """Put the episodes on the incident the group now follows.

    Written out, as the group lock is: every first delivery runs these two, and building them
    through the ORM cost more than running them.
    """
    ids = [alert.pk for alert in alerts]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Alert._meta.db_table} SET incident_id = %s"  # noqa: S608 (model table)
            f" WHERE id IN ({', '.join(['%s'] * len(ids))})",
            [incident.pk, *ids],
        )
        cursor.execute(
            f"UPDATE {AlertGroup._meta.db_table} SET incident_id = %s WHERE id = %s",  # noqa: S608 (model table)
            [incident.pk, group.pk],
        )
    for alert in alerts:
        alert.incident = incident
    group.incident = incident


def _attach(alerts: list[Alert], incident: Incident) -> None:
    Alert.objects.filter(pk__in=[alert.pk for alert in alerts]).update(incident=incident)
    for alert in alerts:
        alert.incident = incident


def _note(
    incident: Incident,
    message: str,
    alert: Alert,
    at: datetime,
    *,
    alerts: list[Alert] | None = None,
    actor: AnyUser | None = None,
    source: str = Source.ALERT,
) -> None:
    timeline_record(
        incident=incident,
        kind=TimelineEvent.Kind.ALERT,
        actor=actor,
        source=source,
        occurred_at=at,
        message=message,
        data={
            "alerts": [a.pk for a in alerts] if alerts else [alert.pk],
            "alert_status": alert.status,
        },
    )


def _headline(alert: Alert) -> str:
    if alert.summary and alert.summary != alert.title:
        return f"{alert.title}: {alert.summary}"
    return alert.title


def _clamp(value: datetime, low: datetime, high: datetime) -> datetime:
    return max(low, min(value, high))


def _distinct(services: Iterable[Service]) -> list[Service]:
    seen: dict[int, Service] = {}
    for service in services:
        seen.setdefault(service.pk, service)
    return list(seen.values())
