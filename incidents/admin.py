"""The back-office for the incidents domain.

The policy (teams, services, severities) is edited here. Incident records are read-only: their
status, timestamps, roles and timeline change only through the lifecycle services, so that every
change is checked and lands on the timeline.

Staff have every right (docs/ARCHITECTURE.md, Permission matrix); managers, their group's
permissions (migration incidents/0003).
"""

from typing import Any

from django.contrib import admin
from django.db import models
from django.db.models import Count, QuerySet
from django.http import HttpRequest

from portal.auth import is_staff

from . import selectors
from .models import (
    CompanyHoliday,
    Incident,
    RoleAssignment,
    Service,
    ServiceLink,
    Severity,
    StatusUpdate,
    Team,
    TeamNotification,
    TimelineEvent,
)


class StaffAdminMixin:
    """Grant portal staff every permission; everyone else needs the model permission."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_staff(request.user) or super().has_module_permission(request)  # type: ignore[misc]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_staff(request.user) or super().has_view_permission(request, obj)  # type: ignore[misc]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return is_staff(request.user) or super().has_add_permission(request, *args)  # type: ignore[misc]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_staff(request.user) or super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_staff(request.user) or super().has_delete_permission(request, obj)  # type: ignore[misc]


class ReadOnlyAdminMixin(StaffAdminMixin):
    """View only, for everyone: these records change through the incident services."""

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Policy: editable ---------------------------------------------------------------------------


@admin.register(Team)
class TeamAdmin(StaffAdminMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "chat_channel",
        "email",
        "time_zone",
        "business_day_start",
        "business_day_end",
        "holiday_country",
        "escalation_contact",
        "member_count",
    )
    list_filter = ("time_zone", "holiday_country")
    search_fields = ("name", "slug", "chat_channel", "email", "description")
    prepopulated_fields = {"slug": ("name",)}
    filter_horizontal = ("members", "engineering_managers")
    list_select_related = ("escalation_contact",)
    fieldsets = (
        (None, {"fields": ("name", "slug", "description", "chat_channel", "email")}),
        ("People", {"fields": ("members", "engineering_managers", "escalation_contact")}),
        (
            "Business hours and holidays",
            {
                "fields": (
                    "time_zone",
                    ("business_day_start", "business_day_end"),
                    "business_days",
                    ("holiday_country", "holiday_subdivision"),
                )
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).annotate(member_total=Count("members", distinct=True))

    @admin.display(description="members", ordering="member_total")
    def member_count(self, obj: Team) -> int:
        return obj.member_total  # type: ignore[attr-defined]


# Links are typed without a scheme now and then; assume https, as browsers do.
URL_FIELDS: dict[type[models.Field], dict[str, Any]] = {models.URLField: {"assume_scheme": "https"}}


@admin.register(CompanyHoliday)
class CompanyHolidayAdmin(StaffAdminMixin, admin.ModelAdmin):
    list_display = ("date", "name", "team_names")
    list_filter = ("teams",)
    date_hierarchy = "date"
    filter_horizontal = ("teams",)
    search_fields = ("name",)

    @admin.display(description="teams")
    def team_names(self, holiday: CompanyHoliday) -> str:
        return ", ".join(team.name for team in holiday.teams.all()) or "every team"

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).prefetch_related("teams")


class ServiceLinkInline(StaffAdminMixin, admin.TabularInline):
    model = ServiceLink
    formfield_overrides = URL_FIELDS
    extra = 1
    fields = ("kind", "title", "url", "position")


@admin.register(Service)
class ServiceAdmin(StaffAdminMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "team", "link_count")
    list_filter = ("team",)
    search_fields = ("name", "slug", "description", "team__name")
    prepopulated_fields = {"slug": ("name",)}
    list_select_related = ("team",)
    inlines = (ServiceLinkInline,)
    fieldsets = (
        (None, {"fields": ("name", "slug", "team", "description")}),
        (
            "Alert storms and flapping",
            {
                "fields": ("storm_threshold", "storm_window_minutes", "flap_window_minutes"),
                "description": "How alerts for this service are grouped (a routing rule may "
                "override the storm settings). Empty fields take the site's defaults.",
            },
        ),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Service]:
        return super().get_queryset(request).annotate(link_total=Count("links"))

    @admin.display(description="links", ordering="link_total")
    def link_count(self, obj: Service) -> int:
        return obj.link_total  # type: ignore[attr-defined]


@admin.register(ServiceLink)
class ServiceLinkAdmin(StaffAdminMixin, admin.ModelAdmin):
    formfield_overrides = URL_FIELDS
    list_display = ("title", "service", "kind", "url", "position")
    list_filter = ("kind", "service__team", "service")
    search_fields = ("title", "url", "service__name")
    list_select_related = ("service",)


@admin.register(Severity)
class SeverityAdmin(StaffAdminMixin, admin.ModelAdmin):
    list_display = (
        "code",
        "name",
        "response_target",
        "ack_timeout",
        "update_interval",
        "business_hours_only",
        "pages_oncall",
        "notifies_engineering_manager",
        "notifies_vp",
        "postmortem_required",
    )
    list_display_links = ("code", "name")
    list_filter = ("business_hours_only", "postmortem_required", "pages_oncall")
    search_fields = ("code", "name", "description")
    ordering = ("rank",)


# --- Incident records: read-only ----------------------------------------------------------------


class RoleAssignmentInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = RoleAssignment
    fields = ("role", "user", "assigned_by", "started_at", "ended_at")
    extra = 0


class StatusUpdateInline(ReadOnlyAdminMixin, admin.StackedInline):
    model = StatusUpdate
    fields = ("posted_at", "author", "status", "impact", "last_action", "next_action", "eta")
    extra = 0


class TimelineEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = TimelineEvent
    fk_name = "incident"
    fields = ("occurred_at", "kind", "actor", "source", "from_value", "to_value", "message")
    extra = 0


@admin.register(Incident)
class IncidentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "reference",
        "title",
        "severity",
        "status",
        "commander",
        "team",
        "source",
        "detected_at",
        "resolved_at",
    )
    list_display_links = ("reference", "title")
    list_filter = ("status", "severity", "peak_severity", "team", "source", "customer_facing")
    search_fields = ("title", "summary", "impact")
    date_hierarchy = "detected_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Incident]:
        # The list shows each incident's IC: fetch the holders with the page.
        return selectors.incident_list()

    @admin.display(description="Incident Commander")
    def commander(self, incident: Incident) -> str:
        if selectors.incident_needs_commander(incident):
            return "⚠ No IC"
        assignment = selectors.incident_commander(incident)
        return str(assignment.user) if assignment else "—"

    fieldsets = (
        (None, {"fields": ("title", "summary", "severity", "peak_severity", "status", "source")}),
        (
            "Impact",
            {
                "fields": (
                    "team",
                    "services",
                    "impact",
                    "users_affected_pct",
                    "regions",
                    "customer_facing",
                    "bridge_url",
                    "declared_by",
                )
            },
        ),
        (
            "Timestamps",
            {
                "fields": (
                    "impact_started_at",
                    "detected_at",
                    "acknowledged_at",
                    "mitigated_at",
                    "resolved_at",
                    "closed_at",
                )
            },
        ),
    )
    inlines = (RoleAssignmentInline, StatusUpdateInline, TimelineEventInline)

    def view_on_site(self, obj: Incident) -> str:
        return f"/incidents/{obj.pk}/"

    @admin.display(description="reference", ordering="id")
    def reference(self, obj: Incident) -> str:
        return obj.reference

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Incident], search_term: str
    ) -> tuple[QuerySet[Incident], bool]:
        """Find "INC-42" (or "42") by number, anything else by text."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        number = search_term.strip().upper().removeprefix("INC-")
        if number.isdigit():
            results |= queryset.filter(pk=int(number))
        return results, may_have_duplicates


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("incident", "role", "user", "assigned_by", "started_at", "ended_at")
    list_filter = ("role", ("ended_at", admin.EmptyFieldListFilter))
    search_fields = ("incident__title", "user__username", "user__first_name", "user__last_name")
    list_select_related = ("incident", "user", "assigned_by")
    date_hierarchy = "started_at"


@admin.register(TimelineEvent)
class TimelineEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("incident", "occurred_at", "kind", "actor", "source", "short_message")
    list_filter = ("kind", "source")
    search_fields = ("message", "incident__title", "actor__username")
    list_select_related = ("incident", "actor")
    date_hierarchy = "occurred_at"

    @admin.display(description="message")
    def short_message(self, obj: TimelineEvent) -> str:
        first_line = obj.message.splitlines()[0] if obj.message else ""
        return first_line[:80]


@admin.register(StatusUpdate)
class StatusUpdateAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("incident", "posted_at", "status", "author", "eta", "source")
    list_filter = ("status", "source")
    search_fields = ("incident__title", "impact", "last_action", "next_action")
    list_select_related = ("incident", "author")
    date_hierarchy = "posted_at"


@admin.register(TeamNotification)
class TeamNotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("event", "recipient_list", "sent_at")
    list_filter = (("sent_at", admin.DateFieldListFilter),)
    search_fields = ("event__incident__title", "recipients")
    list_select_related = ("event__incident",)
    date_hierarchy = "sent_at"

    @admin.display(description="recipients")
    def recipient_list(self, obj: TeamNotification) -> str:
        return ", ".join(obj.recipients)
