from django.apps import AppConfig


class RunbooksConfig(AppConfig):
    """The runbook's playbooks: guidance, Kubernetes targets, and audited one-click jobs."""

    name = "incidents.runbooks"
    label = "runbooks"
    verbose_name = "Runbooks"

    def ready(self) -> None:
        # Register the jobs' timer kinds (wake-ups, rollout polls) in every process.
        from .services.jobs import wakeups  # noqa: F401
