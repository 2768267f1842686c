"""Writes of the portal itself: a person's API token."""

from django.contrib.auth.models import User
from django.db import transaction
from rest_framework.authtoken.models import Token


def api_token_rotate(*, user: User) -> Token:
    """Issue a new API token for the user, revoking the one they had."""
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        return Token.objects.create(user=user)


def api_token_revoke(*, user: User) -> bool:
    """Revoke the user's API token; return whether there was one."""
    deleted, _ = Token.objects.filter(user=user).delete()
    return deleted > 0
