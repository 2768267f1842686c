"""The "automate or fix" follow-up of a noisy alert: POST /health/toil/follow-up/.

The dashboard posts its noisy-alert row here (source, alert name, month, owner, due date); a GET
shows the same form prefilled, so it works without JavaScript and after a refused POST. The view
parses, checks the right and calls toil_follow_up_get_or_create; the service decides.
"""

import re
from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from incidents.alerting.models import AlertSource
from incidents.forms import PersonChoiceField
from incidents.models import Team
from incidents.views import forbidden, portal_reader
from portal.errors import ApplicationError, InvalidInputError, PermissionDeniedError
from postmortems.action_item_selectors import action_item_owner_choices

from .services import can_create_toil_follow_up, toil_follow_up_get_or_create

MONTH_PATTERN = re.compile(r"^(?P<year>\d{4})-(?P<month>\d{2})(?:-\d{2})?$")
FORBIDDEN_REASON = (
    "Only managers and staff may open “automate or fix” action items; ask your engineering "
    "manager to open it from the weekly review."
)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%d")


class MonthField(forms.Field):
    """A calendar month written 2026-11 (a full date picks its month)."""

    def to_python(self, value: Any) -> date | None:
        text = str(value or "").strip()
        if not text:
            return None
        match = MONTH_PATTERN.match(text)
        if match:
            try:
                return date(int(match["year"]), int(match["month"]), 1)
            except ValueError:
                pass
        raise forms.ValidationError("Write the month as 2026-11.")


class ToilFollowUpForm(forms.Form):
    """What the "automate or fix" button sends: which alert, which month, who and by when."""

    source = forms.ModelChoiceField(
        queryset=AlertSource.objects.order_by("name"), widget=forms.HiddenInput
    )
    alert_name = forms.CharField(max_length=255, widget=forms.HiddenInput)
    month = MonthField(widget=forms.HiddenInput)
    team = forms.SlugField(required=False, widget=forms.HiddenInput)
    owner = PersonChoiceField(queryset=action_item_owner_choices(), empty_label="Choose an owner")
    due_date = forms.DateField(widget=DateInput())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Evaluate per form, not once at import.
        self.fields["owner"].queryset = action_item_owner_choices()  # type: ignore[attr-defined]

    def clean_team(self) -> Team | None:
        slug = self.cleaned_data.get("team") or ""
        if not slug:
            return None
        team = Team.objects.filter(slug=slug).first()
        if team is None:
            raise forms.ValidationError("No such team.")
        return team


def _dashboard_url() -> str:
    try:
        return reverse("health:dashboard")
    except NoReverseMatch:
        return "/health/"


def _next_url(request: HttpRequest) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return _dashboard_url()


def _render(request: HttpRequest, form: ToilFollowUpForm, status: int = 200) -> HttpResponse:
    return render(
        request,
        "health/toil_follow_up.html",
        {"form": form, "back": _next_url(request)},
        status=status,
    )


@require_http_methods(["GET", "HEAD", "POST"])
@portal_reader
def toil_follow_up(request: HttpRequest) -> HttpResponse:
    """Open a noisy alert's "automate or fix" action item once, then go back to the dashboard."""
    if not can_create_toil_follow_up(request.user):
        return forbidden(request, FORBIDDEN_REASON)
    if request.method != "POST":
        return _render(request, ToilFollowUpForm(initial=request.GET.dict()))
    form = ToilFollowUpForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            result = toil_follow_up_get_or_create(
                source_id=data["source"].pk,
                alert_name=data["alert_name"],
                month=data["month"],
                owner=data["owner"],
                due_date=data["due_date"],
                actor=request.user,
                team=data["team"],
            )
        except PermissionDeniedError as exc:
            return forbidden(request, exc.message)
        except InvalidInputError as exc:
            form.add_error(exc.field if exc.field in ("owner", "due_date") else None, exc.message)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            item = result.follow_up.action_item
            if result.created:
                messages.success(request, f"Action item opened: “{item.title}”.")
            else:
                messages.info(request, f"Already opened earlier: “{item.title}”.")
            return redirect(_next_url(request))
    messages.error(request, "The action item was not opened; see the form below.")
    return _render(request, form, status=400)
