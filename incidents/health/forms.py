"""The health pages' filters (GET) and the "automate or fix" form; they parse, metrics decide."""

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, cast
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django import forms

from incidents.models import Service, Severity, Team

from .metrics import Window, local_midnight, window_for

PERIODS = (7, 30, 90)
DEFAULT_DAYS = 7
WEEK_PATTERN = re.compile(r"^(?P<year>\d{4})-W(?P<week>\d{2})$")
MONTH_PATTERN = re.compile(r"^(?P<year>\d{4})-(?P<month>\d{2})$")


def parse_iso_week(value: str) -> tuple[int, int] | None:
    """Return (ISO year, ISO week) for "2026-W05", or None when it is not a real ISO week."""
    match = WEEK_PATTERN.match(value or "")
    if not match:
        return None
    year, week = int(match["year"]), int(match["week"])
    try:
        date.fromisocalendar(year, week, 1)
    except ValueError:
        return None
    return year, week


def iso_week_text(iso_year: int, iso_week: int) -> str:
    """Return the ISO week as "2026-W05"."""
    return f"{iso_year}-W{iso_week:02d}"


def parse_month(value: str) -> date | None:
    """Return the first day of the month for "2026-11", or None."""
    match = MONTH_PATTERN.match(value or "")
    if not match:
        return None
    try:
        return date(int(match["year"]), int(match["month"]), 1)
    except ValueError:
        return None


def week_bounds(iso_year: int, iso_week: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Return [Monday 00:00, next Monday 00:00) of an ISO week in a time zone."""
    monday = date.fromisocalendar(iso_year, iso_week, 1)
    return local_midnight(monday, zone), local_midnight(monday + timedelta(days=7), zone)


@dataclass(frozen=True)
class Scope:
    """What a health page looks at: the window, how it was chosen, and its filters."""

    window: Window
    days: int | None
    week: tuple[int, int] | None
    team: Team | None
    service: Service | None
    severity: Severity | None

    @property
    def week_text(self) -> str:
        return iso_week_text(*self.week) if self.week else ""

    def params(self, **extra: Any) -> dict[str, str]:
        """Return the query parameters that select this scope, plus `extra` (empty ones dropped)."""
        values: dict[str, Any] = {
            "days": self.days or "",
            "week": self.week_text,
            "team": self.team.slug if self.team else "",
            "service": self.service.slug if self.service else "",
            "severity": self.severity.code if self.severity else "",
        }
        values.update(extra)
        return {key: str(value) for key, value in values.items() if value not in ("", None)}

    def query(self, **extra: Any) -> str:
        """Return the URL query string of this scope with `extra` parameters."""
        return urlencode(self.params(**extra))


class HealthFilterForm(forms.Form):
    """Team, service, severity and period of the health pages; choices are read once per use."""

    days = forms.TypedChoiceField(
        required=False, coerce=int, choices=[(str(d), f"Last {d} days") for d in PERIODS]
    )
    team = forms.ChoiceField(required=False, label="Team")
    service = forms.ChoiceField(required=False, label="Service")
    severity = forms.ChoiceField(required=False, label="Peak severity")
    week = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, data: Any) -> None:
        super().__init__(data)
        self.teams = {team.slug: team for team in Team.objects.order_by("name")}
        self.services = {service.slug: service for service in Service.objects.order_by("name")}
        self.severities = {severity.code: severity for severity in Severity.objects.all()}
        cast(forms.ChoiceField, self.fields["team"]).choices = [("", "Any team")] + [
            (slug, team.name) for slug, team in self.teams.items()
        ]
        cast(forms.ChoiceField, self.fields["service"]).choices = [("", "Any service")] + [
            (slug, service.name) for slug, service in self.services.items()
        ]
        cast(forms.ChoiceField, self.fields["severity"]).choices = [("", "Any severity")] + [
            (code, f"{code} {severity.name}") for code, severity in self.severities.items()
        ]

    @property
    def ignored(self) -> list[str]:
        """Say which filter values were not understood and what the page shows instead."""
        self.is_valid()
        shown_instead = {
            "days": "Choose 7, 30 or 90 days; {value} was ignored.",
            "team": "There is no team {value}; showing every team.",
            "service": "There is no service {value}; showing every service.",
            "severity": "There is no peak severity {value}; showing every severity.",
            "week": "Write the week as 2026-W05; {value} was ignored.",
        }
        return [
            shown_instead[name].format(value=f"“{self.data.get(name, '')}”")
            for name in shown_instead
            if name in self.errors
        ]

    @property
    def visible_filters(self) -> list[forms.BoundField]:
        """Return the filters a person chooses (the period is a row of links, the week a link)."""
        return [self["team"], self["service"], self["severity"]]

    def clean_week(self) -> tuple[int, int] | None:
        value = self.cleaned_data.get("week") or ""
        if not value:
            return None
        week = parse_iso_week(value)
        if week is None:
            raise forms.ValidationError("Write the week as 2026-W05.")
        return week

    def scope(self, *, now: datetime | None = None) -> Scope:
        """Return the scope the valid filters select; invalid ones are ignored (shown as errors)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        team = self.teams.get(data.get("team") or "")
        service = self.services.get(data.get("service") or "")
        severity = self.severities.get(data.get("severity") or "")
        week = data.get("week")
        days = data.get("days") or None
        if days is None and week is None:
            days = DEFAULT_DAYS
        window = window_for(
            days=days or DEFAULT_DAYS, team=team, service=service, severity=severity, now=now
        )
        if week is not None:
            # A week alone is that whole ISO week; with a period, the part of it in the period.
            start, end = week_bounds(week[0], week[1], window.zone)
            if days is not None:
                start, end = max(start, window.start), min(end, window.end)
                end = max(start, end)
            window = replace(window, start=start, end=end)
        return Scope(
            window=window, days=days, week=week, team=team, service=service, severity=severity
        )
