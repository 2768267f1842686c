from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self) -> None:
        # Register, in every process (the worker too), the beat task that purges expired keys.
        from . import idempotency_tasks  # noqa: F401


class PortalAdminConfig(AdminConfig):
    """The back-office: staff and the managers group (docs/ARCHITECTURE.md, Permission matrix)."""

    default_site = "portal.sites.FirebreakAdminSite"
