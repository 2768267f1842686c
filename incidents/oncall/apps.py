from django.apps import AppConfig


class OncallConfig(AppConfig):
    """On-call schedules, rotations, overrides and contact methods."""

    name = "incidents.oncall"
    label = "oncall"
    verbose_name = "On-call"
