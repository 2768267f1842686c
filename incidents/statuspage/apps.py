from django.apps import AppConfig


class StatuspageConfig(AppConfig):
    """The public status page: components, public incidents, maintenance, feeds, subscribers."""

    name = "incidents.statuspage"
    label = "statuspage"
    verbose_name = "Status page"
