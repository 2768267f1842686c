from django.apps import AppConfig


class HealthConfig(AppConfig):
    """On-call health: MTTA, MTTR, alert quality, pages per rotation, toil, the weekly review."""

    name = "incidents.health"
    label = "health"
    verbose_name = "On-call health"
