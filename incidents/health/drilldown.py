"""The rows behind each figure of the health pages: what a number on the dashboard links to.

Each list starts from the same queryset the figure was counted on (selectors.health_*), then
narrows it with the figure's own condition, written beside the metric's definition in
metrics.py and checklist.py, so the list is exactly the rows the number counts.
"""

from dataclasses import dataclass
from datetime import date
from typing import Final

from django.db.models import F, Q, QuerySet

from incidents.alerting.models import Alert
from incidents.models import Incident, Source, Team
from incidents.oncall.models import Page

from .checklist import CHECKLIST_KEYS, LABELS, slow_detection_threshold
from .checklist import checklist_incidents as checklist_rows
from .metrics import month_window
from .selectors import Window, health_alerts, health_incidents, health_pages

__all__ = [
    "ALERT_VERDICTS",
    "CHECKLIST_STATES",
    "INCIDENT_FIGURES",
    "IncidentFigure",
    "alert_rows",
    "checklist_incidents",
    "incident_rows",
    "noisy_alert_rows",
    "page_rows",
]


@dataclass(frozen=True)
class IncidentFigure:
    """A figure counted over incidents: its name and which of the window's incidents it counts."""

    label: str
    description: str


INCIDENT_FIGURES: Final[dict[str, IncidentFigure]] = {
    "incidents": IncidentFigure("Incidents", "every incident detected in the period"),
    "mtta": IncidentFigure(
        "Time to acknowledge",
        "incidents opened by an alert and acknowledged (declared ones acknowledge themselves)",
    ),
    "never_acknowledged": IncidentFigure(
        "Never acknowledged", "incidents opened by an alert that nobody acknowledged"
    ),
    "mttr": IncidentFigure("Time to resolve", "resolved incidents, to their final resolution"),
    "unresolved": IncidentFigure("Unresolved", "incidents not resolved yet"),
    "detect": IncidentFigure("Time to detect", "every incident: from impact started to detection"),
    "slow_detection": IncidentFigure(
        "Slow detection", "incidents detected later than the slow-detection threshold"
    ),
}

ALERT_VERDICTS: Final[dict[str, str]] = {
    "not_actionable": "marked not actionable (false positives)",
    "actionable": "marked actionable",
    "reviewed": "with a verdict",
    "unreviewed": "not reviewed yet",
}

CHECKLIST_STATES: Final = ("done", "missing")


def _incident_condition(figure: str) -> Q:
    if figure == "mtta":
        return Q(source=Source.ALERT, acknowledged_at__isnull=False)
    if figure == "never_acknowledged":
        return Q(source=Source.ALERT, acknowledged_at__isnull=True)
    if figure == "mttr":
        return Q(resolved_at__isnull=False)
    if figure == "unresolved":
        return Q(resolved_at__isnull=True)
    if figure == "slow_detection":
        return Q(detected_at__gt=F("impact_started_at") + slow_detection_threshold())
    return Q()


def incident_rows(*, window: Window, figure: str) -> QuerySet[Incident]:
    """Return the window's incidents a figure counts, newest first, ready for a list."""
    qs = health_incidents(window=window).filter(_incident_condition(figure))
    return (
        qs.select_related("team", "peak_severity", "severity")
        .prefetch_related("services")
        .order_by("-detected_at", "-pk")
    )


def checklist_incidents(*, window: Window, key: str, state: str) -> QuerySet[Incident]:
    """Return the incidents resolved in the window whose checklist item `key` is in `state`."""
    if key not in CHECKLIST_KEYS or state not in CHECKLIST_STATES:
        raise ValueError(f"No checklist figure {key!r} {state!r}.")
    # The checklist's own rules (the ones its summary counts with), listed for reading.
    return (
        checklist_rows(window=window, key=key, state=state)
        .select_related("team", "peak_severity", "severity")
        .prefetch_related("services")
        .order_by("-resolved_at", "-pk")
    )


def checklist_label(key: str) -> str:
    """Return the checklist item's label, as the incident page shows it."""
    return LABELS[key]


def page_rows(
    *,
    window: Window,
    schedule_id: int | None = None,
    no_schedule: bool = False,
    person_id: int | None = None,
    actionable: bool = False,
    manual: bool = False,
) -> QuerySet[Page]:
    """Return the window's pages behind a rotation's or a person's figure, newest first."""
    qs = health_pages(window=window)
    if no_schedule:
        qs = qs.filter(schedule__isnull=True)
    elif schedule_id is not None:
        qs = qs.filter(schedule_id=schedule_id)
    if person_id is not None:
        qs = qs.filter(recipient_id=person_id)
    if actionable:
        qs = qs.filter(actionable=True)
    if manual:
        qs = qs.filter(needed_manual_action=True)
    return qs.select_related("incident", "recipient", "schedule").order_by("-created_at", "-pk")


def _verdict_condition(verdict: str) -> Q:
    if verdict == "not_actionable":
        return Q(actionable=False)
    if verdict == "actionable":
        return Q(actionable=True)
    if verdict == "reviewed":
        return Q(actionable__isnull=False)
    if verdict == "unreviewed":
        return Q(actionable__isnull=True)
    return Q()


def _alerts_narrowed(
    qs: QuerySet[Alert], source_id: int | None, name: str | None, verdict: str
) -> QuerySet[Alert]:
    if source_id is not None:
        qs = qs.filter(source_id=source_id)
    if name is not None:
        qs = qs.filter(title=name)
    return (
        qs.filter(_verdict_condition(verdict))
        .select_related("source", "service", "incident")
        .order_by("-first_seen_at", "-pk")
    )


def alert_rows(
    *, window: Window, source_id: int | None = None, name: str | None = None, verdict: str = ""
) -> QuerySet[Alert]:
    """Return the window's alert episodes behind an alert-quality figure, newest first."""
    return _alerts_narrowed(health_alerts(window=window), source_id, name, verdict)


def noisy_alert_rows(
    *,
    month: date,
    team: Team | None,
    source_id: int | None = None,
    name: str | None = None,
    verdict: str = "",
) -> QuerySet[Alert]:
    """Return a calendar month's episodes behind a noisy-alert count, as noisy_alerts reads it."""
    window = month_window(month=month, team=team)
    return _alerts_narrowed(health_alerts(window=window), source_id, name, verdict)
