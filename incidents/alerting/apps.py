from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class AlertingConfig(AppConfig):
    """Alert sources, ingestion formats, alert episodes and routing rules."""

    name = "incidents.alerting"
    label = "alerting"
    verbose_name = "Alerting"

    def ready(self) -> None:
        # Each process routes with its own copy of the rules and severities: an edit of them, or
        # of the services they name, drops it.
        from incidents.models import Service, Severity, Team

        from . import subscribers  # noqa: F401
        from .models import RoutingRule
        from .routing import routing_policy_changed

        for model in (RoutingRule, Severity, Service, Team):
            for verb, signal in (("save", post_save), ("delete", post_delete)):
                signal.connect(
                    routing_policy_changed,
                    sender=model,
                    dispatch_uid=f"alerting-routing-policy-{verb}-{model.__name__}",
                )
