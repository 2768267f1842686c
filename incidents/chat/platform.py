"""The configured chat platform, if any: Slack when its token and signing secret are set."""

from functools import lru_cache

from django.conf import settings

from portal.integrations.chat import ChatPlatform


def chat_configured() -> bool:
    """Return whether a chat platform is configured (else chat features stay hidden)."""
    return bool(settings.FIREBREAK_SLACK_BOT_TOKEN and settings.FIREBREAK_SLACK_SIGNING_SECRET)


@lru_cache(maxsize=4)
def _slack(token: str, base_url: str) -> ChatPlatform:
    from portal.integrations.slack import SlackPlatform

    return SlackPlatform(token=token, base_url=base_url)


def chat_platform() -> ChatPlatform | None:
    """Return the configured chat platform, or None when chat is off."""
    if not chat_configured():
        return None
    return _slack(settings.FIREBREAK_SLACK_BOT_TOKEN, settings.FIREBREAK_SLACK_API_URL)
