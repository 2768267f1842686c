"""The back-office for on-call: schedules and their rotation layers, overrides, contact methods.

Managers and staff manage schedules here (managers through their group's permissions, granted
by migration oncall/0002). Overrides added or changed here pass the same checks as the
schedule page's form.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from incidents.admin import StaffAdminMixin
from portal.errors import InvalidInputError
from portal.people import display_name

from . import selectors, services
from .models import (
    CalendarFeedToken,
    ContactMethod,
    EscalationPolicy,
    EscalationStep,
    Override,
    Page,
    Rotation,
    RotationParticipant,
    Schedule,
)


class RotationInline(StaffAdminMixin, admin.StackedInline):
    model = Rotation
    extra = 0
    show_change_link = True
    fields = (
        ("name", "priority"),
        ("shift_length", "handoff_time", "start_date"),
        "ends_at",
        ("restrict_weekdays", "restrict_from", "restrict_until"),
    )


@admin.register(Schedule)
class ScheduleAdmin(StaffAdminMixin, admin.ModelAdmin):
    list_display = ("name", "team", "time_zone", "layer_count", "on_call_now")
    list_filter = ("team", "time_zone")
    search_fields = ("name", "slug", "description", "team__name")
    prepopulated_fields = {"slug": ("name",)}
    list_select_related = ("team",)
    inlines = (RotationInline,)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Schedule]:
        queryset = super().get_queryset(request).annotate(layer_total=Count("rotations"))
        return selectors.schedules_with_layers(queryset)

    @admin.display(description="layers", ordering="layer_total")
    def layer_count(self, obj: Schedule) -> int:
        return obj.layer_total  # type: ignore[attr-defined]

    @admin.display(description="on call now")
    def on_call_now(self, obj: Schedule) -> str:
        user = selectors.oncall_at(schedule=obj, at=timezone.now())
        return display_name(user, fallback="⚠ nobody")

    def view_on_site(self, obj: Schedule) -> str:
        return f"/schedules/{obj.slug}/"


class RotationParticipantInline(StaffAdminMixin, admin.TabularInline):
    model = RotationParticipant
    extra = 1
    fields = ("position", "user")
    ordering = ("position", "id")


@admin.register(Rotation)
class RotationAdmin(StaffAdminMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "schedule",
        "priority",
        "shift_length",
        "handoff_time",
        "start_date",
        "ends_at",
        "participant_list",
    )
    list_filter = ("schedule__team", "schedule")
    search_fields = ("name", "schedule__name", "participant_entries__user__username")
    list_select_related = ("schedule",)
    inlines = (RotationParticipantInline,)
    fieldsets = (
        (None, {"fields": ("schedule", "name", "priority")}),
        ("Shifts", {"fields": ("shift_length", "handoff_time", "start_date", "ends_at")}),
        (
            "Restriction (optional)",
            {
                "fields": ("restrict_weekdays", ("restrict_from", "restrict_until")),
                "description": "Limit this layer to some weekdays and/or a daily window; "
                "outside it, the layer below applies.",
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Rotation]:
        return super().get_queryset(request).prefetch_related("participant_entries__user")

    @admin.display(description="order")
    def participant_list(self, obj: Rotation) -> str:
        return " → ".join(entry.user.get_username() for entry in obj.participant_entries.all())


class OverrideAdminForm(forms.ModelForm):
    class Meta:
        model = Override
        fields = ("schedule", "user", "start", "end", "reason")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        changed = {"user", "start", "end", "reason"} & set(self.changed_data)
        if (
            data
            and all(data.get(name) for name in ("user", "start", "end"))
            and (self.instance._state.adding or changed)
        ):
            try:
                data["reason"] = services.override_validate(
                    user=data["user"],
                    start=data["start"],
                    end=data["end"],
                    reason=data.get("reason") or "",
                )
            except InvalidInputError as exc:
                self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data


@admin.register(Override)
class OverrideAdmin(StaffAdminMixin, admin.ModelAdmin):
    form = OverrideAdminForm
    list_display = ("schedule", "user", "start", "end", "reason", "created_by")
    list_filter = ("schedule__team", "schedule")
    search_fields = ("user__username", "user__first_name", "user__last_name", "reason")
    list_select_related = ("schedule", "user", "created_by")
    date_hierarchy = "start"

    def save_model(self, request: HttpRequest, obj: Override, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user  # type: ignore[assignment]
        super().save_model(request, obj, form, change)


@admin.register(ContactMethod)
class ContactMethodAdmin(StaffAdminMixin, admin.ModelAdmin):
    list_display = ("user", "position", "kind", "label", "address", "active", "verified")
    list_display_links = ("user", "kind")
    list_filter = ("kind", "active", ("verified_at", admin.EmptyFieldListFilter))
    search_fields = ("user__username", "user__email", "label", "address")
    list_select_related = ("user",)
    ordering = ("user__username", "position", "id")

    @admin.display(description="verified", boolean=True, ordering="verified_at")
    def verified(self, obj: ContactMethod) -> bool:
        return obj.is_verified


@admin.register(CalendarFeedToken)
class CalendarFeedTokenAdmin(StaffAdminMixin, admin.ModelAdmin):
    """Delete a token to revoke a leaked calendar address; the token itself is never shown."""

    list_display = ("user", "created_at")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    fields = ("user", "created_at")
    readonly_fields = ("user", "created_at")

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class EscalationStepInline(StaffAdminMixin, admin.TabularInline):
    model = EscalationStep
    extra = 1
    autocomplete_fields = ["user"]
    fields = ["position", "delay_minutes", "target", "schedule", "user"]


@admin.register(EscalationPolicy)
class EscalationPolicyAdmin(StaffAdminMixin, admin.ModelAdmin):
    list_display = ["name", "team", "severity", "repeat_count"]
    list_filter = ["team", "severity"]
    inlines = [EscalationStepInline]


@admin.register(Page)
class PageAdmin(StaffAdminMixin, admin.ModelAdmin):
    """Pages are written by paging; here they are read (actionable marks are for responders)."""

    list_display = ["incident", "recipient", "kind", "channel", "state", "sent_at"]
    list_filter = ["kind", "channel", "state"]
    list_select_related = ["incident", "recipient"]
    readonly_fields = [
        field.name for field in Page._meta.fields if field.name not in ("actionable",)
    ]
    exclude = ["nonce"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
