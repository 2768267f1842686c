from django.apps import AppConfig


class PostmortemsConfig(AppConfig):
    """Blameless postmortems and action items (built on the incident timeline)."""

    name = "postmortems"
    verbose_name = "Postmortems"

    def ready(self) -> None:
        # Register in every process (web and worker) the timer kinds of the workflow's mails,
        # of reminders and the weekly digest; the subscribers follow the incident lifecycle
        # and guard closing.
        from . import reminders, subscribers  # noqa: F401
        from .services import mail_outbox  # noqa: F401
