"""Who a chat member is in the portal, and who a portal user is in the chat."""

import logging

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from incidents.oncall.models import ContactMethod
from portal.integrations.chat import ChatNotFound, ChatPlatform

from .models import ChatAccount

logger = logging.getLogger(__name__)


def _remember(*, user: User, platform: ChatPlatform, member_id: str) -> None:
    try:
        with transaction.atomic():
            ChatAccount.objects.create(
                user=user,
                platform=platform.name,
                member_id=member_id,
                origin=ChatAccount.Origin.EMAIL,
            )
    except IntegrityError:
        # Another request learned it first, or the user already has a different member id.
        pass


def chat_account_user(*, platform: ChatPlatform, member_id: str) -> User | None:
    """Return the active portal user a chat member is, learning the match by email once.

    A stored member id wins (ChatAccount, else a Slack contact method); otherwise the member's
    email in the chat is matched against active portal users' emails, and the match is stored.
    """
    account = (
        ChatAccount.objects.select_related("user")
        .filter(platform=platform.name, member_id=member_id, user__is_active=True)
        .first()
    )
    if account is not None:
        return account.user
    method = (
        ContactMethod.objects.select_related("user")
        .filter(kind=ContactMethod.Kind.SLACK, address=member_id, user__is_active=True)
        .order_by("pk")
        .first()
    )
    if method is not None:
        return method.user
    try:
        member = platform.member(member_id=member_id)
    except ChatNotFound:
        return None
    if not member.email:
        return None
    matches = list(User.objects.filter(email__iexact=member.email, is_active=True)[:2])
    if len(matches) != 1:
        # No portal user with that email, or several: guessing would act as the wrong person.
        return None
    _remember(user=matches[0], platform=platform, member_id=member_id)
    return matches[0]


def chat_member_id(*, platform: ChatPlatform, user: User) -> str | None:
    """Return the user's chat member id: stored, else looked up by email once and stored."""
    stored = (
        ChatAccount.objects.filter(platform=platform.name, user=user)
        .values_list("member_id", flat=True)
        .first()
    )
    if stored:
        return stored
    method = (
        ContactMethod.objects.filter(kind=ContactMethod.Kind.SLACK, user=user, active=True)
        .order_by("position", "pk")
        .values_list("address", flat=True)
        .first()
    )
    if method:
        return method
    if not user.email:
        return None
    member = platform.member_by_email(email=user.email)
    if member is None:
        return None
    _remember(user=user, platform=platform, member_id=member.member_id)
    return member.member_id
