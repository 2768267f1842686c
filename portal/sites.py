from django.contrib import admin
from django.http import HttpRequest

from portal.auth import is_manager


class FirebreakAdminSite(admin.AdminSite):
    """The back-office: staff see everything, managers see the models their group may use."""

    site_header = "Firebreak back-office"
    site_title = "Firebreak"
    index_title = "Back-office"

    def has_permission(self, request: HttpRequest) -> bool:
        user = request.user
        return bool(user.is_active and (user.is_staff or is_manager(user)))
