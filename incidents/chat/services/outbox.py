"""The chat outbox: messages written with what they report, then sent in order by timers.

A ChatPost row commits in the transaction of the change it reports, and a `chat.post` timer
(keys `inc-<id>:chat-post-<post id>:<label>`) sends it, so a broker outage or a killed worker
delays a message but never loses it. Guarantees, stated honestly:

- **In order per channel**: a post waits (without sleeping: `TimerRetry`) while an older post
  of the same channel is still pending and being worked on, and an incident-channel post waits
  for the channel to be opened.
- **Once**: the key names each message once; sending locks the row and re-checks its state, so a
  second timer or task for it posts nothing. A send that may have reached the chat without being
  recorded (a crash after the chat accepted it, or a timeout) is followed by a look for the
  message's marker before posting again.
- **Retries**: a rate limit comes back after its Retry-After, without counting as an attempt; an
  unavailable chat is retried with backoff, then the post is marked failed (visible in the admin)
  so that later messages still go out.
"""

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from incidents.models import Incident, IncidentStatus, ServiceLink, StatusUpdate, TimelineEvent
from incidents.selectors import incident_commander
from portal.backoff import backoff_delay
from portal.integrations.chat import (
    ChatError,
    ChatInvalidRequest,
    ChatNotFound,
    ChatNotInChannel,
    ChatPlatform,
    ChatRateLimited,
    ChatUnavailable,
    Link,
    Message,
    Person,
    Posted,
)
from portal.models import Timer
from portal.people import display_name
from portal.timers import TimerRetry, timer_handler, timer_schedule, timer_wake

from .. import messages
from ..accounts import chat_member_id
from ..models import ChatPost, IncidentChannel
from ..platform import chat_platform

logger = logging.getLogger(__name__)

POST_KIND = "chat.post"
INVITE_KIND = "chat.invite"
OPEN_KIND_PREFIX = "chat-open"
# An unavailable chat is tried this often per post before the post is marked failed.
POST_MAX_ATTEMPTS = 5
RETRY_BASE = timedelta(seconds=15)
# How long a post waits before looking again at an older post being sent right now.
WAIT_FOR_SENDING = timedelta(seconds=2)
LIVE = (Timer.State.PENDING, Timer.State.CLAIMED)
# Errors that mean "this channel is gone or we are not in it": open it again and post once more.
REJOIN_CODES = frozenset({"channel_not_found", "is_archived", "not_in_channel"})


def _post_timer_prefix(post: ChatPost) -> str:
    return f"inc-{post.incident_id}:chat-post-{post.pk}:"


def opening_timer_prefix(incident_id: int) -> str:
    """Return the key prefix of the timers that open an incident's channel."""
    return f"inc-{incident_id}:{OPEN_KIND_PREFIX}"


def _live_timer(prefix: str) -> Timer | None:
    return Timer.objects.filter(key__startswith=prefix, state__in=LIVE).order_by("due_at").first()


def _schedule_send(post: ChatPost, *, label: str, due_at: Any = None) -> None:
    timer_schedule(
        kind=POST_KIND,
        key=f"{_post_timer_prefix(post)}{label}",
        due_at=due_at or timezone.now(),
        payload={"post_id": post.pk},
    )


def chat_post_enqueue(
    *,
    incident: Incident,
    platform: str,
    key: str,
    kind: str,
    destination: str = ChatPost.Destination.INCIDENT_CHANNEL,
    event: TimelineEvent | None = None,
    status_update_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> ChatPost:
    """Write a message to send once (per key) and schedule its sending (in the caller's atomic)."""
    post, created = ChatPost.objects.get_or_create(
        platform=platform,
        key=key,
        defaults={
            "incident": incident,
            "kind": kind,
            "destination": destination,
            "event": event,
            "status_update_id": status_update_id,
            "data": data or {},
        },
    )
    if created:
        _schedule_send(post, label="1")
    return post


def _wake(post: ChatPost) -> None:
    """Make the post's sending due now (a timer waiting on it, or a new one if none is live)."""
    timer = _live_timer(_post_timer_prefix(post))
    if timer is None:
        _schedule_send(post, label=f"again-{timezone.now():%Y%m%d%H%M%S%f}")
        return
    if timer.state != Timer.State.PENDING:
        return  # being sent right now
    now = timezone.now()
    Timer.objects.filter(pk=timer.pk, state=Timer.State.PENDING, due_at__gt=now).update(due_at=now)
    # Only a wake-up: should the broker be down, the sweep sends the post.
    timer_wake(timer.pk)


def _wake_next(*, incident_id: int, platform: str, destination: str) -> None:
    """Wake the oldest pending post of a channel, so it need not wait out its poll."""
    post = (
        ChatPost.objects.filter(
            incident_id=incident_id,
            platform=platform,
            destination=destination,
            state=ChatPost.State.PENDING,
        )
        .order_by("pk")
        .first()
    )
    if post is not None:
        _wake(post)


def chat_posts_wake(*, incident: Incident, platform: str) -> None:
    """Wake what waits for the incident's channel: the oldest pending post of each channel."""
    for destination in ChatPost.Destination.values:
        _wake_next(incident_id=incident.pk, platform=platform, destination=destination)


def channel_url(*, platform: ChatPlatform, channel_id: str) -> str:
    """Return an address that opens the channel in the chat (for links in messages and pages)."""
    if platform.name == "slack":
        return f"https://slack.com/app_redirect?channel={channel_id}"
    return ""


def channel_link(*, platform: ChatPlatform, channel: IncidentChannel) -> Link | None:
    """Return a link to the incident's channel, labelled with its name, once it exists."""
    if not channel.channel_id:
        return None
    return Link(f"#{channel.name}", channel_url(platform=platform, channel_id=channel.channel_id))


def mention_resolver(platform: ChatPlatform) -> Callable[[User], Person]:
    """Return a function that turns users into mentions, asking the chat once per user."""
    known: dict[int, Person] = {}

    def mention(user: User) -> Person:
        if user.pk not in known:
            try:
                member_id = chat_member_id(platform=platform, user=user) or ""
            except ChatRateLimited:
                raise
            except ChatError as exc:
                # Not being able to look someone up must not hold the message back: a name will do.
                logger.info("no chat member for %s: %s", user, exc)
                member_id = ""
            known[user.pk] = Person(name=display_name(user), member_id=member_id)
        return known[user.pk]

    return mention


# --- Sending ------------------------------------------------------------------------------------


def _finish(post: ChatPost, state: str, reason: str) -> str:
    post.state = state
    post.last_error = reason[:300]
    post.save(update_fields=["state", "last_error"])
    return f"{post.key}: {state} ({reason})"


def _wait(timer: Timer, why: str) -> TimerRetry:
    if timer.state == Timer.State.PENDING:
        after = max(timer.due_at - timezone.now(), timedelta(0)) + timedelta(milliseconds=500)
    else:
        after = WAIT_FOR_SENDING
    return TimerRetry(after, reason=why)


def _blocking_predecessor(post: ChatPost) -> Timer | None:
    """Return the live timer of an older pending post of the same channel, if there is one.

    An older post no timer works on (one waiting for a channel that failed to open) does not
    hold the channel up.
    """
    older = ChatPost.objects.filter(
        incident_id=post.incident_id,
        platform=post.platform,
        destination=post.destination,
        state=ChatPost.State.PENDING,
        pk__lt=post.pk,
    ).order_by("pk")
    for other in older[:20]:
        timer = _live_timer(_post_timer_prefix(other))
        if timer is not None:
            return timer
    return None


@timer_handler(POST_KIND)
def send_chat_post(timer: Timer) -> str:
    """Send one outbox message after the older ones of its channel; record where it went."""
    outcome, post = _send(timer)
    if post is not None and post.state != ChatPost.State.PENDING:
        # Done with this one, one way or another: the next in its channel need not wait.
        _wake_next(
            incident_id=post.incident_id, platform=post.platform, destination=post.destination
        )
    return outcome


def _send(timer: Timer) -> tuple[str, ChatPost | None]:
    post = (
        ChatPost.objects.select_for_update(of=("self",))
        .select_related("incident__severity")
        .filter(pk=timer.payload["post_id"])
        .first()
    )
    if post is None:
        return "post gone", None
    if post.state != ChatPost.State.PENDING:
        return f"{post.key}: already {post.state}", None
    platform = chat_platform()
    if platform is None or platform.name != post.platform:
        return _finish(post, ChatPost.State.SKIPPED, "chat is not configured"), post
    channel = IncidentChannel.objects.filter(
        incident_id=post.incident_id, platform=post.platform
    ).first()
    if post.needs_channel:
        if channel is None:
            return _finish(post, ChatPost.State.SKIPPED, "the incident has no channel"), post
        if channel.archived_at is not None:
            return _finish(post, ChatPost.State.SKIPPED, "the channel is archived"), post
        if channel.opened_at is None or not channel.channel_id:
            opening = _live_timer(opening_timer_prefix(post.incident_id))
            if opening is not None:
                raise _wait(opening, "waiting for the channel to open")
            # The opening gave up: the post waits, and a later opening sends it.
            return f"{post.key}: waiting for #{channel.name} to open", post
    blocker = _blocking_predecessor(post)
    if blocker is not None:
        raise _wait(blocker, f"waiting for an older post ({blocker.key})")
    # A previous try may have reached the chat without being recorded: look before posting.
    resend = timer.attempts > 1 or post.attempts > 0
    try:
        posted = _deliver(post, platform=platform, channel=channel, resend=resend)
    except ChatRateLimited as exc:
        after = timedelta(seconds=max(exc.retry_after, 1.0))
        raise TimerRetry(after, reason=f"rate limited, retry after {exc.retry_after:g} s") from exc
    except ChatUnavailable as exc:
        return _retry_later(post, exc), post
    except ChatError as exc:
        logger.error("%s not posted: %s", post.key, exc)
        post.attempts += 1
        post.save(update_fields=["attempts"])
        return _finish(post, ChatPost.State.FAILED, str(exc)), post
    if posted is None:
        return _finish(post, ChatPost.State.SKIPPED, post.last_error or "nothing to say"), post
    post.state = ChatPost.State.POSTED
    post.channel_id = posted.channel_id
    post.message_id = posted.message_id
    post.posted_at = timezone.now()
    post.attempts += 1
    post.last_error = ""
    post.save(
        update_fields=[
            "state",
            "channel_id",
            "message_id",
            "posted_at",
            "attempts",
            "last_error",
            "data",  # a storm message notes what it showed (services.storms)
        ]
    )
    if channel is not None and post.destination == ChatPost.Destination.INCIDENT_CHANNEL:
        _invite_later(post, channel)
    return f"{post.key}: posted to {posted.channel_id}", post


def _retry_later(post: ChatPost, exc: ChatError) -> str:
    post.attempts += 1
    post.last_error = str(exc)[:300]
    if post.attempts >= POST_MAX_ATTEMPTS:
        logger.error("%s failed for good after %s attempts: %s", post.key, post.attempts, exc)
        post.state = ChatPost.State.FAILED
        post.save(update_fields=["attempts", "last_error", "state"])
        return f"{post.key}: failed for good ({exc})"
    post.save(update_fields=["attempts", "last_error"])
    retry_at = timezone.now() + backoff_delay(post.attempts, base=RETRY_BASE)
    _schedule_send(post, label=f"retry-{post.attempts + 1}", due_at=retry_at)
    return f"{post.key}: attempt {post.attempts} failed ({exc}); retry at {retry_at:%H:%M:%S}"


def _invite_later(post: ChatPost, channel: IncidentChannel) -> None:
    """Invite whom a posted message newly engages (a role holder, people paged)."""
    user_ids: list[int] = []
    if post.kind == ChatPost.Kind.PAGES and post.data.get("kind") != "notify":
        user_ids = list(post.data.get("user_ids") or [])
    elif (
        post.kind == ChatPost.Kind.EVENT
        and post.event is not None
        and post.event.kind == TimelineEvent.Kind.ROLE_ASSIGNED
    ):
        username = post.event.data.get("user")
        user_ids = list(User.objects.filter(username=username).values_list("pk", flat=True))
    if user_ids:
        channel_invite_schedule(channel=channel, user_ids=user_ids, label=f"post-{post.pk}")


def channel_invite_schedule(*, channel: IncidentChannel, user_ids: list[int], label: str) -> None:
    """Schedule inviting portal users to the incident's channel (those who are chat members)."""
    timer_schedule(
        kind=INVITE_KIND,
        key=f"inc-{channel.incident_id}:chat-invite-{label}",
        due_at=timezone.now(),
        payload={"channel_id": channel.pk, "user_ids": sorted(set(user_ids))},
    )


def _message(
    post: ChatPost, *, platform: ChatPlatform, channel: IncidentChannel | None
) -> Message | None:
    incident = post.incident
    mention = mention_resolver(platform)
    K = ChatPost.Kind
    if post.kind in (K.ANNOUNCEMENT, K.WELCOME):
        commander = incident_commander(incident)
        commander_person = mention(commander.user) if commander else None
        if post.kind == K.ANNOUNCEMENT:
            link = channel_link(platform=platform, channel=channel) if channel else None
            return messages.announcement(
                incident=incident, commander=commander_person, channel=link
            )
        links = ServiceLink.objects.filter(service__incidents=incident).order_by(
            "kind", "position", "pk"
        )
        return messages.welcome(incident=incident, commander=commander_person, service_links=links)
    if post.kind == K.EVENT and post.event_id is not None:
        event = (
            TimelineEvent.objects.select_related("actor", "incident__severity")
            .filter(pk=post.event_id)
            .first()
        )
        if event is None:
            return None
        archive_at = None
        if event.kind == TimelineEvent.Kind.CLOSED and incident.closed_at:
            archive_at = incident.closed_at + timedelta(
                hours=settings.FIREBREAK_SLACK_ARCHIVE_AFTER_HOURS
            )
        return messages.timeline_event(event=event, mention=mention, archive_at=archive_at)
    if post.kind == K.STATUS_UPDATE and post.status_update_id is not None:
        update = (
            StatusUpdate.objects.select_related("author", "incident__severity")
            .filter(pk=post.status_update_id)
            .first()
        )
        return None if update is None else messages.status_update(update=update, mention=mention)
    if post.kind == K.PAGES:
        users = {user.pk: user for user in User.objects.filter(pk__in=post.data["user_ids"])}
        people = [mention(users[pk]) for pk in post.data["user_ids"] if pk in users]
        if not people:
            return None
        requester = User.objects.filter(pk=post.data.get("requested_by")).first()
        return messages.pages(
            incident=incident,
            kind=post.data.get("kind", ""),
            people=people,
            step_number=post.data.get("step_number"),
            requested_by=mention(requester) if requester else None,
        )
    if post.kind == K.ARCHIVE:
        return messages.archived_notice(incident=incident)
    if post.kind == K.STORM:
        from .storms import storm_message

        message, shown = storm_message(post)
        post.data = {**post.data, "shown": shown}
        return message
    return None


def _announce_channel_id(configured: str) -> str:
    """Return the announcement channel's id as a previous post learned it, else as configured."""
    known = (
        ChatPost.objects.filter(
            destination=ChatPost.Destination.ANNOUNCE,
            state=ChatPost.State.POSTED,
            data__channel=configured,
        )
        .exclude(channel_id="")
        .order_by("-pk")
        .values_list("channel_id", flat=True)
        .first()
    )
    return known or configured


def _already_posted(platform: ChatPlatform, *, channel_id: str, marker: str) -> str | None:
    try:
        return platform.find_marked(channel_id=channel_id, marker=marker)
    except (ChatNotFound, ChatNotInChannel, ChatInvalidRequest) as exc:
        # The history cannot be read (a channel given by name, say): posting is the lesser risk.
        logger.info("could not look for %s in %s: %s", marker, channel_id, exc)
        return None


def _deliver(
    post: ChatPost, *, platform: ChatPlatform, channel: IncidentChannel | None, resend: bool
) -> Posted | None:
    """Post the message (or find it already posted); None when there is nothing to say."""
    if post.kind == ChatPost.Kind.ARCHIVE:
        assert channel is not None
        return _archive(post, platform=platform, channel=channel)
    message = _message(post, platform=platform, channel=channel)
    if message is None:
        post.last_error = "what it reported is gone"
        return None
    message = replace(message, marker=post.key)
    if post.destination == ChatPost.Destination.ANNOUNCE:
        configured = post.data.get("channel") or settings.FIREBREAK_SLACK_ANNOUNCE_CHANNEL
        if resend:
            channel_id = _announce_channel_id(configured)
            found = _already_posted(platform, channel_id=channel_id, marker=post.key)
            if found:
                return Posted(channel_id=channel_id, message_id=found)
        return platform.announce(channel=configured, message=message)
    assert channel is not None
    if resend:
        found = _already_posted(platform, channel_id=channel.channel_id, marker=post.key)
        if found:
            return Posted(channel_id=channel.channel_id, message_id=found)
    try:
        return platform.post(channel_id=channel.channel_id, message=message)
    except (ChatNotInChannel, ChatNotFound, ChatInvalidRequest) as exc:
        if exc.code not in REJOIN_CODES:
            raise
        # Someone removed the app, archived or deleted the channel while the incident is
        # live: open it again (join, unarchive or re-create under its name) and post once more.
        logger.warning("%s: %s; opening #%s again", post.key, exc.code, channel.name)
        _reopen(channel, platform=platform)
        return platform.post(channel_id=channel.channel_id, message=message)


def _reopen(channel: IncidentChannel, *, platform: ChatPlatform) -> None:
    from .channels import channel_topic

    opened = platform.open_channel(name=channel.name, topic=channel_topic(channel.incident))
    if opened.channel_id != channel.channel_id:
        channel.channel_id = opened.channel_id
        channel.save(update_fields=["channel_id"])


def _archive(post: ChatPost, *, platform: ChatPlatform, channel: IncidentChannel) -> Posted | None:
    """Post the archive notice (once, found by its marker on a retry), then archive the channel."""
    incident = post.incident
    if incident.status != IncidentStatus.CLOSED:
        post.last_error = f"{incident.reference} was reopened before its channel was archived"
        return None
    # Always look first: a rate limit on archiving rolls back the record of the notice.
    found = _already_posted(platform, channel_id=channel.channel_id, marker=post.key)
    message_id = found or ""
    if not found:
        notice = replace(messages.archived_notice(incident=incident), marker=post.key)
        try:
            message_id = platform.post(channel_id=channel.channel_id, message=notice).message_id
        except (ChatNotInChannel, ChatNotFound, ChatInvalidRequest) as exc:
            if exc.code not in REJOIN_CODES:
                raise
            logger.info("%s: no notice (%s); archiving anyway", post.key, exc.code)
    try:
        platform.archive(channel_id=channel.channel_id)
    except ChatNotFound:
        logger.info("%s: #%s no longer exists", post.key, channel.name)
    channel.archived_at = timezone.now()
    channel.save(update_fields=["archived_at"])
    return Posted(channel_id=channel.channel_id, message_id=message_id)
