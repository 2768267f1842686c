from django.apps import AppConfig


class StatuspageConfig(AppConfig):
    """The public status page: components, public incidents, maintenance, feeds, subscribers."""

    name = "incidents.statuspage"
    label = "statuspage"
    verbose_name = "Status page"

    def ready(self) -> None:
        # Register, in every process (web and worker): the timer kinds of maintenance, reminders,
        # subscriber deliveries and the fan-out; and the snapshot refresh after every change.
        from . import maintenance, receivers, reminders, subscriptions  # noqa: F401
        from .services import notify  # noqa: F401
