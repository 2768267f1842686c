"""Browser forms of the triage list and the incident page's alert panel, and the back-office's
routing rule form; services decide."""

from typing import Any

from django import forms

from incidents.forms import SeverityChoiceField
from incidents.models import OPEN_STATUSES, Incident, Service, Severity

from .models import RoutingRule


class OpenIncidentForm(forms.Form):
    severity = SeverityChoiceField(queryset=Severity.objects.order_by("rank"))
    service = forms.ModelChoiceField(
        queryset=Service.objects.order_by("name"), required=False, empty_label="No service"
    )
    title = forms.CharField(max_length=200, required=False, strip=True)


class AttachForm(forms.Form):
    incident = forms.ModelChoiceField(
        queryset=Incident.objects.filter(status__in=OPEN_STATUSES),
        error_messages={"invalid_choice": "Choose an open incident."},
    )


ACTIONABLE_CHOICES = {"yes": True, "no": False, "unset": None}


class ActionableForm(forms.Form):
    actionable = forms.ChoiceField(
        choices=[
            ("yes", "Actionable"),
            ("no", "Not actionable (false positive)"),
            ("unset", "Undecided"),
        ]
    )
    next = forms.CharField(required=False)

    def value(self) -> bool | None:
        """Return the chosen marking: True, False (a false positive) or None."""
        return ACTIONABLE_CHOICES[self.cleaned_data["actionable"]]


class LabelNamesField(forms.CharField):
    """Label names written as a comma-separated list ("cluster, alertname"), kept as a list.

    The model's validator (validate_label_names) then checks the names themselves.
    """

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(str(name) for name in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = (super().to_python(value) or "").strip()
        if not text:
            return []
        names = [name.strip() for name in text.split(",")]
        if "" in names:
            raise forms.ValidationError(
                "A label name is missing between two commas: write names separated by commas, "
                "e.g. cluster, alertname."
            )
        return names


class RoutingRuleAdminForm(forms.ModelForm):
    group_by = LabelNamesField(
        required=False,
        label="Group by labels",
        help_text="Label names separated by commas, e.g. cluster, alertname. Alerts this rule "
        "routes whose values of these labels are equal join one open incident instead of "
        "opening their own; a missing label counts as empty. Empty: no grouping.",
    )

    class Meta:
        model = RoutingRule
        fields = (
            "position",
            "name",
            "is_active",
            "source",
            "match_labels",
            "match_regex",
            "service",
            "severity",
            "group_by",
            "group_window_minutes",
            "storm_threshold",
            "storm_window_minutes",
        )
