"""Forms of action items (portal pages and back-office actions); they parse, services decide."""

from datetime import date, timedelta
from typing import Any

from django import forms

from incidents.forms import PersonChoiceField

from .action_item_selectors import action_item_owner_choices
from .models import ActionItem

MAX_SHIFT_DAYS = 366


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


def _text(value: str) -> str:
    """Browsers submit textarea line breaks as CRLF; store plain LF."""
    return value.replace("\r\n", "\n").strip()


class ActionItemForm(forms.Form):
    """The fields a person edits on an action item."""

    title = forms.CharField(max_length=200)
    owner = PersonChoiceField(
        queryset=action_item_owner_choices(), required=False, empty_label="Nobody yet"
    )
    due_date = forms.DateField(required=False, widget=DateInput())
    priority = forms.ChoiceField(choices=ActionItem.Priority.choices, initial="P3")
    tracker_url = forms.URLField(
        required=False,
        max_length=500,
        label="Tracker issue",
        assume_scheme="https",
        help_text="The Jira or Linear issue, if there is one.",
    )
    description = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Markdown.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Evaluate per form, not once at import.
        self.fields["owner"].queryset = action_item_owner_choices()  # type: ignore[attr-defined]

    def clean_description(self) -> str:
        return _text(self.cleaned_data.get("description") or "")

    @classmethod
    def initial_for(cls, item: ActionItem) -> dict[str, Any]:
        return {
            "title": item.title,
            "owner": item.owner_id,
            "due_date": item.due_date,
            "priority": item.priority,
            "tracker_url": item.tracker_url,
            "description": item.description,
        }


class ActionItemStatusForm(forms.Form):
    """The quick status change next to an item."""

    status = forms.ChoiceField(choices=ActionItem.Status.choices)


class ReassignForm(forms.Form):
    """The back-office's "reassign" action: who owns the selected items from now on."""

    owner = PersonChoiceField(queryset=action_item_owner_choices(), label="New owner")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = action_item_owner_choices()  # type: ignore[attr-defined]


class MoveDueDateForm(forms.Form):
    """The back-office's "move due date" action: a new date, or a shift by some days."""

    due_date = forms.DateField(required=False, widget=DateInput(), label="New due date")
    shift_days = forms.IntegerField(
        required=False,
        min_value=-MAX_SHIFT_DAYS,
        max_value=MAX_SHIFT_DAYS,
        label="Or move by this many days",
        help_text="For example 7 to give everyone a week more; items without a due date are "
        "skipped.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        has_date = data.get("due_date") is not None
        has_shift = data.get("shift_days") not in (None, 0)
        if has_date == has_shift:
            raise forms.ValidationError(
                "Give either a new due date or a number of days to move by, not both."
            )
        return data

    def new_due_date(self, current: date | None) -> date | None:
        """Return the due date an item with `current` gets; None means leave it unchanged."""
        if self.cleaned_data.get("due_date") is not None:
            return self.cleaned_data["due_date"]
        if current is None:
            return None
        return current + timedelta(days=self.cleaned_data["shift_days"])
