"""The back-office for the chat: who is who in Slack (editable), and what the chat did (read-only).

Channels, posts, commands, form submissions and events change only through the chat services;
the admin shows them so a failed post (`last_error`) or a channel that could not be opened can
be seen.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from incidents.admin import ReadOnlyAdminMixin, StaffAdminMixin

from .models import (
    ChatAccount,
    ChatCommand,
    ChatEvent,
    ChatFormSubmission,
    ChatPost,
    IncidentChannel,
)


class ChatAccountForm(forms.ModelForm):
    class Meta:
        model = ChatAccount
        fields = ("user", "member_id")

    def clean_member_id(self) -> str:
        member_id = (self.cleaned_data.get("member_id") or "").strip()
        if not (member_id[:1] in {"U", "W"} and member_id.isalnum()):
            raise forms.ValidationError("Enter the Slack member ID, for example U024BE7LH.")
        return member_id


@admin.register(ChatAccount)
class ChatAccountAdmin(StaffAdminMixin, admin.ModelAdmin):
    form = ChatAccountForm
    list_display = ("user", "member_id", "platform", "origin", "created_at")
    list_filter = ("platform", "origin")
    search_fields = ("member_id", "user__username", "user__email", "user__first_name")
    list_select_related = ("user",)
    readonly_fields = ("platform", "origin", "created_at")
    fields = ("user", "member_id", "platform", "origin", "created_at")

    def save_model(self, request: HttpRequest, obj: ChatAccount, form: Any, change: bool) -> None:
        # A match an admin typed or corrected is the admin's, not a guess from an email.
        obj.origin = ChatAccount.Origin.ADMIN
        super().save_model(request, obj, form, change)


@admin.register(IncidentChannel)
class IncidentChannelAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("name", "incident", "platform", "channel_id", "opened_at", "archived_at")
    list_filter = ("platform",)
    search_fields = ("name", "channel_id", "incident__title")
    list_select_related = ("incident",)
    date_hierarchy = "created_at"


@admin.register(ChatPost)
class ChatPostAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("key", "kind", "destination", "state", "attempts", "posted_at", "last_error")
    list_filter = ("state", "kind", "destination", "platform")
    search_fields = ("key", "incident__title", "message_id", "last_error")
    list_select_related = ("incident",)
    date_hierarchy = "created_at"


@admin.register(ChatCommand)
class ChatCommandAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("command", "text", "member_id", "incident", "received_at", "outcome")
    list_filter = ("platform", "command")
    search_fields = ("key", "member_id", "text", "outcome")
    list_select_related = ("incident",)
    date_hierarchy = "received_at"


@admin.register(ChatEvent)
class ChatEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("event_id", "kind", "platform", "received_at")
    list_filter = ("platform", "kind")
    search_fields = ("event_id",)
    date_hierarchy = "received_at"


@admin.register(ChatFormSubmission)
class ChatFormSubmissionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("callback", "view_id", "member_id", "incident", "status_update", "received_at")
    list_filter = ("platform", "callback")
    search_fields = ("view_id", "member_id")
    list_select_related = ("incident", "status_update")
    date_hierarchy = "received_at"
