"""Browser forms of the postmortem pages; they parse input, services decide."""

from typing import Any

from django import forms

from incidents.forms import LocalDateTimeInput
from portal.people import display_name

from . import selectors
from .models import Postmortem, Review
from .services.postmortems import ANNOTATION_MAX_LENGTH, SECTION_MAX_LENGTH


def _text(value: str) -> str:
    """Browsers submit textarea line breaks as CRLF; store plain LF."""
    return (value or "").replace("\r\n", "\n").strip()


class PeopleField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return display_name(obj, with_username=True)


def _markdown_area(rows: int, help_text: str = "Markdown.") -> forms.CharField:
    return forms.CharField(
        required=False,
        max_length=SECTION_MAX_LENGTH,
        help_text=help_text,
        widget=forms.Textarea(attrs={"rows": rows, "data-markdown-preview": "true"}),
    )


class SectionsForm(forms.Form):
    """The blameless template's sections, edited together."""

    summary = _markdown_area(7, "Markdown. Prefilled from the incident; say it in your words.")
    users_affected = forms.CharField(required=False, max_length=200, label="Users affected")
    requests_failed = forms.CharField(required=False, max_length=200, label="Requests failed")
    revenue_impact = forms.CharField(required=False, max_length=200, label="Revenue impact")
    root_cause = _markdown_area(8, "Markdown. What broke, technically, and why.")
    contributing_factors = _markdown_area(
        6, "Markdown. What made it possible or worse: gaps in systems and processes, not people."
    )
    what_went_well = _markdown_area(5)
    public_summary = _markdown_area(
        4,
        "Optional. Written for customers; posted to the status page when the postmortem is "
        "published, if the incident was public.",
    )

    MARKDOWN_FIELDS = (
        "summary",
        "root_cause",
        "contributing_factors",
        "what_went_well",
        "public_summary",
    )

    def __init__(self, *args: Any, postmortem: Postmortem | None = None, **kwargs: Any) -> None:
        if postmortem is not None and not args and "initial" not in kwargs:
            kwargs["initial"] = {name: getattr(postmortem, name) for name in self.base_fields}
        kwargs.setdefault("auto_id", "section_%s")
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        return {name: _text(value) for name, value in cleaned.items()}


class RowForm(forms.Form):
    """Hide or annotate one timeline row (its text comes from the incident's event)."""

    hidden = forms.BooleanField(required=False, label="Hide from the postmortem")
    annotation = forms.CharField(
        required=False,
        max_length=ANNOTATION_MAX_LENGTH,
        label="Annotation",
        widget=forms.TextInput(),
    )


class ReviewRequestForm(forms.Form):
    """Ask reviewers to review."""

    reviewers = PeopleField(
        queryset=selectors.people_choices(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text="Hold Ctrl (⌘ on a Mac) to choose several. Authors can't review.",
    )

    def __init__(self, *args: Any, postmortem: Postmortem | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "submit_%s")
        super().__init__(*args, **kwargs)
        if postmortem is not None:
            # Authors don't review their own postmortem: don't offer them.
            field = self.fields["reviewers"]
            field.queryset = field.queryset.exclude(  # type: ignore[attr-defined]
                pk__in=postmortem.authors.values("pk")
            )


class DecideForm(forms.Form):
    """A reviewer's decision."""

    decision = forms.ChoiceField(
        choices=[
            (Review.Decision.APPROVED, "Approve"),
            (Review.Decision.CHANGES_REQUESTED, "Request changes"),
        ],
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Required when you request changes.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "decide_%s")
        super().__init__(*args, **kwargs)

    def clean_comment(self) -> str:
        return _text(self.cleaned_data.get("comment", ""))


class MeetingForm(forms.Form):
    """The review meeting's time (in the viewer's time zone) and who attends."""

    at = forms.DateTimeField(label="Starts at", widget=LocalDateTimeInput())
    attendees = PeopleField(
        queryset=selectors.people_choices(),
        widget=forms.SelectMultiple(attrs={"size": 6}),
        help_text="Each gets an email with a calendar invitation.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "meeting_%s")
        super().__init__(*args, **kwargs)


class AuthorForm(forms.Form):
    """Add authors."""

    users = PeopleField(
        queryset=selectors.author_choices(),
        label="Add authors",
        widget=forms.SelectMultiple(attrs={"size": 4}),
    )

    def __init__(self, *args: Any, postmortem: Postmortem | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "author_%s")
        super().__init__(*args, **kwargs)
        if postmortem is not None:
            field = self.fields["users"]
            field.queryset = field.queryset.exclude(  # type: ignore[attr-defined]
                pk__in=postmortem.authors.values("pk")
            )


class PreviewForm(forms.Form):
    """Text to render as the page would show it."""

    text = forms.CharField(required=False, max_length=SECTION_MAX_LENGTH, strip=False)


OVERDUE = "overdue"


class ListFilterForm(forms.Form):
    """Filters of the postmortem list."""

    status = forms.ChoiceField(
        required=False,
        choices=[("", "Any status"), *Postmortem.Status.choices],
        label="Status",
    )
    overdue = forms.BooleanField(required=False, label="Overdue only")

    def filters(self) -> dict[str, Any]:
        if not self.is_valid():
            return {"status": None, "overdue": False}
        return {
            "status": self.cleaned_data.get("status") or None,
            "overdue": bool(self.cleaned_data.get("overdue")),
        }
