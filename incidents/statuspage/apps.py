from django.apps import AppConfig


class StatuspageConfig(AppConfig):
    """The public status page: components, public incidents, maintenance, feeds, subscribers."""

    name = "incidents.statuspage"
    label = "statuspage"
    verbose_name = "Status page"

    def ready(self) -> None:
        # Register, in every process (web and worker): the timer kinds of maintenance, reminders,
        # subscriber deliveries and the fan-out; the snapshot refresh after every change; and
        # what the status page does about the incident core's events.
        from . import (  # noqa: F401
            maintenance,
            receivers,
            reminders,
            snapshot_tasks,
            subscribers,
            subscriptions,
        )
        from .services import notify  # noqa: F401
