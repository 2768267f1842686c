"""The back-office for heartbeats: managers add and edit them; the ping address is shown once."""

from typing import Any

from django.contrib import admin
from django.db.models import ForeignKey, QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from incidents.admin import StaffAdminMixin
from incidents.alerting.models import AlertSource
from incidents.models import Severity

from . import selectors, services
from .models import DEFAULT_SEVERITY, Heartbeat


def _secret_page(
    request: HttpRequest, issued: list[tuple[Heartbeat, str]], *, title: str
) -> TemplateResponse:
    """Show freshly issued ping addresses, once: they hold the secret, and only a digest is kept."""
    rows = [
        {"heartbeat": heartbeat, "ping_url": selectors.heartbeat_ping_url(secret)}
        for heartbeat, secret in issued
    ]
    return TemplateResponse(
        request,
        "heartbeats/admin/secret_issued.html",
        {**admin.site.each_context(request), "title": title, "rows": rows, "opts": Heartbeat._meta},
    )


@admin.register(Heartbeat)
class HeartbeatAdmin(StaffAdminMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "service",
        "status",
        "interval",
        "grace",
        "severity",
        "last_ping_at",
        "alert_source",
    )
    list_filter = ("is_active", "state", "service__team")
    search_fields = ("name", "description", "service__name")
    list_select_related = ("service", "severity", "alert_source")
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "name",
                    "description",
                    "service",
                    "severity",
                    "interval",
                    "grace",
                    "is_active",
                    "ping_address",
                )
            },
        ),
        (
            "Alertmanager Watchdog",
            {
                "description": "Optional: Prometheus' always-firing alert, delivered to this "
                "Alertmanager source's hook, counts as a ping.",
                "fields": ("alert_source", "alertname", "match_labels"),
            },
        ),
        ("State", {"fields": ("state", "last_ping_at", "alarm_at", "open_incident", "ping_count")}),
    )
    readonly_fields = (
        "ping_address",
        "state",
        "last_ping_at",
        "alarm_at",
        "open_incident",
        "ping_count",
    )
    actions = ("issue_new_ping_address",)

    @admin.display(description="state")
    def status(self, heartbeat: Heartbeat) -> str:
        return heartbeat.get_state_display() if heartbeat.is_active else "Paused"

    @admin.display(description="ping address")
    def ping_address(self, heartbeat: Heartbeat) -> str:
        if heartbeat.pk is None:
            return "Shown once the heartbeat is saved: the address holds its secret."
        return "Shown only when issued (it holds the secret); issue a new one from the list."

    @admin.display(description="incident")
    def open_incident(self, heartbeat: Heartbeat) -> str:
        if heartbeat.incident is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("incidents:detail", args=[heartbeat.incident.pk]),
            heartbeat.incident.reference,
        )

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial: dict[str, Any] = {**super().get_changeform_initial_data(request)}
        default = Severity.objects.filter(code=DEFAULT_SEVERITY).first()
        if default is not None:
            initial.setdefault("severity", default.pk)
        return initial

    def formfield_for_foreignkey(
        self, db_field: ForeignKey, request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField | None:
        if db_field.name == "alert_source":
            kwargs["queryset"] = AlertSource.objects.filter(kind=AlertSource.Kind.ALERTMANAGER)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Heartbeat, form: Any, change: bool) -> None:
        if change:
            # Only what the manager edits: a ping or a miss recorded meanwhile stays.
            services.heartbeat_configure(heartbeat=obj)
            return
        request._heartbeat_secret = obj.issue_secret()  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)

    def response_add(
        self, request: HttpRequest, obj: Heartbeat, post_url_continue: str | None = None
    ) -> HttpResponse:
        secret = getattr(request, "_heartbeat_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        return _secret_page(request, [(obj, secret)], title=f"{obj.name}: its ping address")

    @admin.action(
        description="Issue a new ping address (the old one stops working)", permissions=["change"]
    )
    def issue_new_ping_address(
        self, request: HttpRequest, queryset: QuerySet[Heartbeat]
    ) -> TemplateResponse:
        issued = [
            (heartbeat, services.heartbeat_rotate_secret(heartbeat=heartbeat))
            for heartbeat in queryset
        ]
        return _secret_page(request, issued, title="New ping addresses")
