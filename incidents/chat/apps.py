from django.apps import AppConfig


class ChatConfig(AppConfig):
    """The incident war room in the team chat (Slack): commands, channels, mirroring."""

    name = "incidents.chat"
    label = "chat"
    verbose_name = "Chat (Slack)"

    def ready(self) -> None:
        # Register, in every process (web and worker), the timer kinds of posting, archiving,
        # commands and pins, and the subscribers that mirror the portal into incident channels.
        from . import receivers, tasks  # noqa: F401
