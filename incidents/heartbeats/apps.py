from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class HeartbeatsConfig(AppConfig):
    """Heartbeats (a dead man's switch): an incident when an expected ping stops coming."""

    name = "incidents.heartbeats"
    label = "heartbeats"
    verbose_name = "Heartbeats"

    def ready(self) -> None:
        # Each process keeps which alert names of which sources are heartbeat pings, so the
        # Alertmanager hook knows without a query; saving or deleting a heartbeat drops it.
        from .models import Heartbeat
        from .watchdog import watchdog_names_changed

        for verb, signal in (("save", post_save), ("delete", post_delete)):
            signal.connect(
                watchdog_names_changed, sender=Heartbeat, dispatch_uid=f"heartbeats-watch-{verb}"
            )
