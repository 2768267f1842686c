"""Browser forms of the responders' portal; they parse input, services decide."""

from datetime import datetime
from typing import Any, cast

from django import forms
from django.utils import timezone

from portal.auth import AnyUser
from portal.people import display_name

from . import selectors
from .models import (
    Incident,
    IncidentRole,
    IncidentStatus,
    Service,
    Severity,
    Team,
    TimelineEvent,
    UpdateStatus,
    update_status_for,
)

LOCAL_INPUT_FORMAT = "%Y-%m-%dT%H:%M"


class LocalDateTimeInput(forms.DateTimeInput):
    """A datetime-local input; the value is read in the viewer's time zone."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format=LOCAL_INPUT_FORMAT)


def local_input_value(value: datetime) -> str:
    """Return a datetime as a datetime-local value in the active time zone."""
    return timezone.localtime(value).strftime(LOCAL_INPUT_FORMAT)


def _text(value: str) -> str:
    """Browsers submit textarea line breaks as CRLF; store plain LF."""
    return value.replace("\r\n", "\n").strip()


def _regions(value: str) -> list[str]:
    return [region.strip() for region in value.split(",") if region.strip()]


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return display_name(obj, with_username=True)


class SeverityChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.code} {obj.name} — {obj.description}"


class SeverityCodeChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.code} {obj.name}"


OPEN_FILTER = "open"


def _status_filter_choices() -> list[tuple[str, str]]:
    return [("", "All statuses"), (OPEN_FILTER, "Open (not resolved)"), *IncidentStatus.choices]


def _severity_filter_choices() -> list[tuple[str, str]]:
    return [("", "Any severity")] + [
        (s.code, f"{s.code} {s.name}") for s in selectors.severity_list()
    ]


def _team_filter_choices() -> list[tuple[str, str]]:
    return [("", "Any team")] + [(t.slug, t.name) for t in Team.objects.order_by("name")]


def _service_filter_choices() -> list[tuple[str, str]]:
    return [("", "Any service")] + [(s.slug, s.name) for s in Service.objects.order_by("name")]


class IncidentFilterForm(forms.Form):
    """The incident list's filters (GET); choices are read from the database on each use."""

    status = forms.ChoiceField(required=False, choices=_status_filter_choices)
    severity = forms.ChoiceField(required=False, choices=_severity_filter_choices)
    team = forms.ChoiceField(required=False, choices=_team_filter_choices)
    service = forms.ChoiceField(required=False, choices=_service_filter_choices)

    def filters(self) -> dict[str, Any]:
        """Return the valid filters as incident_list keyword arguments."""
        self.is_valid()
        data = {name: self.cleaned_data.get(name) or None for name in self.fields}
        if data["status"] == OPEN_FILTER:
            data["status"] = None
            data["open_only"] = True
        return data


class DescriptionCleaning:
    """Clean the fields that describe an incident, shared by the declare and edit forms."""

    cleaned_data: dict[str, Any]

    def clean_summary(self) -> str:
        return _text(self.cleaned_data["summary"])

    def clean_impact(self) -> str:
        return _text(self.cleaned_data["impact"])

    def clean_regions(self) -> list[str]:
        return _regions(self.cleaned_data["regions"])


class DeclareForm(DescriptionCleaning, forms.Form):
    """Declare an incident."""

    title = forms.CharField(max_length=200)
    severity = SeverityChoiceField(
        queryset=Severity.objects.order_by("rank"),
        to_field_name="code",
        widget=forms.RadioSelect,
        empty_label=None,
    )
    services = forms.ModelMultipleChoiceField(
        queryset=Service.objects.order_by("name"),
        to_field_name="slug",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Their dashboards and runbooks show on the incident page.",
    )
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"),
        to_field_name="slug",
        required=False,
        empty_label="The first service's team",
    )
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    impact = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="What is broken and who is affected.",
    )
    users_affected_pct = forms.IntegerField(
        label="Users affected (%)", min_value=0, max_value=100, required=False
    )
    regions = forms.CharField(
        required=False, help_text="Comma separated, for example eu-west-1, us-east-1."
    )
    customer_facing = forms.BooleanField(required=False, initial=True)
    bridge_url = forms.URLField(
        label="Conference bridge URL",
        required=False,
        assume_scheme="https",
        help_text="Leave empty to use the configured bridge, if any.",
    )
    commander = PersonChoiceField(
        label="Incident Commander", queryset=selectors.responder_choices(), empty_label=None
    )
    impact_started_at = forms.DateTimeField(
        label="Impact started at",
        required=False,
        widget=LocalDateTimeInput(),
        help_text="In your time zone. Leave empty if it started when it was detected.",
    )

    def __init__(self, *args: Any, user: AnyUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial.setdefault("commander", user.pk)
        self.fields["impact_started_at"].widget.attrs["max"] = local_input_value(timezone.now())


class IncidentActionForm(forms.Form):
    """A form on the incident page; knows its incident."""

    # Several forms share one page: give each its own element ids.
    id_prefix = "action"

    def __init__(self, *args: Any, incident: Incident, **kwargs: Any) -> None:
        self.incident = incident
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)


class AcknowledgeForm(IncidentActionForm):
    id_prefix = "ack"


class StartInvestigatingForm(IncidentActionForm):
    id_prefix = "investigate"

    reason = forms.CharField(required=False, max_length=1000)

    def clean_reason(self) -> str:
        return _text(self.cleaned_data["reason"])


class MitigateForm(IncidentActionForm):
    id_prefix = "mitigate"

    message = forms.CharField(label="What restored service?", required=False, max_length=1000)

    def clean_message(self) -> str:
        return _text(self.cleaned_data["message"])


class ResolveForm(IncidentActionForm):
    id_prefix = "resolve"

    message = forms.CharField(label="Resolution note", required=False, max_length=1000)

    def clean_message(self) -> str:
        return _text(self.cleaned_data["message"])


class ReopenForm(IncidentActionForm):
    id_prefix = "reopen"

    reason = forms.CharField(label="Why reopen?", max_length=1000)

    def clean_reason(self) -> str:
        return _text(self.cleaned_data["reason"])


class CloseForm(IncidentActionForm):
    id_prefix = "close"


class ChangeSeverityForm(IncidentActionForm):
    id_prefix = "severity"

    severity = SeverityCodeChoiceField(
        queryset=Severity.objects.order_by("rank"), to_field_name="code", empty_label=None
    )
    reason = forms.CharField(required=False, max_length=500)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial.setdefault("severity", self.incident.severity.code)


class RoleAssignForm(IncidentActionForm):
    """Take a role (no user) or give it to someone, handing it over from its holder."""

    id_prefix = "assign"

    role = forms.ChoiceField(choices=IncidentRole.choices)
    user = PersonChoiceField(
        label="Responder", queryset=selectors.responder_choices(), required=False, empty_label="Me"
    )


class RoleReleaseForm(IncidentActionForm):
    id_prefix = "release"

    role = forms.ChoiceField(choices=IncidentRole.choices)


class StatusUpdateForm(IncidentActionForm):
    """The runbook's status update template."""

    id_prefix = "update"

    status = forms.ChoiceField(choices=UpdateStatus.choices)
    impact = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    last_action = forms.CharField(label="Last action", widget=forms.Textarea(attrs={"rows": 2}))
    next_action = forms.CharField(label="Next action", widget=forms.Textarea(attrs={"rows": 2}))
    eta = forms.CharField(
        label="ETA", max_length=100, initial="unknown", required=False, help_text='Or "unknown".'
    )
    resolve = forms.BooleanField(
        label="Also resolve the incident",
        required=False,
        help_text="Only with Status RESOLVED.",
    )

    def __init__(self, *args: Any, offer_resolve: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial.setdefault("status", update_status_for(self.incident.status))
        # The checkbox is shown only to people who may resolve; a forged one still reaches the
        # service, which refuses it.
        self.offer_resolve = offer_resolve

    def clean_impact(self) -> str:
        return _text(self.cleaned_data["impact"])

    def clean_last_action(self) -> str:
        return _text(self.cleaned_data["last_action"])

    def clean_next_action(self) -> str:
        return _text(self.cleaned_data["next_action"])


class EventChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        when = timezone.localtime(obj.occurred_at).strftime("%Y-%m-%d %H:%M")
        message = obj.message.splitlines()[0] if obj.message else ""
        if len(message) > 60:
            message = message[:59] + "…"
        return f"{when} {obj.get_kind_display()}" + (f": {message}" if message else "")


class NoteForm(IncidentActionForm):
    id_prefix = "note"

    body = forms.CharField(label="Note", widget=forms.Textarea(attrs={"rows": 3}))
    occurred_at = forms.DateTimeField(
        label="When it happened",
        required=False,
        widget=LocalDateTimeInput(),
        help_text="In your time zone; leave empty for now.",
    )
    corrects = EventChoiceField(
        label="Corrects",
        queryset=TimelineEvent.objects.none(),
        required=False,
        empty_label="Nothing (a new note)",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        corrects = cast(forms.ModelChoiceField, self.fields["corrects"])
        corrects.queryset = selectors.incident_timeline(incident=self.incident)
        attrs = self.fields["occurred_at"].widget.attrs
        attrs["min"] = local_input_value(self.incident.impact_started_at)
        attrs["max"] = local_input_value(timezone.now())

    def clean_body(self) -> str:
        return _text(self.cleaned_data["body"])

    def clean_occurred_at(self) -> datetime | None:
        occurred_at: datetime | None = self.cleaned_data["occurred_at"]
        start = self.incident.impact_started_at

        # The input has minute precision: the minute in which impact started counts as in.
        def minute(value: datetime) -> datetime:
            return value.replace(second=0, microsecond=0)

        if occurred_at is not None and occurred_at < start and minute(occurred_at) == minute(start):
            return start
        return occurred_at


class DetailsForm(DescriptionCleaning, IncidentActionForm):
    """Edit the incident's descriptive fields."""

    id_prefix = "details"

    title = forms.CharField(max_length=200)
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    impact = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    users_affected_pct = forms.IntegerField(
        label="Users affected (%)", min_value=0, max_value=100, required=False
    )
    regions = forms.CharField(required=False, help_text="Comma separated.")
    customer_facing = forms.BooleanField(required=False)
    bridge_url = forms.URLField(
        label="Conference bridge URL", required=False, assume_scheme="https"
    )
    impact_started_at = forms.DateTimeField(
        label="Impact started at",
        required=False,
        widget=LocalDateTimeInput(),
        help_text="In your time zone; empty: when it was detected.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        incident = self.incident
        if not self.is_bound:
            self.initial = {
                "title": incident.title,
                "summary": incident.summary,
                "impact": incident.impact,
                "users_affected_pct": incident.users_affected_pct,
                "regions": ", ".join(incident.regions),
                "customer_facing": incident.customer_facing,
                "bridge_url": incident.bridge_url,
                "impact_started_at": incident.impact_started_at,
            }
        self.fields["impact_started_at"].widget.attrs["max"] = local_input_value(
            incident.detected_at
        )

    def clean_impact_started_at(self) -> datetime | None:
        value = self.cleaned_data["impact_started_at"]
        current = self.incident.impact_started_at
        # The input has minute precision: an untouched field means "keep it as it is".
        if value is not None and value == current.replace(second=0, microsecond=0):
            return current
        return value
