"""Admin for subscribers, their deliveries and the webhook allow-list.

Subscribers come from the public subscribe page (email needs the address owner's opt-in), so
the admin does not add them; it shows their state, re-enables one that failed too often, and
ends a subscription. Deliveries are a read-only record.
"""

import ipaddress
import json
import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from incidents.admin import StaffAdminMixin

from . import subscriptions
from .models import Delivery, Subscriber, WebhookAllowedNetwork

_LABEL = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")


def subscriber_state(subscriber: Subscriber) -> str:
    """Return the subscriber's state: unsubscribed, disabled, active or pending."""
    if subscriber.unsubscribed_at is not None:
        return "unsubscribed"
    if subscriber.disabled_at is not None:
        return "disabled"
    if subscriber.confirmed_at is not None:
        return "active"
    return "pending"


class SubscriberStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("pending", "Pending confirmation"),
            ("active", "Active"),
            ("disabled", "Disabled after failures"),
            ("unsubscribed", "Unsubscribed"),
        ]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Subscriber]
    ) -> QuerySet[Subscriber]:
        value = self.value()
        if value == "unsubscribed":
            return queryset.filter(unsubscribed_at__isnull=False)
        if value == "disabled":
            return queryset.filter(unsubscribed_at__isnull=True, disabled_at__isnull=False)
        if value == "active":
            return queryset.filter(
                unsubscribed_at__isnull=True, disabled_at__isnull=True, confirmed_at__isnull=False
            )
        if value == "pending":
            return queryset.filter(
                unsubscribed_at__isnull=True, disabled_at__isnull=True, confirmed_at__isnull=True
            )
        return queryset


@admin.register(Subscriber)
class SubscriberAdmin(StaffAdminMixin, admin.ModelAdmin):
    list_display = (
        "address",
        "kind",
        "state",
        "component_names",
        "consecutive_failures",
        "disabled_reason",
        "created_at",
    )
    list_filter = ("kind", SubscriberStateFilter, "components")
    search_fields = ("email", "url")
    date_hierarchy = "created_at"
    # The signing secret was shown to the subscriber once; the admin does not show it again.
    fields = (
        "kind",
        "email",
        "url",
        "components",
        "state",
        "created_at",
        "confirmed_at",
        "unsubscribed_at",
        "consecutive_failures",
        "disabled_at",
        "disabled_reason",
    )
    readonly_fields = (
        "kind",
        "email",
        "url",
        "state",
        "created_at",
        "confirmed_at",
        "unsubscribed_at",
        "consecutive_failures",
        "disabled_at",
        "disabled_reason",
    )
    filter_horizontal = ("components",)
    actions = ("enable_again", "unsubscribe")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subscriber]:
        return super().get_queryset(request).prefetch_related("components")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="address", ordering="email")
    def address(self, obj: Subscriber) -> str:
        return obj.email or obj.url

    @admin.display(description="state")
    def state(self, obj: Subscriber) -> str:
        return subscriber_state(obj)

    @admin.display(description="components")
    def component_names(self, obj: Subscriber) -> str:
        names = [component.name for component in obj.components.all()]
        return ", ".join(names) if names else "all"

    @admin.action(description="Enable again (reset failures)")
    def enable_again(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        count = 0
        for subscriber in queryset.filter(unsubscribed_at__isnull=True):
            subscriptions.subscriber_enable(subscriber=subscriber)
            count += 1
        self.message_user(request, f"{count} subscriber(s) enabled.", messages.SUCCESS)

    @admin.action(description="Unsubscribe")
    def unsubscribe(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        count = 0
        for subscriber in queryset.filter(unsubscribed_at__isnull=True):
            subscriptions.subscriber_unsubscribe(subscriber=subscriber)
            count += 1
        self.message_user(request, f"{count} subscriber(s) unsubscribed.", messages.SUCCESS)


@admin.register(Delivery)
class DeliveryAdmin(StaffAdminMixin, admin.ModelAdmin):
    list_display = (
        "event_key",
        "subscriber",
        "kind",
        "state",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
        "created_at",
    )
    list_filter = ("state", "subscriber__kind", "created_at")
    search_fields = ("event_key", "subscriber__email", "subscriber__url", "last_error")
    list_select_related = ("subscriber",)
    date_hierarchy = "created_at"
    fields = (
        "subscriber",
        "event_key",
        "state",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
        "created_at",
        "message",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="kind", ordering="subscriber__kind")
    def kind(self, obj: Delivery) -> str:
        return obj.subscriber.get_kind_display()

    @admin.display(description="message")
    def message(self, obj: Delivery) -> str:
        payload = obj.payload or {}
        if "body" in payload:
            try:
                text = json.dumps(json.loads(payload["body"]), indent=2, ensure_ascii=False)
            except (TypeError, ValueError):
                text = str(payload["body"])
        else:
            text = f"Subject: {payload.get('subject', '')}\n\n{payload.get('text', '')}"
        return format_html("<pre style='white-space: pre-wrap'>{}</pre>", text)


class WebhookAllowedNetworkForm(forms.ModelForm):
    class Meta:
        model = WebhookAllowedNetwork
        fields = ("network", "note")

    def clean_network(self) -> str:
        value = self.cleaned_data["network"].strip()
        try:
            return str(ipaddress.ip_network(value.strip("[]"), strict=False))
        except ValueError:
            pass
        host = value.lower().rstrip(".")
        if not _HOST_NAME.match(host):
            raise forms.ValidationError(
                "Enter a network in CIDR notation (10.1.0.0/16, fd00::/8), a single address, "
                "or an exact host name (hooks.internal.example)."
            )
        return host


@admin.register(WebhookAllowedNetwork)
class WebhookAllowedNetworkAdmin(StaffAdminMixin, admin.ModelAdmin):
    form = WebhookAllowedNetworkForm
    list_display = ("network", "note", "subscribers_hint")
    search_fields = ("network", "note")

    @admin.display(description="what it allows")
    def subscribers_hint(self, obj: WebhookAllowedNetwork) -> str:
        if any(char in obj.network for char in "/:") or obj.network.replace(".", "").isdigit():
            return "webhook URLs resolving to these addresses"
        return "webhook URLs with exactly this host name"
