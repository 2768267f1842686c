"""Who may call the API at all; per-incident rights are checked by the services."""

from typing import TYPE_CHECKING

from rest_framework import permissions
from rest_framework.request import Request

from portal.auth import can_read_portal

if TYPE_CHECKING:
    from rest_framework.views import APIView


class IsPortalReader(permissions.BasePermission):
    """Signed-in users in a portal group (viewers, responders, managers) or staff."""

    message = "Your account is not in a group that may use the portal."

    def has_permission(self, request: Request, view: "APIView") -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        return can_read_portal(request.user)
