"""The back-office of postmortems: action items tracked to done, postmortems and their reviews.

Managers use these pages through their group's permissions (migration postmortems/0002); staff
have every right. Action items change only through the services (adding, editing, the bulk
actions), so completion times, checks and reminders are the same as on the portal's pages.
Postmortems and reviews are shown here to track them; their content, workflow and reviews change
on the postmortem's page, where the blameless hint and the review rules apply.
"""

import csv
from datetime import UTC, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import transaction
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from incidents.admin import URL_FIELDS, ReadOnlyAdminMixin, StaffAdminMixin
from portal.csv_safe import csv_safe
from portal.errors import ApplicationError
from portal.links import absolute_url
from portal.people import display_name

from . import action_item_selectors as item_selectors
from . import selectors
from .action_item_forms import MoveDueDateForm, ReassignForm
from .models import ActionItem, Postmortem, PostmortemTimelineRow, Review
from .services.action_items import (
    action_item_create,
    action_item_set_status,
    action_item_update,
    action_item_validate,
)

CSV_COLUMNS = [
    "id",
    "title",
    "status",
    "priority",
    "owner",
    "due date",
    "overdue",
    "incident",
    "team",
    "postmortem",
    "tracker URL",
    "created",
    "completed",
]


def _iso(value: Any) -> str:
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _postmortem_path(postmortem: Postmortem) -> str:
    return reverse("postmortems:detail", kwargs={"pk": postmortem.pk})


# --- Action items ----------------------------------------------------------------------------


class DueFilter(admin.SimpleListFilter):
    """Overdue, due this week, or no due date (the first two count open and in-progress items)."""

    title = "overdue"
    parameter_name = "due"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("overdue", "Overdue"),
            ("this_week", "Due this week"),
            ("none", "No due date"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        today = timezone.localdate()
        if self.value() == "overdue":
            return queryset.filter(item_selectors.overdue_condition(today))
        if self.value() == "this_week":
            sunday = today + timedelta(days=6 - today.weekday())
            return queryset.filter(
                status__in=item_selectors.UNFINISHED, due_date__gte=today, due_date__lte=sunday
            )
        if self.value() == "none":
            return queryset.filter(due_date__isnull=True)
        return queryset


class ActionItemAdminForm(forms.ModelForm):
    """The add and change form; the services' checks show up as field errors."""

    tracker_url = forms.URLField(
        required=False,
        max_length=500,
        assume_scheme="https",
        label="Tracker URL",
        help_text="Jira or Linear issue.",
    )

    class Meta:
        model = ActionItem
        fields = (
            "title",
            "description",
            "owner",
            "due_date",
            "priority",
            "status",
            "tracker_url",
            "incident",
            "postmortem",
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "owner" in self.fields:
            self.fields["owner"].queryset = item_selectors.action_item_owner_choices()  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        adding = self.instance._state.adding
        incident = data.get("incident") if adding else self.instance.incident
        postmortem = data.get("postmortem") if adding else self.instance.postmortem
        if (
            postmortem is not None
            and incident is not None
            and postmortem.incident_id != incident.pk
        ):
            self.add_error("postmortem", f"That postmortem is not {incident.reference}'s.")
        if data.get("title") is None:
            return data  # the field's own error says what is wrong
        try:
            action_item_validate(
                title=data.get("title") or "",
                description=data.get("description") or "",
                owner=data.get("owner"),
                due_date=data.get("due_date"),
                priority=data.get("priority") or "",
                tracker_url=data.get("tracker_url") or "",
                previous_due_date=None if adding else self.instance.due_date,
            )
        except ApplicationError as exc:
            field = getattr(exc, "field", None)
            self.add_error(field if field in self.fields else None, exc.message)
        return data


@admin.register(ActionItem)
class ActionItemAdmin(StaffAdminMixin, admin.ModelAdmin):
    form = ActionItemAdminForm
    formfield_overrides = URL_FIELDS
    list_display = (
        "title",
        "incident_link",
        "owner_name",
        "due_date",
        "overdue_text",
        "priority",
        "status",
        "team_name",
        "completed_at",
    )
    list_display_links = ("title",)
    # Soonest due first; items without a due date last (SQLite would put them first).
    ordering = (F("due_date").asc(nulls_last=True), "priority", "id")
    list_filter = (
        "status",
        "priority",
        ("owner", admin.RelatedOnlyFieldListFilter),
        DueFilter,
        ("incident__team", admin.RelatedOnlyFieldListFilter),
        ("incident__services", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = (
        "title",
        "description",
        "incident__title",
        "owner__username",
        "owner__first_name",
        "owner__last_name",
    )
    list_select_related = ("owner", "incident", "incident__team", "postmortem")
    actions = ("mark_done", "reassign", "move_due_date", "export_csv")
    raw_id_fields = ("incident", "postmortem")
    readonly_fields = ("completed_at", "created_by", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("title", "description", "tracker_url")}),
        ("Tracking", {"fields": ("owner", "due_date", "priority", "status", "completed_at")}),
        ("From", {"fields": ("incident", "postmortem", "created_by", "created_at", "updated_at")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        # An item stays with the incident it came from.
        return (*fields, "incident", "postmortem") if obj is not None else fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[ActionItem]:
        return item_selectors.action_items_with_overdue(super().get_queryset(request))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ActionItem], search_term: str
    ) -> tuple[QuerySet[ActionItem], bool]:
        """Find an incident's items by "INC-42" too."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip().upper()
        if term.startswith("INC-") and term[4:].isdigit():
            results |= queryset.filter(incident_id=int(term[4:]))
        return results, may_have_duplicates

    @admin.display(description="incident", ordering="incident_id")
    def incident_link(self, obj: ActionItem) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("incidents:detail", kwargs={"pk": obj.incident_id}),
            obj.incident.reference,
        )

    @admin.display(description="owner", ordering="owner__username")
    def owner_name(self, obj: ActionItem) -> str:
        return display_name(obj.owner, fallback="— nobody", with_username=True)

    @admin.display(description="team", ordering="incident__team__name")
    def team_name(self, obj: ActionItem) -> str:
        team = obj.incident.team
        return team.name if team else "—"

    @admin.display(description="overdue", ordering="overdue")
    def overdue_text(self, obj: ActionItem) -> str:
        if not getattr(obj, "overdue", False) or obj.due_date is None:
            return "—"
        days = (timezone.localdate() - obj.due_date).days
        return f"⚠ Overdue by {days} day{'s' if days != 1 else ''}"

    def view_on_site(self, obj: ActionItem) -> str:
        return reverse("postmortems:action_item_edit", kwargs={"pk": obj.pk})

    def save_model(self, request: HttpRequest, obj: ActionItem, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if not change:
            item = action_item_create(
                incident=data["incident"],
                postmortem=data.get("postmortem"),
                title=data["title"],
                description=data.get("description") or "",
                owner=data.get("owner"),
                due_date=data.get("due_date"),
                priority=data["priority"],
                tracker_url=data.get("tracker_url") or "",
                actor=request.user,
            )
            if data.get("status") and data["status"] != item.status:
                item = action_item_set_status(item=item, status=data["status"], actor=request.user)
        else:
            current = ActionItem.objects.get(pk=obj.pk)
            item = action_item_update(
                item=current,
                actor=request.user,
                title=data["title"],
                description=data.get("description") or "",
                owner=data.get("owner"),
                due_date=data.get("due_date"),
                priority=data["priority"],
                tracker_url=data.get("tracker_url") or "",
            )
            if data["status"] != item.status:
                item = action_item_set_status(item=item, status=data["status"], actor=request.user)
        obj.pk = item.pk
        obj._state.adding = False
        obj.completed_at = item.completed_at
        obj.created_by = item.created_by

    def _selected(self, queryset: QuerySet[ActionItem]) -> list[ActionItem]:
        return list(queryset.select_related("owner", "incident", "postmortem"))

    def _apply(self, request: HttpRequest, items: list[ActionItem], verb: str, change: Any) -> bool:
        """Apply `change` to every item, or to none if one is refused; say which and why."""
        current: ActionItem | None = None
        try:
            with transaction.atomic():
                for current in items:
                    change(current)
        except ApplicationError as exc:
            self.message_user(
                request,
                f"Nothing was {verb}: “{current}” (#{current.pk if current else '?'}) — "
                f"{exc.message}",
                messages.ERROR,
            )
            return False
        self.message_user(
            request,
            f"{len(items)} action item{'s' if len(items) != 1 else ''} {verb}.",
            messages.SUCCESS,
        )
        return True

    @admin.action(description="Mark selected action items done", permissions=["change"])
    def mark_done(self, request: HttpRequest, queryset: QuerySet[ActionItem]) -> None:
        self._apply(
            request,
            self._selected(queryset),
            "marked done",
            lambda item: action_item_set_status(
                item=item, status=ActionItem.Status.DONE, actor=request.user
            ),
        )

    def _intermediate(
        self,
        request: HttpRequest,
        queryset: QuerySet[ActionItem],
        *,
        action: str,
        title: str,
        form: forms.Form,
        template: str,
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "items": self._selected(queryset),
            "form": form,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "select_across": request.POST.get("select_across", "0"),
        }
        return TemplateResponse(request, template, context)

    @admin.action(description="Reassign selected action items…", permissions=["change"])
    def reassign(
        self, request: HttpRequest, queryset: QuerySet[ActionItem]
    ) -> TemplateResponse | None:
        form = ReassignForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            owner = form.cleaned_data["owner"]
            done = self._apply(
                request,
                self._selected(queryset),
                f"reassigned to {display_name(owner, with_username=True)}",
                lambda item: action_item_update(item=item, actor=request.user, owner=owner),
            )
            if done:
                return None
        return self._intermediate(
            request,
            queryset,
            action="reassign",
            title="Reassign action items",
            form=form,
            template="postmortems/action_item_admin_reassign.html",
        )

    @admin.action(description="Move the due date of selected action items…", permissions=["change"])
    def move_due_date(
        self, request: HttpRequest, queryset: QuerySet[ActionItem]
    ) -> TemplateResponse | None:
        form = MoveDueDateForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            items = [
                item
                for item in self._selected(queryset)
                if form.new_due_date(item.due_date) is not None
            ]
            done = self._apply(
                request,
                items,
                "moved",
                lambda item: action_item_update(
                    item=item, actor=request.user, due_date=form.new_due_date(item.due_date)
                ),
            )
            if done:
                return None
        return self._intermediate(
            request,
            queryset,
            action="move_due_date",
            title="Move the due date of action items",
            form=form,
            template="postmortems/action_item_admin_move_due.html",
        )

    @admin.action(description="Export selected action items as CSV", permissions=["view"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[ActionItem]) -> HttpResponse:
        today = timezone.localdate()
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="action-items-{today:%Y-%m-%d}.csv"'
        )
        writer = csv.writer(response)
        writer.writerow(CSV_COLUMNS)
        items = item_selectors.action_items_with_overdue(
            queryset.select_related("owner", "incident__team", "postmortem"), today=today
        )
        for item in items:
            writer.writerow(
                [
                    csv_safe(value)
                    for value in (
                        item.pk,
                        item.title,
                        item.status,
                        item.priority,
                        display_name(item.owner, with_username=True),
                        item.due_date.isoformat() if item.due_date else "",
                        "yes" if item.overdue else "no",  # type: ignore[attr-defined]
                        item.incident.reference,
                        item.incident.team.name if item.incident.team else "",
                        absolute_url(_postmortem_path(item.postmortem)) if item.postmortem else "",
                        item.tracker_url,
                        _iso(item.created_at),
                        _iso(item.completed_at),
                    )
                ]
            )
        return response


# --- Postmortems and reviews -----------------------------------------------------------------


class PostmortemOverdueFilter(admin.SimpleListFilter):
    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Overdue"), ("no", "Not overdue")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        overdue = selectors.overdue_condition(timezone.now())
        if self.value() == "yes":
            return queryset.filter(overdue)
        if self.value() == "no":
            return queryset.exclude(overdue)
        return queryset


class TimelineRowInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = PostmortemTimelineRow
    fields = ("event_time", "event_kind", "event_text", "hidden", "annotation")
    readonly_fields = fields
    extra = 0
    verbose_name = "timeline row"

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The rows are part of the postmortem: whoever may read it reads them.
        return bool(
            request.user.has_perm("postmortems.view_postmortem")
        ) or super().has_view_permission(request, obj)

    def get_queryset(self, request: HttpRequest) -> QuerySet[PostmortemTimelineRow]:
        return super().get_queryset(request).select_related("event", "event__actor")

    @admin.display(description="time")
    def event_time(self, row: PostmortemTimelineRow) -> str:
        return _iso(row.event.occurred_at)

    @admin.display(description="event")
    def event_kind(self, row: PostmortemTimelineRow) -> str:
        return row.event.get_kind_display()

    @admin.display(description="what happened")
    def event_text(self, row: PostmortemTimelineRow) -> str:
        return selectors.timeline_event_text(row.event)


class ActionItemInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = ActionItem
    fields = ("title", "owner", "due_date", "priority", "status")
    readonly_fields = fields
    extra = 0
    show_change_link = True


@admin.register(Postmortem)
class PostmortemAdmin(StaffAdminMixin, admin.ModelAdmin):
    list_display = (
        "incident_link",
        "incident_title",
        "status",
        "due_at",
        "overdue_text",
        "required",
        "team_name",
        "published_at",
    )
    list_filter = (
        "status",
        PostmortemOverdueFilter,
        ("incident__team", admin.RelatedOnlyFieldListFilter),
        "required",
    )
    search_fields = ("incident__title", "summary", "root_cause")
    list_select_related = ("incident", "incident__team")
    inlines = (TimelineRowInline, ActionItemInline)
    fieldsets = (
        (
            None,
            {"fields": ("incident", "status", "required", "created_automatically", "authors")},
        ),
        ("Deadlines", {"fields": ("due_at", "review_meeting_at", "submitted_at")}),
        ("Published", {"fields": ("published_at", "published_by")}),
        (
            "Content",
            {
                "fields": (
                    "summary",
                    "users_affected",
                    "requests_failed",
                    "revenue_impact",
                    "root_cause",
                    "contributing_factors",
                    "what_went_well",
                    "public_summary",
                )
            },
        ),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Tracked here, changed on the postmortem's page (services, blameless hint, reviews).
        return [name for fieldset in self.fieldsets for name in fieldset[1]["fields"]]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # created when an incident resolves, or by hand from the incident page

    @admin.display(description="incident", ordering="incident_id")
    def incident_link(self, obj: Postmortem) -> str:
        return format_html(
            '<a href="{}">{}</a>',
            reverse("incidents:detail", kwargs={"pk": obj.incident_id}),
            obj.incident.reference,
        )

    @admin.display(description="title", ordering="incident__title")
    def incident_title(self, obj: Postmortem) -> str:
        return obj.incident.title

    @admin.display(description="team", ordering="incident__team__name")
    def team_name(self, obj: Postmortem) -> str:
        return obj.incident.team.name if obj.incident.team else "—"

    @admin.display(description="overdue")
    def overdue_text(self, obj: Postmortem) -> str:
        if not selectors.postmortem_is_overdue(obj) or obj.due_at is None:
            return "—"
        late = timezone.now() - obj.due_at
        days = late.days
        return f"⚠ Overdue by {days} day{'s' if days != 1 else ''}" if days else "⚠ Overdue"

    def view_on_site(self, obj: Postmortem) -> str:
        return _postmortem_path(obj)


@admin.register(Review)
class ReviewAdmin(StaffAdminMixin, admin.ModelAdmin):
    list_display = ("postmortem", "reviewer", "decision", "requested_at", "decided_at")
    list_filter = ("decision", ("postmortem__incident__team", admin.RelatedOnlyFieldListFilter))
    search_fields = (
        "postmortem__incident__title",
        "reviewer__username",
        "reviewer__first_name",
        "reviewer__last_name",
        "comment",
    )
    list_select_related = ("postmortem__incident", "reviewer")
    fields = ("postmortem", "reviewer", "decision", "comment", "requested_at", "decided_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # reviewers are asked when the postmortem is submitted for review
