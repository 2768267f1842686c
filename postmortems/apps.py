from django.apps import AppConfig


class PostmortemsConfig(AppConfig):
    """Blameless postmortems and action items (built on the incident timeline)."""

    name = "postmortems"
    verbose_name = "Postmortems"

    def ready(self) -> None:
        # Register the workflow's email tasks in every process (web and worker): they live
        # outside tasks.py, which Celery's autodiscovery would find on its own.
        # The reminders module registers its timer kinds (reminders, weekly digest).
        from . import mail_tasks, reminders  # noqa: F401
