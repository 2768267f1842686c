from django.apps import AppConfig


class OncallConfig(AppConfig):
    """On-call schedules, rotations, overrides, contact methods, escalation and paging."""

    name = "incidents.oncall"
    label = "oncall"
    verbose_name = "On-call"

    def ready(self) -> None:
        # Register the timer kinds of paging and reminders in every process (web and worker).
        from . import paging, reminders  # noqa: F401
