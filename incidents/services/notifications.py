"""Telling the owning team about its incidents, once per event, in a digest during a storm.

The first mail to a team goes out at once, and so does P1/P2 news. P3/P4 news for a team that
got a team mail within the digest interval (`FIREBREAK_TEAM_DIGEST_MINUTES`) is held for one
digest mail at the end of that interval. See docs/ARCHITECTURE.md, "Digests".
"""

import logging
import zoneinfo
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from portal.links import absolute_url
from portal.mail import mail_send
from portal.models import Timer
from portal.timers import timer_handler, timer_schedule

from ..models import (
    Incident,
    IncidentStatus,
    Severity,
    Team,
    TeamDigest,
    TeamNotification,
    TimelineEvent,
)

logger = logging.getLogger(__name__)

# Events older than this when their notification runs are not sent.
STALE_AFTER = timedelta(hours=1)
# News of incidents this severe (P1, P2 in the seeded table) is never held for a digest.
URGENT_MAX_RANK = 2
DIGEST_KIND = "incidents.team_digest"
LIVE = (Timer.State.PENDING, Timer.State.CLAIMED)


def digest_interval() -> timedelta:
    """Return how long after a team mail further P3/P4 news waits for a digest (0: never)."""
    return timedelta(minutes=max(settings.FIREBREAK_TEAM_DIGEST_MINUTES, 0))


def _status_line(event: TimelineEvent) -> str:
    """Return the incident's status as of the event (not as of sending), if the event moved it."""
    if event.to_value in IncidentStatus.values:
        return f"Status: {IncidentStatus(event.to_value).label}\n"
    return ""


def _severity_code_at(event: TimelineEvent) -> str:
    """Return the incident's severity when the event happened (it may have changed since)."""
    if event.kind == TimelineEvent.Kind.SEVERITY_CHANGED and event.to_value:
        return event.to_value
    later = (
        TimelineEvent.objects.filter(
            incident_id=event.incident_id,
            kind=TimelineEvent.Kind.SEVERITY_CHANGED,
            pk__gt=event.pk,
        )
        .order_by("pk")
        .values_list("from_value", flat=True)
        .first()
    )
    return later or event.incident.severity.code


def _is_urgent(event: TimelineEvent) -> bool:
    """Return whether the event is P1/P2 news (declared, triggered, raised, reopened, …)."""
    code = _severity_code_at(event)
    rank = Severity.objects.filter(code=code).values_list("rank", flat=True).first()
    return rank is None or rank <= URGENT_MAX_RANK


def _lock_team(team: Team) -> None:
    """Serialise the team's mail decisions and digests (see docs/ARCHITECTURE.md, "Digests").

    `FOR NO KEY UPDATE` on PostgreSQL: incidents and digests referencing the team can still be
    written meanwhile; only another mail decision for the team waits.
    """
    list(Team.objects.select_for_update(no_key=True).filter(pk=team.pk).values_list("pk"))


def _last_team_mail(team: Team, *, after: datetime) -> datetime | None:
    """Return when the team last got a team mail (immediate or digest), if after `after`."""
    return TeamNotification.objects.filter(sent_at__gt=after, event__incident__team=team).aggregate(
        last=Max("sent_at")
    )["last"]


def _digest_timer_key(digest: TeamDigest) -> str:
    return f"team-{digest.team_id}:digest-{digest.pk}"


def _digest_timer_ensure(digest: TeamDigest) -> None:
    """Make sure a timer sends the digest: the one made with it, or a new one if that gave up."""
    prefix = _digest_timer_key(digest)
    if Timer.objects.filter(key__startswith=prefix, state__in=LIVE).exists():
        return
    tries = Timer.objects.filter(key__startswith=prefix).count()
    timer_schedule(
        kind=DIGEST_KIND,
        key=prefix if tries == 0 else f"{prefix}-again-{tries + 1}",
        due_at=max(digest.due_at, timezone.now()),
        payload={"digest_id": digest.pk},
        # Ranked as the most urgent news it may hold: a sweep sends a due digest before the
        # newer news of that rank, which then waits for the next one.
        priority=URGENT_MAX_RANK + 1,
    )


def _digest_to_join(team: Team, now: datetime) -> TeamDigest | None:
    """Return the team's open digest, opening one if the team was mailed within the interval.

    Runs under the team's lock, so two workers never both open one (the partial unique
    constraint `team_digest_one_open` would refuse the second anyway).
    """
    digest = TeamDigest.objects.filter(team=team, sent_at__isnull=True).first()
    if digest is None:
        interval = digest_interval()
        last = _last_team_mail(team, after=now - interval)
        if last is None:
            return None  # nothing mailed lately: this one goes out at once
        digest = TeamDigest.objects.create(team=team, since=last, due_at=last + interval)
    _digest_timer_ensure(digest)
    return digest


def incident_notify_team(*, event_id: int) -> TeamNotification | None:
    """Email the owning team about one timeline event, or hold it for the team's digest.

    A repeat of the same event sends nothing: the notification is recorded once per event.
    The record and the email happen in one transaction: a failed send leaves no record (and the
    task retries); a crash after the mail server accepted the message may send it once more.
    """
    event = (
        TimelineEvent.objects.select_related("incident__team", "incident__severity")
        .filter(pk=event_id)
        .first()
    )
    if event is None:
        logger.info("notify skipped: timeline event %s no longer exists", event_id)
        return None
    if timezone.now() - event.occurred_at > STALE_AFTER:
        # Backfilled history (imports, demo data) or a queue that was down for long: news that
        # old would mislead more than inform.
        logger.info("notify skipped: event %s happened over %s ago", event_id, STALE_AFTER)
        return None
    team = event.incident.team
    if team is None or not team.email:
        logger.info("notify skipped: %s has no team address", event.incident.reference)
        return None
    if TeamNotification.objects.filter(event=event).exists():
        logger.info("notify skipped: event %s was already sent", event_id)
        return None
    incident = event.incident
    try:
        with transaction.atomic():
            if digest_interval() and not _is_urgent(event):
                _lock_team(team)
                digest = _digest_to_join(team, timezone.now())
                if digest is not None:
                    return TeamNotification.objects.create(
                        event=event, recipients=[team.email], digest=digest, sent_at=None
                    )
            notification = TeamNotification.objects.create(
                event=event, recipients=[team.email], sent_at=timezone.now()
            )
            link = absolute_url(f"/incidents/{incident.pk}/")
            mail_send(
                subject=f"[{incident.severity.code}] {incident.reference} "
                f"{event.get_kind_display().lower()}: {incident.title}",
                body=f"{event.message}\n\n{_status_line(event)}{link}\n",
                to=[team.email],
            )
    except IntegrityError:
        logger.info("notify skipped: event %s was already sent", event_id)
        return None
    return notification


# --- The digest ---------------------------------------------------------------------------------


def _what_happened(event: TimelineEvent) -> str:
    """Return the event in a few words: its message, led by its kind unless it says it."""
    label = event.get_kind_display()
    message = " ".join(event.message.split())
    if not message:
        return label
    if message.lower().startswith(label.split()[0].lower()):
        return message
    return f"{label}: {message}"


def _team_zone(team: Team) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(team.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _digest_mail(team: Team, since: datetime, events: Sequence[TimelineEvent]) -> tuple[str, str]:
    """Return the subject and body: one block per incident, its events in order, its link."""
    zone = _team_zone(team)
    count = len(events)
    updates = "incident update" if count == 1 else "incident updates"
    subject = f"{count} {updates} for {team.name} since {since.astimezone(zone):%H:%M}"
    by_incident: dict[int, list[TimelineEvent]] = {}
    incidents: dict[int, Incident] = {}
    for event in events:
        by_incident.setdefault(event.incident_id, []).append(event)
        incidents[event.incident_id] = event.incident
    blocks = []
    for incident_id, happened in by_incident.items():
        incident = incidents[incident_id]
        lines = [
            f"[{incident.severity.code}] {incident.reference} {incident.title} "
            f"({incident.get_status_display()})"
        ]
        lines += [
            f"  {event.occurred_at.astimezone(zone):%H:%M} {_what_happened(event)}"
            for event in happened
        ]
        lines.append(f"  {absolute_url(f'/incidents/{incident.pk}/')}")
        blocks.append("\n".join(lines))
    intro = (
        f"{subject} ({zone.key}). P3/P4 news for a team mailed in the last "
        f"{_minutes(digest_interval())} comes in one mail like this one; P1/P2 news is always "
        "mailed at once."
    )
    return subject, intro + "\n\n" + "\n\n".join(blocks) + "\n"


def _minutes(interval: timedelta) -> str:
    minutes = interval.total_seconds() / 60
    shown = f"{minutes:g}"
    return f"{shown} minute" if shown == "1" else f"{shown} minutes"


def team_digest_send(*, digest_id: int) -> str:
    """Send a team's digest once: what was held for it and is still fresh, in one mail.

    Runs in the timer's transaction under the team's lock: news held meanwhile either joins
    this digest before it is read or finds it sent and opens the next one. A failed send rolls
    back (nothing is marked sent) and the timer tries again.
    """
    digest = TeamDigest.objects.select_related("team").filter(pk=digest_id).first()
    if digest is None:
        return "digest gone"
    team = digest.team
    _lock_team(team)
    digest = TeamDigest.objects.select_for_update(of=("self",)).get(pk=digest_id)
    if digest.sent_at is not None:
        return f"digest {digest_id} already sent"
    now = timezone.now()
    held = list(
        digest.notifications.select_related("event__incident__severity").order_by(
            "event__occurred_at", "event__pk"
        )
    )
    fresh = [n for n in held if now - n.event.occurred_at <= STALE_AFTER]
    digest.sent_at = now
    digest.recipients = [team.email] if team.email and fresh else []
    digest.save(update_fields=["sent_at", "recipients"])
    if not digest.recipients:
        # Held news that went stale (a queue down for long), or a team without an address now.
        return f"digest {digest_id}: nothing to send ({len(held)} held, none sendable)"
    TeamNotification.objects.filter(pk__in=[n.pk for n in fresh]).update(sent_at=now)
    subject, body = _digest_mail(team, digest.since, [n.event for n in fresh])
    mail_send(subject=subject, body=body, to=digest.recipients)
    return f"digest {digest_id}: {len(fresh)} updates sent"


@timer_handler(DIGEST_KIND)
def send_team_digest(timer: Timer) -> str:
    """Fire a team's digest at the end of its interval."""
    return team_digest_send(digest_id=timer.payload["digest_id"])
