"""An alert storm's one message in the announcement channel: posted once, then edited.

When alerts join a grouped incident (an alert storm, or a grouping rule's incident), the
announcement channel gets one `storm` outbox post for it (key `inc-<id>:storm`), sent like any
other post (in order, once, its retries and rate limits handled by the outbox). Later joins and
the incident's resolution do not post: they schedule an edit, a `chat.storm_edit` timer keyed
per incident and time bucket (`inc-<id>:storm-edit-<bucket>`, due at the bucket's end), so a
storm of deliveries within `FIREBREAK_SLACK_STORM_EDIT_SECONDS` makes at most one `chat.update`,
and that edit reads the latest count when it fires. See docs/ARCHITECTURE.md, "Digests".
"""

import logging
import math
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from incidents.alerting.models import Alert
from incidents.models import Incident, Service
from portal.integrations.chat import (
    ChatError,
    ChatRateLimited,
    ChatUnavailable,
    Message,
)
from portal.models import Timer
from portal.timers import TimerRetry, timer_handler, timer_schedule

from .. import messages
from ..models import ChatPost
from ..platform import chat_platform
from .outbox import LIVE, chat_post_enqueue

logger = logging.getLogger(__name__)

EDIT_KIND = "chat.storm_edit"


def storm_post_key(incident_id: int) -> str:
    return f"inc-{incident_id}:storm"


def _edit_every() -> float:
    return max(settings.FIREBREAK_SLACK_STORM_EDIT_SECONDS, 1.0)


def _schedule_edit(post_id: int, incident_id: int, now: datetime) -> None:
    """Schedule the edit of the current time bucket, unless one is already scheduled."""
    every = _edit_every()
    bucket = math.floor(now.timestamp() / every)
    key = f"inc-{incident_id}:storm-edit-{bucket}"
    if Timer.objects.filter(key=key).exists():
        return  # the usual case in a storm: one query, no write
    timer_schedule(
        kind=EDIT_KIND,
        key=key,
        due_at=datetime.fromtimestamp((bucket + 1) * every, tz=now.tzinfo),
        payload={"post_id": post_id},
    )


def chat_storm_follow(
    *, incident_id: int, kind: str, service_id: int | None, platform: str
) -> None:
    """Post the storm message for the incident, or have it edited (in the caller's atomic).

    Runs in the ingestion transaction of every delivery that added members: a cheap look-up,
    and a write only for the first delivery and the first of each time bucket.
    """
    existing = (
        ChatPost.objects.filter(platform=platform, key=storm_post_key(incident_id))
        .values_list("pk", flat=True)
        .first()
    )
    if existing is not None:
        _schedule_edit(existing, incident_id, timezone.now())
        return
    incident = Incident.objects.get(pk=incident_id)
    # The post reads the count when it is sent; joins after that schedule edits.
    chat_post_enqueue(
        incident=incident,
        platform=platform,
        key=storm_post_key(incident_id),
        kind=ChatPost.Kind.STORM,
        destination=ChatPost.Destination.ANNOUNCE,
        data={
            "channel": settings.FIREBREAK_SLACK_ANNOUNCE_CHANNEL,
            "grouping": kind,
            "service_id": service_id,
        },
    )


def chat_storm_incident_changed(*, incident_id: int, platform: str) -> None:
    """Have the storm message edited after a change it shows (resolved, reopened, severity)."""
    existing = (
        ChatPost.objects.filter(platform=platform, key=storm_post_key(incident_id))
        .values_list("pk", flat=True)
        .first()
    )
    if existing is not None:
        _schedule_edit(existing, incident_id, timezone.now())


def _where(post: ChatPost) -> str:
    """Return what the storm is on: its service, else the incident's team, else the incident."""
    incident = post.incident
    service_id = post.data.get("service_id")
    name = Service.objects.filter(pk=service_id).values_list("name", flat=True).first()
    if name:
        return name
    team = incident.team
    return team.name if team is not None else incident.reference


def storm_message(post: ChatPost) -> tuple[Message, list[Any]]:
    """Return the storm message as of now, and what it shows (to skip edits that change nothing)."""
    incident = post.incident
    alerts = Alert.objects.filter(incident_id=incident.pk).count()
    where = _where(post)
    message = messages.storm(
        incident=incident,
        kind=post.data.get("grouping", "storm"),
        where=where,
        alerts=alerts,
        since=incident.detected_at,
    )
    shown = [alerts, incident.status, incident.severity.code, where]
    return message, shown


@timer_handler(EDIT_KIND)
def edit_storm_message(timer: Timer) -> str:
    """Edit the storm message to show the latest count and state (one edit per time bucket)."""
    post = (
        ChatPost.objects.select_for_update(of=("self",))
        .select_related("incident__severity", "incident__team")
        .filter(pk=timer.payload["post_id"])
        .first()
    )
    if post is None:
        return "storm message gone"
    if post.state == ChatPost.State.PENDING:
        sending = (
            Timer.objects.filter(
                key__startswith=f"inc-{post.incident_id}:chat-post-{post.pk}:", state__in=LIVE
            )
            .order_by("due_at")
            .first()
        )
        if sending is None:
            return f"{post.key}: not posted yet; it shows the latest when it is"
        # Edit what the post will have said, once it is out (it may be on its way with less).
        wait = max(sending.due_at - timezone.now(), timedelta(0)) + timedelta(seconds=1)
        raise TimerRetry(wait, reason=f"waiting for {post.key} to be posted")
    if post.state != ChatPost.State.POSTED or not post.message_id:
        return f"{post.key}: nothing to edit ({post.state})"
    platform = chat_platform()
    if platform is None or platform.name != post.platform:
        return "chat is not configured"
    message, shown = storm_message(post)
    if post.data.get("shown") == shown:
        return f"{post.key}: unchanged"
    try:
        platform.update(channel_id=post.channel_id, message_id=post.message_id, message=message)
    except ChatRateLimited as exc:
        after = timedelta(seconds=max(exc.retry_after, 1.0))
        raise TimerRetry(after, reason=f"rate limited, retry after {exc.retry_after:g} s") from exc
    except ChatUnavailable:
        raise  # the timer is tried again, with backoff; a later edit shows the latest anyway
    except ChatError as exc:
        logger.warning("%s not edited: %s", post.key, exc)
        return f"{post.key}: not edited ({exc})"[:200]
    post.data = {**post.data, "shown": shown}
    post.save(update_fields=["data"])
    return f"{post.key}: edited ({shown[0]} alerts, {shown[1]})"
