from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from portal.auth import is_manager


def may_use_back_office(user: AbstractBaseUser) -> bool:
    """Return whether the user may enter the back-office: staff, or a manager."""
    return bool(user.is_active and (user.is_staff or is_manager(user)))  # type: ignore[attr-defined]


class BackOfficeAuthenticationForm(AdminAuthenticationForm):
    """The admin's sign-in form, letting managers in as well as staff."""

    def confirm_login_allowed(self, user: AbstractBaseUser) -> None:
        if not may_use_back_office(user):
            raise ValidationError(
                self.error_messages["invalid_login"],
                code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class FirebreakAdminSite(admin.AdminSite):
    """The back-office: staff see everything, managers see the models their group may use."""

    site_header = "Firebreak back-office"
    site_title = "Firebreak"
    index_title = "Back-office"
    login_form = BackOfficeAuthenticationForm

    def has_permission(self, request: HttpRequest) -> bool:
        return may_use_back_office(request.user)  # type: ignore[arg-type]
