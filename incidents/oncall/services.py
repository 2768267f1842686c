"""Writes of the on-call domain: overrides and calendar feed tokens.

Schedules and rotations are edited by managers and staff in the back-office.
"""

from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from portal.auth import AnyUser, can_read_portal, is_responder
from portal.errors import InvalidInputError, PermissionDeniedError
from portal.people import display_name

from .models import CalendarFeedToken, Override, Schedule, new_feed_token
from .policies import require_add_override_for, require_delete_override

# Longer than any realistic cover; stops a mistyped year from rewriting months of rota.
MAX_OVERRIDE_LENGTH = timedelta(days=92)
REASON_MAX_LENGTH = Override._meta.get_field("reason").max_length or 200


def override_create(
    *,
    schedule: Schedule,
    user: User,
    start: datetime,
    end: datetime,
    actor: AnyUser,
    reason: str = "",
) -> Override:
    """Put `user` on call for the schedule from start to end, over every rotation.

    Who may: managers and staff for anyone; a responder of the schedule's team (a member, one of
    its engineering managers, or someone in its rotations) for themselves only (taking a shift,
    or their half of a swap). The person must be an active responder (or staff), the override must
    end after it starts, end in the future and last at most 92 days. Where overrides overlap,
    the newest wins.
    """
    require_add_override_for(actor, user, schedule)
    reason = override_validate(user=user, start=start, end=end, reason=reason)
    with transaction.atomic():
        return Override.objects.create(
            schedule=schedule,
            user=user,
            start=start,
            end=end,
            reason=reason,
            created_by=actor if actor.is_authenticated else None,
        )


def override_validate(*, user: User, start: datetime, end: datetime, reason: str = "") -> str:
    """Check an override's person, times and reason; return the cleaned reason.

    Raise InvalidInputError naming the field to fix.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInputError("Give times with a time zone.", field="start")
    if end <= start:
        raise InvalidInputError("The override must end after it starts.", field="end")
    if end <= timezone.now():
        raise InvalidInputError(
            "The override ends in the past; choose an end in the future.", field="end"
        )
    if end - start > MAX_OVERRIDE_LENGTH:
        raise InvalidInputError(
            "An override lasts at most 92 days; change the rotation for longer cover.",
            field="end",
        )
    if not user.is_active or not is_responder(user):
        raise InvalidInputError(
            f"{display_name(user)} is not a responder, so cannot be on call.",
            field="user",
        )
    reason = reason.strip()
    if len(reason) > REASON_MAX_LENGTH:
        raise InvalidInputError(
            f"Keep the reason under {REASON_MAX_LENGTH} characters.", field="reason"
        )
    return reason


def override_delete(*, override: Override, actor: AnyUser) -> None:
    """Remove an override, so the rotations apply again.

    Who may: managers and staff any override; a responder an override they added for
    themselves.
    """
    require_delete_override(actor, override)
    with transaction.atomic():
        Override.objects.filter(pk=override.pk).delete()


def calendar_feed_token_get_or_create(*, user: User) -> CalendarFeedToken:
    """Return the person's calendar feed token, making one on first use."""
    if not can_read_portal(user):
        raise PermissionDeniedError("Your account is not in a group that may read schedules.")
    with transaction.atomic():
        token, _ = CalendarFeedToken.objects.get_or_create(user=user)
    return token


def calendar_feed_token_replace(*, user: User) -> CalendarFeedToken:
    """Give the person a new calendar feed address; the old one stops working at once."""
    if not can_read_portal(user):
        raise PermissionDeniedError("Your account is not in a group that may read schedules.")
    with transaction.atomic():
        token, created = CalendarFeedToken.objects.select_for_update().get_or_create(user=user)
        if not created:
            token.token = new_feed_token()
            token.created_at = timezone.now()
            token.save(update_fields=["token", "created_at"])
    return token
