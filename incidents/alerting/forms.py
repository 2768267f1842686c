"""Browser forms of the triage list and the incident page's alert panel; services decide."""

from django import forms

from incidents.forms import SeverityChoiceField
from incidents.models import OPEN_STATUSES, Incident, Service, Severity


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
