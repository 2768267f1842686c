from django.apps import AppConfig


class IncidentsConfig(AppConfig):
    name = "incidents"
    verbose_name = "Incidents"

    def ready(self) -> None:
        # Subscribe, in every process (web and worker), the core's own follow-ups to its events.
        from . import subscribers  # noqa: F401
