"""The publish form on the incident page, prefilled from the runbook's templates."""

from dataclasses import dataclass
from typing import Any

from django import forms

from incidents.models import Incident

from .models import (
    Component,
    ComponentStatus,
    Impact,
    PublicIncident,
    PublicIncidentStatus,
    UpdateTemplate,
)
from .services.publishing import (
    NAME_MAX_LENGTH,
    PUBLISHABLE_STATUSES,
    component_status_suggested,
    impact_suggested,
    public_status_suggested,
)

NO_CHANGE = ""
# An incident never puts a component under maintenance; that is scheduled maintenance's status.
INCIDENT_COMPONENT_CHOICES = [
    (NO_CHANGE, "No change"),
    *[
        (value, label)
        for value, label in ComponentStatus.choices
        if value != ComponentStatus.UNDER_MAINTENANCE
    ],
]


def template_kind_default(incident: Incident, public: PublicIncident | None) -> str:
    """Return the template to start from: initial, then updates, the resolution once resolved."""
    if public is None:
        return UpdateTemplate.Kind.INITIAL
    if not incident.is_open:
        return UpdateTemplate.Kind.RESOLUTION
    return UpdateTemplate.Kind.UPDATE


@dataclass(frozen=True)
class ComponentRow:
    component: Component
    field: forms.BoundField
    involved: bool


class PublicUpdateForm(forms.Form):
    """Publish a public update: the title (first time), status, impact, text and components."""

    name = forms.CharField(
        label="Public title",
        max_length=NAME_MAX_LENGTH,
        required=False,
        help_text="What customers read, in their words: no internal names or INC- numbers.",
        widget=forms.TextInput(attrs={"placeholder": "For example: Card payments are failing"}),
    )
    status = forms.ChoiceField(
        choices=[
            (value, label)
            for value, label in PublicIncidentStatus.choices
            if value in PUBLISHABLE_STATUSES
        ],
        widget=forms.RadioSelect,
    )
    impact = forms.ChoiceField(
        choices=Impact.choices,
        help_text="Suggested from the severity; it sets the page's overall indicator.",
    )
    body = forms.CharField(
        label="Message",
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="Replace the [bracketed] parts. Published as written.",
    )
    deliver_notifications = forms.BooleanField(
        label="Notify subscribers", required=False, initial=True
    )

    def __init__(
        self,
        data: Any = None,
        *,
        incident: Incident,
        template_kind: str | None = None,
        components: list[Component] | None = None,
    ) -> None:
        super().__init__(data, auto_id="public_%s")
        self.incident = incident
        self.public = PublicIncident.objects.filter(incident=incident).first()
        self.first_publish = self.public is None
        if self.first_publish:
            self.fields["name"].required = True
        else:
            del self.fields["name"]
        default_kind = template_kind_default(incident, self.public)
        chosen = template_kind if template_kind in UpdateTemplate.Kind.values else None
        self.template_kind = chosen or default_kind
        template = UpdateTemplate.objects.filter(kind=self.template_kind).first()
        current = self.public.status if self.public else None
        status = public_status_suggested(incident, current)
        if chosen and template is not None:
            # Someone picked this text on purpose: its status comes with it.
            status = template.status
        self.initial.update(
            {
                "status": status,
                "impact": self.public.impact
                if self.public
                else impact_suggested(incident.severity),
                "body": template.body if template else "",
                "deliver_notifications": True,
            }
        )
        self._add_component_fields(components, status)

    def _add_component_fields(self, components: list[Component] | None, status: str) -> None:
        if components is None:
            components = list(
                Component.objects.select_related("group").order_by(
                    "group__position", "group__name", "position", "name"
                )
            )
        service_ids = set(self.incident.services.values_list("pk", flat=True))
        through = Component.services.through
        serving = set(
            through.objects.filter(service_id__in=service_ids).values_list(
                "component_id", flat=True
            )
        )
        listed = set(self.public.components.values_list("pk", flat=True)) if self.public else set()
        if status == PublicIncidentStatus.RESOLVED:
            suggested: str | None = ComponentStatus.OPERATIONAL
        else:
            suggested = component_status_suggested(self.incident)
        self.component_rows: list[tuple[Component, str, bool]] = []
        for component in components:
            involved = component.pk in serving or component.pk in listed
            name = f"component_{component.pk}"
            initial = (suggested or NO_CHANGE) if involved else NO_CHANGE
            if (
                status != PublicIncidentStatus.RESOLVED
                and component.status != ComponentStatus.OPERATIONAL
            ):
                # Someone already said how this component is doing; a later update should not
                # move it by default.
                initial = NO_CHANGE
            self.fields[name] = forms.ChoiceField(
                label=component.name,
                choices=INCIDENT_COMPONENT_CHOICES,
                required=False,
                initial=initial,
            )
            self.component_rows.append((component, name, involved))

    @property
    def template_choices(self) -> list[tuple[str, str]]:
        return list(UpdateTemplate.Kind.choices)

    def components(self) -> list[ComponentRow]:
        """Return one row per component: its select and whether the incident involves it."""
        return [
            ComponentRow(component=component, field=self[name], involved=involved)
            for component, name, involved in self.component_rows
        ]

    @property
    def component_errors(self) -> bool:
        return any(self.has_error(name) for _component, name, _involved in self.component_rows)

    def clean_body(self) -> str:
        return str(self.cleaned_data["body"]).replace("\r\n", "\n").strip()

    def component_statuses(self) -> dict[Component, str]:
        """Return the new status of each component someone chose to change (after validation)."""
        return {
            component: self.cleaned_data[name]
            for component, name, _involved in self.component_rows
            if self.cleaned_data.get(name)
        }
