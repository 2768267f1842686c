"""The back-office for alerting: sources (secret shown once), routing rules (with their grouping),
read-only alerts and groupings."""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.html import format_html

from incidents.admin import ReadOnlyAdminMixin, StaffAdminMixin

from . import selectors, services
from .forms import RoutingRuleAdminForm
from .models import Alert, AlertSource, IncidentGrouping, RoutingRule


def _secret_page(
    request: HttpRequest, issued: list[tuple[AlertSource, str]], *, title: str
) -> TemplateResponse:
    """Show freshly issued secrets with their hook addresses, once; only digests are kept."""
    rows = [
        {"source": source, "secret": secret, "hook_url": selectors.alert_source_hook_url(source)}
        for source, secret in issued
    ]
    return TemplateResponse(
        request,
        "alerting/admin/secret_issued.html",
        {
            **admin.site.each_context(request),
            "title": title,
            "rows": rows,
            "opts": AlertSource._meta,
        },
    )


@admin.register(AlertSource)
class AlertSourceAdmin(StaffAdminMixin, admin.ModelAdmin):
    list_display = ("name", "kind", "is_active", "default_service", "default_severity", "hook")
    list_filter = ("kind", "is_active")
    search_fields = ("name", "description")
    list_select_related = ("default_service", "default_severity")
    fields = (
        "name",
        "kind",
        "description",
        "default_service",
        "default_severity",
        "is_active",
        "hook",
    )
    readonly_fields = ("hook",)
    actions = ("issue_new_secret",)

    @admin.display(description="hook address")
    def hook(self, source: AlertSource) -> str:
        if source.pk is None:
            return "Shown, with the secret, once the source is saved."
        url = selectors.alert_source_hook_url(source)
        if source.kind == AlertSource.Kind.PAGERDUTY:
            return format_html("{}<br>The secret is the <code>routing_key</code>.", url)
        return format_html("{}<br>Send <code>Authorization: Bearer &lt;secret&gt;</code>.", url)

    def save_model(self, request: HttpRequest, obj: AlertSource, form: Any, change: bool) -> None:
        if not change:
            request._alert_source_secret = obj.issue_secret()  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def response_add(
        self, request: HttpRequest, obj: AlertSource, post_url_continue: str | None = None
    ) -> HttpResponse:
        secret = getattr(request, "_alert_source_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        return _secret_page(request, [(obj, secret)], title=f"{obj.name}: its secret")

    @admin.action(description="Issue a new secret (the old one stops working)")
    def issue_new_secret(
        self, request: HttpRequest, queryset: QuerySet[AlertSource]
    ) -> TemplateResponse:
        issued = [
            (source, services.alert_source_rotate_secret(source=source)) for source in queryset
        ]
        return _secret_page(request, issued, title="New secrets")


@admin.register(RoutingRule)
class RoutingRuleAdmin(StaffAdminMixin, admin.ModelAdmin):
    form = RoutingRuleAdminForm
    list_display = (
        "position",
        "name",
        "source",
        "match_labels",
        "match_regex",
        "service",
        "grouping",
    )
    list_display_links = ("name",)
    list_editable = ("position",)
    list_filter = ("is_active", "source", "service__team")
    search_fields = ("name", "service__name")
    list_select_related = ("source", "service", "severity")
    ordering = ("position", "id")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "position",
                    "name",
                    "is_active",
                    "source",
                    "match_labels",
                    "match_regex",
                    "service",
                    "severity",
                )
            },
        ),
        (
            "Grouping by labels",
            {
                "fields": ("group_by", "group_window_minutes"),
                "description": "For senders that don't group alerts themselves (PagerDuty "
                "events, generic JSON): alerts with equal values of these labels become one "
                "incident, which the incident page explains.",
            },
        ),
        (
            "Alert storms",
            {
                "fields": ("storm_threshold", "storm_window_minutes"),
                "description": "Override the service's alert storm settings for the alerts "
                "this rule routes; empty fields keep the service's.",
            },
        ),
    )

    @admin.display(description="group by")
    def grouping(self, rule: RoutingRule) -> str:
        return ", ".join(rule.group_by) if rule.group_by else "—"


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "title",
        "source",
        "status",
        "severity",
        "service",
        "incident",
        "starts_at",
        "receive_count",
        "actionable",
    )
    list_filter = (
        "status",
        "source",
        "severity",
        "actionable",
        ("incident", admin.EmptyFieldListFilter),
    )
    search_fields = ("title", "summary", "fingerprint")
    list_select_related = ("source", "severity", "service", "incident")
    date_hierarchy = "starts_at"
    exclude = ("group",)


@admin.register(IncidentGrouping)
class IncidentGroupingAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("incident", "kind", "service", "rule", "members", "opened_at", "is_open")
    list_filter = ("kind", "is_open")
    search_fields = ("reason", "incident__title")
    list_select_related = ("incident", "service", "rule")
    date_hierarchy = "opened_at"
