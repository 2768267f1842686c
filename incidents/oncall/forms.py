"""Browser forms of the schedules pages; they parse input, services decide."""

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.utils import timezone

from incidents.forms import LocalDateTimeInput, PersonChoiceField, local_input_value
from incidents.models import Team
from incidents.selectors import responder_choices
from portal.auth import AnyUser

from .escalation import PlanTarget, page_targets
from .models import Schedule
from .policies import can_manage_schedules


class OverrideForm(forms.Form):
    user = PersonChoiceField(
        queryset=User.objects.none(),
        label="Who is on call",
        empty_label=None,
    )
    start = forms.DateTimeField(
        label="From", widget=LocalDateTimeInput(), help_text="In your time zone."
    )
    end = forms.DateTimeField(
        label="Until", widget=LocalDateTimeInput(), help_text="In your time zone."
    )
    reason = forms.CharField(
        max_length=200,
        required=False,
        help_text="For example “Swap with Bob” or “Covering while Alice is ill”.",
    )

    def __init__(self, *args: Any, actor: AnyUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["user"]
        if can_manage_schedules(actor):
            field.queryset = responder_choices()  # type: ignore[attr-defined]
            field.help_text = "Managers and staff can put any responder on call."
        else:
            field.queryset = User.objects.filter(pk=actor.pk)  # type: ignore[attr-defined,misc]
            field.help_text = "You can take a shift yourself; a manager can put others on call."
            field.error_messages["invalid_choice"] = (
                "You may add overrides only for yourself; ask a manager to put someone else "
                "on call."
            )
        if not self.is_bound:
            start = timezone.now().replace(second=0, microsecond=0)
            self.initial.setdefault("user", actor.pk)
            self.initial.setdefault("start", local_input_value(start))
            self.initial.setdefault("end", local_input_value(start + timedelta(days=1)))


class PageMoreForm(forms.Form):
    """Whom the IC pages in addition: people, schedules' on-call, teams' on-call."""

    users = forms.ModelMultipleChoiceField(
        queryset=User.objects.none(), required=False, label="People"
    )
    schedules = forms.ModelMultipleChoiceField(
        queryset=Schedule.objects.none(), required=False, label="On-call of schedules"
    )
    teams = forms.ModelMultipleChoiceField(
        queryset=Team.objects.none(), required=False, label="On-call of teams"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["users"].queryset = User.objects.filter(is_active=True).order_by(  # type: ignore[attr-defined]
            "first_name", "username"
        )
        self.fields["schedules"].queryset = Schedule.objects.order_by("name")  # type: ignore[attr-defined]
        self.fields["teams"].queryset = Team.objects.order_by("name")  # type: ignore[attr-defined]

    def targets(self) -> list[PlanTarget]:
        """Return the chosen targets (after is_valid())."""
        data = self.cleaned_data
        return page_targets(users=data["users"], schedules=data["schedules"], teams=data["teams"])
