from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"


class PortalAdminConfig(AdminConfig):
    """The back-office: staff and the managers group (docs/ARCHITECTURE.md, Permission matrix)."""

    default_site = "portal.sites.FirebreakAdminSite"
