"""An incident's own channel: reserved at once, opened by a timer, archived after the close.

Opening is a `chat.open_channel` timer (key `inc-<id>:chat-open[-n]`), so it survives a broker
outage like every other timer, and it is idempotent: the IncidentChannel row is unique per
incident and reserved before anything is created, and the adapter answers `name_taken` with the
existing channel (created=False), so a retried declare, a second run or a run after a crash
never makes two channels. The announcement and the welcome are outbox posts written with the
reservation, so each is posted exactly once, after the channel exists.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from incidents.models import Incident, IncidentStatus, RoleAssignment, Severity
from incidents.oncall.models import Page
from incidents.policies import Action, require
from portal.auth import AnyUser
from portal.errors import ApplicationError
from portal.integrations.chat import (
    Channel,
    ChatError,
    ChatInvalidRequest,
    ChatPlatform,
    ChatRateLimited,
    ChatUnavailable,
)
from portal.models import Timer
from portal.timers import TimerRetry, timer_cancel, timer_handler, timer_schedule

from ..accounts import chat_member_id
from ..models import ChatPost, IncidentChannel
from ..platform import chat_platform
from .outbox import (
    INVITE_KIND,
    channel_invite_schedule,
    chat_post_enqueue,
    chat_posts_wake,
    opening_timer_prefix,
)

logger = logging.getLogger(__name__)

OPEN_KIND = "chat.open_channel"
ARCHIVE_KIND = "chat.archive"
# Slack's rules for channel names: lowercase letters, digits, hyphens and underscores, ≤ 80.
CHANNEL_NAME_MAX = 80
TOPIC_MAX = 250
# Names tried when a channel the app cannot see (a private one) holds the incident's name.
NAME_TRIES = 5
# Incidents this severe (P1, P2 in the seeded table) get a channel wherever they are declared
# (Slack included) or triggered; others get one on request (the incident page's button).
AUTO_OPEN_MAX_RANK = 2


def channel_name(incident: Incident) -> str:
    """Return the channel name `inc-<number>-<slug of the title>`, within the chat's rules."""
    base = f"inc-{incident.pk}"
    slug = slugify(incident.title).replace("_", "-")
    if not slug:
        return base
    return f"{base}-{slug}"[:CHANNEL_NAME_MAX].rstrip("-")


def _suffixed(name: str, number: int) -> str:
    suffix = f"-{number}"
    return name[: CHANNEL_NAME_MAX - len(suffix)].rstrip("-") + suffix


def _open_under_a_free_name(platform: ChatPlatform, *, name: str, topic: str) -> Channel:
    """Open the channel under its name, else `<name>-2`, `-3` … while an unseen channel has it.

    A visible channel of the name is reused by the adapter; one it cannot see (private, say)
    answers `name_taken` for good, and retrying the same name would never open the war room.
    A retry after a crash walks the same names and reuses the one it created.
    """
    for number in range(1, NAME_TRIES):
        candidate = name if number == 1 else _suffixed(name, number)
        try:
            return platform.open_channel(name=candidate, topic=topic)
        except ChatInvalidRequest as exc:
            if exc.code != "name_taken":
                raise
    return platform.open_channel(name=_suffixed(name, NAME_TRIES), topic=topic)


def channel_topic(incident: Incident) -> str:
    """Return the channel topic: reference, severity, title and the incident page."""
    from ..messages import incident_url

    head = f"{incident.reference} {incident.severity.code}: {incident.title}"
    url = incident_url(incident)
    room = TOPIC_MAX - len(url) - 3
    if len(head) > room:
        head = head[: room - 1] + "…"
    return f"{head} · {url}"


def channel_auto_opens(severity: Severity) -> bool:
    """Return whether incidents of this severity get a channel without being asked."""
    return severity.rank <= AUTO_OPEN_MAX_RANK


def channel_open_schedule(*, incident: Incident, requested_by: User | None) -> None:
    """Reserve the incident's channel now and open it after commit; asking again changes nothing.

    The welcome (in the channel) and the announcement (in the announcement channel) are queued
    with the reservation and go out once the channel exists. A channel archived after the close
    is opened again (unarchived) for a reopened incident.
    """
    platform = chat_platform()
    if platform is None:
        return
    with transaction.atomic():
        channel, created = IncidentChannel.objects.get_or_create(
            incident=incident, platform=platform.name, defaults={"name": channel_name(incident)}
        )
        if not created and channel.archived_at is not None:
            if not incident.is_open:
                return
            # Locked only here, against a concurrent archiving: the usual repeat (a retried
            # declare) must not wait on an opening that is talking to the chat.
            channel = IncidentChannel.objects.select_for_update().get(pk=channel.pk)
            if channel.archived_at is not None:
                channel.archived_at = None
                channel.opened_at = None
                channel.save(update_fields=["archived_at", "opened_at"])
        elif not created and channel.opened_at is not None:
            return
        chat_post_enqueue(
            incident=incident,
            platform=platform.name,
            key=f"inc-{incident.pk}:welcome",
            kind=ChatPost.Kind.WELCOME,
        )
        chat_post_enqueue(
            incident=incident,
            platform=platform.name,
            key=f"inc-{incident.pk}:announcement",
            kind=ChatPost.Kind.ANNOUNCEMENT,
            destination=ChatPost.Destination.ANNOUNCE,
            data={"channel": settings.FIREBREAK_SLACK_ANNOUNCE_CHANNEL},
        )
        _schedule_opening(incident, requested_by)


def _schedule_opening(incident: Incident, requested_by: User | None) -> None:
    prefix = opening_timer_prefix(incident.pk)
    if Timer.objects.filter(
        key__startswith=prefix, state__in=(Timer.State.PENDING, Timer.State.CLAIMED)
    ).exists():
        return
    # An opening that gave up (or a reopened incident) is tried again under a new key.
    tries = Timer.objects.filter(key__startswith=prefix).count()
    timer_schedule(
        kind=OPEN_KIND,
        key=prefix if tries == 0 else f"{prefix}-{tries + 1}",
        due_at=timezone.now(),
        payload={
            "incident_id": incident.pk,
            "requested_by": requested_by.pk if requested_by is not None else None,
        },
    )


def incident_channel_open(*, incident: Incident, actor: AnyUser) -> IncidentChannel:
    """Open the incident's channel on a person's request (who may assign roles on it)."""
    require(actor, Action.ASSIGN_ROLE, incident)
    platform = chat_platform()
    if platform is None:
        raise ApplicationError("Slack is not configured for this portal.")
    if not incident.is_open:
        raise ApplicationError(
            f"{incident.reference} is {incident.get_status_display().lower()}; "
            "channels are opened for open incidents."
        )
    channel_open_schedule(
        incident=incident, requested_by=actor if isinstance(actor, User) else None
    )
    return IncidentChannel.objects.get(incident=incident, platform=platform.name)


def _engaged_user_ids(incident: Incident) -> list[int]:
    """Return the people to invite: current role holders and whoever was paged."""
    holders = RoleAssignment.objects.filter(incident=incident, ended_at__isnull=True).values_list(
        "user_id", flat=True
    )
    paged = (
        Page.objects.filter(incident=incident)
        .exclude(kind=Page.Kind.NOTIFY)
        .exclude(state=Page.State.SKIPPED)
        .values_list("recipient_id", flat=True)
    )
    return list(dict.fromkeys([*holders, *paged]))


@timer_handler(OPEN_KIND)
def open_incident_channel(timer: Timer) -> str:
    """Create (or find) the incident's channel, record it, invite the engaged, send what waits."""
    channel = (
        IncidentChannel.objects.select_for_update(of=("self",))
        .select_related("incident__severity")
        .filter(incident_id=timer.payload["incident_id"])
        .first()
    )
    if channel is None:
        return "no channel reserved"
    if channel.opened_at is not None:
        return f"#{channel.name} already open"
    platform = chat_platform()
    if platform is None or platform.name != channel.platform:
        return "chat is not configured"
    incident = channel.incident
    try:
        opened = _open_under_a_free_name(platform, name=channel.name, topic=channel_topic(incident))
    except ChatRateLimited as exc:
        raise TimerRetry(timedelta(seconds=max(exc.retry_after, 1.0)), reason=str(exc)) from exc
    except ChatUnavailable:
        raise  # the timer is tried again, with backoff
    except ChatError as exc:
        # Not worth retrying (a revoked token, a name the app cannot use): the incident page
        # offers to try again once an admin has fixed it.
        logger.error("%s: channel #%s not opened: %s", incident.reference, channel.name, exc)
        return f"not opened: {exc}"
    channel.channel_id = opened.channel_id
    channel.name = opened.name
    channel.opened_at = timezone.now()
    channel.save(update_fields=["channel_id", "name", "opened_at"])
    invitees = _engaged_user_ids(incident)
    requested_by = timer.payload.get("requested_by")
    if requested_by:
        invitees.append(requested_by)
    if invitees:
        channel_invite_schedule(channel=channel, user_ids=invitees, label=f"open-{timer.pk}")
    chat_posts_wake(incident=incident, platform=channel.platform)
    return f"#{opened.name} {'created' if opened.created else 'reused'}"


@timer_handler(INVITE_KIND)
def invite_to_incident_channel(timer: Timer) -> str:
    """Invite portal users to the incident's channel, those who are members of the chat."""
    channel = IncidentChannel.objects.filter(pk=timer.payload["channel_id"]).first()
    if channel is None or not channel.channel_id or channel.archived_at is not None:
        return "no open channel"
    platform = chat_platform()
    if platform is None:
        return "chat is not configured"
    invited, missing = 0, []
    for user in User.objects.filter(pk__in=timer.payload["user_ids"], is_active=True):
        try:
            member_id = chat_member_id(platform=platform, user=user)
            if member_id is None:
                missing.append(user.get_username())
                continue
            # One at a time: one unknown member must not keep the others out.
            platform.invite(channel_id=channel.channel_id, member_ids=[member_id])
        except ChatRateLimited as exc:
            # Invites are idempotent: coming back re-invites those already in, harmlessly.
            raise TimerRetry(timedelta(seconds=max(exc.retry_after, 1.0)), reason=str(exc)) from exc
        except ChatUnavailable:
            raise
        except ChatError as exc:
            logger.warning("%s not invited to #%s: %s", user, channel.name, exc)
            missing.append(user.get_username())
            continue
        invited += 1
    outcome = f"invited {invited} to #{channel.name}"
    return outcome + (f"; not in the chat: {', '.join(missing)}" if missing else "")


# --- Archiving ----------------------------------------------------------------------------------


def _archive_prefix(incident: Incident) -> str:
    return f"inc-{incident.pk}:chat-archive-"


def channel_archive_schedule(*, incident: Incident, closed_event_id: int) -> None:
    """Schedule archiving the incident's channel a configured while after it was closed."""
    closed_at = incident.closed_at or timezone.now()
    due_at = closed_at + timedelta(hours=settings.FIREBREAK_SLACK_ARCHIVE_AFTER_HOURS)
    timer_schedule(
        kind=ARCHIVE_KIND,
        key=f"{_archive_prefix(incident)}{closed_event_id}",
        due_at=due_at,
        payload={"incident_id": incident.pk, "closed_event_id": closed_event_id},
    )


def channel_archive_cancel(*, incident: Incident) -> int:
    """Cancel a pending archiving (the incident was reopened); return how many were cancelled."""
    return timer_cancel(key_prefix=_archive_prefix(incident))


@timer_handler(ARCHIVE_KIND)
def archive_incident_channel(timer: Timer) -> str:
    """Queue the archive notice and the archiving behind the channel's other posts."""
    channel = (
        IncidentChannel.objects.select_for_update(of=("self",))
        .select_related("incident")
        .filter(incident_id=timer.payload["incident_id"])
        .first()
    )
    if channel is None or not channel.channel_id:
        return "no channel to archive"
    if channel.archived_at is not None:
        return f"#{channel.name} already archived"
    incident = channel.incident
    if incident.status != IncidentStatus.CLOSED:
        return f"not archived: {incident.reference} is {incident.status}"
    chat_post_enqueue(
        incident=incident,
        platform=channel.platform,
        key=f"inc-{incident.pk}:archive-{timer.payload['closed_event_id']}",
        kind=ChatPost.Kind.ARCHIVE,
    )
    return f"archiving #{channel.name} queued"
