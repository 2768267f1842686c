from . import admin_subscriptions  # noqa: F401  (subscriber, delivery and allow-list admin)

# isort: split
# The back-office of the status page: its settings, texts, components and maintenance.
#
# Component statuses change only through `component_status_set` (so the history the uptime bars
# are computed from stays whole), maintenance is scheduled and moved through its services, and
# public incidents are published from the incident page; here they are read, and renamed at most.
# Every edit that shows on the public page bumps the status version, so caches follow at once.

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from incidents.admin import ReadOnlyAdminMixin, StaffAdminMixin
from portal.errors import ApplicationError, InvalidInputError

from .models import (
    MAINTENANCE_STATUSES,
    Component,
    ComponentGroup,
    ComponentStatusChange,
    PageSettings,
    PublicIncident,
    PublicIncidentStatus,
    PublicUpdate,
    UpdateTemplate,
)
from .services import (
    component_status_set,
    maintenance_reschedule,
    maintenance_schedule,
    maintenance_transition,
    maintenance_update,
)
from .services.components import component_history_start
from .services.maintenance import ALLOWED_MAINTENANCE_TRANSITIONS, maintenance_window_check
from .version import status_version_bump

P = PublicIncidentStatus


class PublicFacingAdminMixin(StaffAdminMixin):
    """Edits here show on the public page: bump the status version with each of them."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)  # type: ignore[misc]
            status_version_bump()

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            super().delete_model(request, obj)  # type: ignore[misc]
            status_version_bump()

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            super().delete_queryset(request, queryset)  # type: ignore[misc]
            status_version_bump()


# --- The page and its texts ---------------------------------------------------------------------


@admin.register(PageSettings)
class PageSettingsAdmin(PublicFacingAdminMixin, admin.ModelAdmin):
    list_display = ("name", "url", "time_zone", "partial_outage_weight", "updated_at")
    readonly_fields = ("public_id", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # One status page: its row is created with the app and edited, never added again.
        return not PageSettings.objects.exists() and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(UpdateTemplate)
class UpdateTemplateAdmin(StaffAdminMixin, admin.ModelAdmin):
    list_display = ("kind", "status", "first_line")
    fields = ("kind", "status", "body")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("kind",) if obj is not None else ()

    def has_add_permission(self, request: HttpRequest) -> bool:
        missing = UpdateTemplate.objects.count() < len(UpdateTemplate.Kind.values)
        return missing and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="text")
    def first_line(self, obj: UpdateTemplate) -> str:
        return obj.body.splitlines()[0] if obj.body else ""


# --- Components ---------------------------------------------------------------------------------


@admin.register(ComponentGroup)
class ComponentGroupAdmin(PublicFacingAdminMixin, admin.ModelAdmin):
    list_display = ("name", "position", "component_count")
    list_editable = ("position",)
    search_fields = ("name",)

    @admin.display(description="components")
    def component_count(self, obj: ComponentGroup) -> int:
        return obj.components.count()


@admin.register(Component)
class ComponentAdmin(PublicFacingAdminMixin, admin.ModelAdmin):
    list_display = ("name", "group", "position", "status", "showcase", "service_list")
    list_editable = ("position", "status")
    list_filter = ("group", "status", "showcase")
    list_select_related = ("group",)
    search_fields = ("name", "description", "services__name")
    filter_horizontal = ("services",)
    readonly_fields = ("public_id", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "description", ("group", "position"), "status")}),
        ("Behind it", {"fields": ("services",)}),
        ("On the page", {"fields": ("showcase", "only_show_if_degraded", "start_date")}),
        ("Record", {"fields": ("public_id", "created_at", "updated_at")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Component]:
        return super().get_queryset(request).prefetch_related("services")

    @admin.display(description="services")
    def service_list(self, obj: Component) -> str:
        return ", ".join(service.name for service in obj.services.all())

    def save_model(self, request: HttpRequest, obj: Component, form: Any, change: bool) -> None:
        if not change:
            with transaction.atomic():
                super().save_model(request, obj, form, change)
                component_history_start(component=obj, actor=request.user)
            return
        new_status = obj.status
        with transaction.atomic():
            # Everything else is saved as typed; the status goes through the service, which
            # keeps the change in the history the uptime bars are computed from.
            if "status" in form.changed_data:
                obj.status = Component.objects.values_list("status", flat=True).get(pk=obj.pk)
            super().save_model(request, obj, form, change)
            if new_status != obj.status:
                component_status_set(component=obj, status=new_status, actor=request.user)


@admin.register(ComponentStatusChange)
class ComponentStatusChangeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("changed_at", "component", "old_status", "new_status", "public_incident")
    list_filter = ("component", "new_status")
    list_select_related = ("component", "public_incident")
    date_hierarchy = "changed_at"


# --- Public incidents and maintenance -----------------------------------------------------------


class PublicUpdateInline(admin.TabularInline):
    model = PublicUpdate
    extra = 0
    can_delete = False
    fields = ("display_at", "status", "body", "deliver_notifications", "published_by")
    readonly_fields = fields
    ordering = ("-display_at", "-id")
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return True


REMIND_CHOICES = [
    ("", "Don't remind"),
    ("15", "15 minutes before"),
    ("60", "1 hour before"),
    ("180", "3 hours before"),
    ("1440", "1 day before"),
]


def _reminder(value: str) -> timedelta | None:
    return timedelta(minutes=int(value)) if value else None


class MaintenanceAddForm(forms.ModelForm):
    """Schedule a maintenance: its window, components, first public update and reminder."""

    body = forms.CharField(
        label="Message",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="What is being done and what customers will notice; published now.",
    )
    remind = forms.ChoiceField(
        label="Remind subscribers", choices=REMIND_CHOICES, initial="60", required=False
    )
    deliver_notifications = forms.BooleanField(
        label="Notify subscribers now", required=False, initial=True
    )

    class Meta:
        model = PublicIncident
        fields = ("name", "scheduled_for", "scheduled_until", "components", "auto_transition")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("scheduled_for", "scheduled_until"):
            self.fields[name].required = True

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        start, end = data.get("scheduled_for"), data.get("scheduled_until")
        if start and end:
            try:
                maintenance_window_check(start, end)
            except InvalidInputError as exc:
                self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data


class MaintenanceChangeForm(forms.ModelForm):
    """Move a maintenance: a new window, a new status, or a text update, each through a service."""

    update_status = forms.ChoiceField(
        label="Move to",
        required=False,
        choices=[("", "Keep the status")]
        + [(v, label) for v, label in P.choices if v in MAINTENANCE_STATUSES],
        help_text="Completing a scheduled maintenance cancels it.",
    )
    update_body = forms.CharField(
        label="Public update",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Posted as a new update (optional with a status move: the usual text is used).",
    )
    deliver_notifications = forms.BooleanField(
        label="Notify subscribers", required=False, initial=True
    )

    class Meta:
        model = PublicIncident
        fields = ("name", "scheduled_for", "scheduled_until")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        current = self.instance.status
        target = data.get("update_status")
        if target and target != current and target not in ALLOWED_MAINTENANCE_TRANSITIONS[current]:
            self.add_error(
                "update_status",
                f"It is {self.instance.get_status_display().lower()}; it can't move to "
                f"{P(target).label.lower()} from there.",
            )
        if {"scheduled_for", "scheduled_until"} & set(self.changed_data):
            start, end = data.get("scheduled_for"), data.get("scheduled_until")
            if current == P.COMPLETED:
                self.add_error(None, "The maintenance is completed; its window is final.")
            elif current != P.SCHEDULED and "scheduled_for" in self.changed_data:
                self.add_error("scheduled_for", "It has started; only its end can move now.")
            elif start and end:
                try:
                    maintenance_window_check(start, end)
                except InvalidInputError as exc:
                    self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data


class IncidentNameForm(forms.ModelForm):
    class Meta:
        model = PublicIncident
        fields = ("name",)


@admin.register(PublicIncident)
class PublicIncidentAdmin(PublicFacingAdminMixin, admin.ModelAdmin):
    list_display = ("name", "kind", "status", "impact", "started_at", "scheduled_for", "public_id")
    list_filter = ("kind", "status", "impact")
    search_fields = ("name", "public_id")
    date_hierarchy = "started_at"
    inlines = (PublicUpdateInline,)
    actions = ("start_now", "complete_now")
    readonly_incident_fields = (
        "public_id",
        "kind",
        "incident",
        "status",
        "impact",
        "components",
        "started_at",
        "monitoring_at",
        "resolved_at",
    )
    readonly_maintenance_fields = (
        "public_id",
        "status",
        "components",
        "started_at",
        "monitoring_at",
        "resolved_at",
        "auto_transition",
        "remind_subscribers_before",
    )

    def get_form(
        self,
        request: HttpRequest,
        obj: PublicIncident | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> Any:
        if obj is None:
            kwargs["form"] = MaintenanceAddForm
        elif obj.kind == PublicIncident.Kind.MAINTENANCE:
            kwargs["form"] = MaintenanceChangeForm
        else:
            kwargs["form"] = IncidentNameForm
        kwargs["fields"] = None
        return super().get_form(request, obj, change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: PublicIncident | None = None) -> Any:
        if obj is None:
            return (
                (
                    "Schedule maintenance",
                    {
                        "fields": (
                            "name",
                            ("scheduled_for", "scheduled_until"),
                            "components",
                            "body",
                            "auto_transition",
                            "remind",
                            "deliver_notifications",
                        )
                    },
                ),
            )
        if obj.kind == PublicIncident.Kind.MAINTENANCE:
            return (
                (None, {"fields": ("name", ("scheduled_for", "scheduled_until"), "components")}),
                (
                    "Post an update",
                    {"fields": ("update_status", "update_body", "deliver_notifications")},
                ),
                ("Record", {"fields": self.readonly_maintenance_fields}),
            )
        return (
            (None, {"fields": ("name",)}),
            (
                "Published from the incident page",
                {"fields": self.readonly_incident_fields},
            ),
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A running maintenance holds its components under maintenance: complete it first.
        if obj is not None and obj.status in (P.IN_PROGRESS, P.VERIFYING):
            return False
        return super().has_delete_permission(request, obj)

    def get_inlines(self, request: HttpRequest, obj: PublicIncident | None) -> Any:
        # A new maintenance gets its first update from the add form's message.
        return self.inlines if obj is not None else ()

    def get_readonly_fields(self, request: HttpRequest, obj: PublicIncident | None = None) -> Any:
        if obj is None:
            return ()
        if obj.kind == PublicIncident.Kind.MAINTENANCE:
            return self.readonly_maintenance_fields
        return self.readonly_incident_fields

    def save_model(
        self, request: HttpRequest, obj: PublicIncident, form: Any, change: bool
    ) -> None:
        if not change:
            data = form.cleaned_data
            created = maintenance_schedule(
                name=data["name"],
                body=data["body"],
                scheduled_for=data["scheduled_for"],
                scheduled_until=data["scheduled_until"],
                components=data["components"],
                actor=request.user,
                auto_transition=data["auto_transition"],
                remind_subscribers_before=_reminder(data["remind"]),
                deliver_notifications=data["deliver_notifications"],
            )
            # The admin goes on with its own object: make it the one the service created.
            obj.pk = created.pk
            obj.refresh_from_db()
            obj._state.adding = False
            return
        if obj.kind == PublicIncident.Kind.INCIDENT:
            super().save_model(request, obj, form, change)
            return
        self._save_maintenance(request, obj, form)

    def _save_maintenance(self, request: HttpRequest, obj: PublicIncident, form: Any) -> None:
        data = form.cleaned_data
        notify = data["deliver_notifications"]
        stored = PublicIncident.objects.get(pk=obj.pk)
        with transaction.atomic():
            if "name" in form.changed_data:
                PublicIncident.objects.filter(pk=obj.pk).update(name=obj.name)
                status_version_bump()
            if {"scheduled_for", "scheduled_until"} & set(form.changed_data):
                assert obj.scheduled_for is not None and obj.scheduled_until is not None
                maintenance_reschedule(
                    maintenance=stored,
                    actor=request.user,
                    scheduled_for=obj.scheduled_for,
                    scheduled_until=obj.scheduled_until,
                    deliver_notifications=notify,
                )
            target = data["update_status"] or None
            body = data["update_body"].strip()
            if body:
                maintenance_update(
                    maintenance=stored,
                    actor=request.user,
                    body=body,
                    status=target,
                    deliver_notifications=notify,
                )
            elif target:
                maintenance_transition(
                    maintenance=stored,
                    status=target,
                    actor=request.user,
                    deliver_notifications=notify,
                )
        obj.refresh_from_db()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # A new maintenance's components went to the service; the change forms have no
        # many-to-many fields, and the update inline is read-only (saving it writes nothing).
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def _move(
        self, request: HttpRequest, queryset: Iterable[PublicIncident], status: str, done: str
    ) -> None:
        moved = 0
        for maintenance in queryset:
            if maintenance.kind != PublicIncident.Kind.MAINTENANCE:
                continue
            try:
                if maintenance_transition(
                    maintenance=maintenance, status=status, actor=request.user
                ):
                    moved += 1
            except ApplicationError as exc:
                self.message_user(request, f"{maintenance.name}: {exc.message}", messages.ERROR)
        if moved:
            self.message_user(request, f"{moved} maintenance {done}.", messages.SUCCESS)

    @admin.action(description="Start the selected maintenance now")
    def start_now(self, request: HttpRequest, queryset: QuerySet[PublicIncident]) -> None:
        self._move(request, queryset, P.IN_PROGRESS, "started")

    @admin.action(description="Complete the selected maintenance now")
    def complete_now(self, request: HttpRequest, queryset: QuerySet[PublicIncident]) -> None:
        self._move(request, queryset, P.COMPLETED, "completed")
