from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"


class PortalAdminConfig(AdminConfig):
    """The back-office, open to staff and to the managers group (DESIGN.md's permission matrix)."""

    default_site = "portal.sites.FirebreakAdminSite"
