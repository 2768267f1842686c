from django.apps import AppConfig


class OncallConfig(AppConfig):
    """On-call schedules, rotations, overrides, contact methods, escalation and paging."""

    name = "incidents.oncall"
    label = "oncall"
    verbose_name = "On-call"

    def ready(self) -> None:
        # In every process (web and worker): the timer kinds of paging and reminders, and what
        # on-call does about the incident core's events.
        from . import paging, reminders, subscribers  # noqa: F401
