from django.apps import AppConfig


class AlertingConfig(AppConfig):
    """Alert sources, ingestion formats, alert episodes and routing rules."""

    name = "incidents.alerting"
    label = "alerting"
    verbose_name = "Alerting"
