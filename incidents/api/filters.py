"""Query parameters of the incident list; the filtering itself is the incident selector's."""

from typing import Any

import django_filters
from django.db.models import QuerySet

from .. import selectors
from ..models import Incident, IncidentStatus, Service, Severity, Team


class IncidentFilter(django_filters.FilterSet):
    """Validate and document the list's filters, then filter through `selectors.incident_list`.

    Going through the selector keeps the API, the web list and anything else that lists incidents
    filtering the same way, with the same prefetches.
    """

    status = django_filters.ChoiceFilter(choices=IncidentStatus.choices)
    severity = django_filters.ModelChoiceFilter(
        queryset=Severity.objects.all(), to_field_name="code", help_text="Severity code, e.g. P1."
    )
    team = django_filters.ModelChoiceFilter(
        queryset=Team.objects.all(), to_field_name="slug", help_text="Owning team's slug."
    )
    service = django_filters.ModelChoiceFilter(
        queryset=Service.objects.all(),
        field_name="services",
        to_field_name="slug",
        help_text="Affected service's slug.",
    )
    open = django_filters.BooleanFilter(
        help_text="true: only incidents that are not yet resolved or closed."
    )

    class Meta:
        model = Incident
        fields = ["status", "severity", "team", "service", "open"]

    def selector_filters(self) -> dict[str, Any]:
        """Return the validated parameters as `selectors.incident_list` keyword arguments."""
        data = self.form.cleaned_data
        severity, team, service = data.get("severity"), data.get("team"), data.get("service")
        return {
            "status": data.get("status") or None,
            "severity": severity.code if severity else None,
            "team": team.slug if team else None,
            "service": service.slug if service else None,
            "open_only": bool(data.get("open")),
        }

    def filter_queryset(self, queryset: QuerySet[Incident]) -> QuerySet[Incident]:
        """Return the selector's incidents for the validated parameters."""
        return selectors.incident_list(**self.selector_filters())
