"""CSV export of the rows behind the on-call health figures: incidents, pages, alert episodes.

Rows are read in chunks (`iterator(chunk_size=…)`) and written one at a time, so a 90-day export
of a large installation streams in constant memory. The rows are the figures' own (selectors.py):
incidents by `detected_at`, pages by `created_at` (escalation and manual pages that were sent; a
"notify" is an FYI), alert episodes by `first_seen_at`, with the dashboard's team, service and
severity filters.

Every cell that a spreadsheet would read as a formula (starting with = + - @, a tab or a carriage
return) is prefixed with a single quote, as OWASP's CSV injection guidance recommends
(portal.csv_safe).
"""

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Final, Literal

from django.db.models import Exists, OuterRef, Prefetch

from incidents.models import Service, Source, TimelineEvent
from portal.csv_safe import csv_safe
from portal.people import display_name

from .selectors import Window, health_alerts, health_incidents, health_pages

__all__ = [
    "EXPORT_KINDS",
    "HEADERS",
    "csv_filename",
    "csv_lines",
    "csv_safe",
    "rows_csv",
]

Kind = Literal["incidents", "pages", "alerts"]
EXPORT_KINDS: Final = ("incidents", "pages", "alerts")
CHUNK_SIZE: Final = 2000

HEADERS: Final[dict[str, list[str]]] = {
    "incidents": [
        "reference",
        "title",
        "team",
        "services",
        "peak severity",
        "source",
        "detected",
        "acknowledged",
        "resolved",
        "MTTA s",
        "MTTR s",
        "time to detect s",
        "reopened",
    ],
    "pages": [
        "incident",
        "recipient",
        "schedule",
        "paged",
        "kind",
        "state",
        "created",
        "acknowledged",
        "actionable",
        "needed manual action",
    ],
    "alerts": [
        "source",
        "alert name",
        "fingerprint",
        "first seen",
        "status",
        "actionable",
        "incident",
    ],
}


def _when(value: datetime | None, window: Window) -> str:
    if value is None:
        return ""
    return value.astimezone(window.zone).isoformat(timespec="seconds")


def _seconds(value: timedelta | None) -> str:
    return "" if value is None else str(int(value.total_seconds()))


def _yes_no(value: bool | None, unknown: str = "") -> str:
    if value is None:
        return unknown
    return "yes" if value else "no"


def _incident_rows(window: Window) -> Iterator[list[str]]:
    reopened = TimelineEvent.objects.filter(
        incident=OuterRef("pk"), kind=TimelineEvent.Kind.REOPENED
    )
    incidents = (
        health_incidents(window=window)
        .select_related("team", "peak_severity")
        .prefetch_related(Prefetch("services", queryset=Service.objects.order_by("name")))
        .annotate(was_reopened=Exists(reopened))
        .order_by("detected_at", "pk")
    )
    for incident in incidents.iterator(chunk_size=CHUNK_SIZE):
        # MTTA counts alert-opened incidents only: a declaration acknowledges itself.
        mtta = incident.time_to_acknowledge if incident.source == Source.ALERT else None
        yield [
            incident.reference,
            incident.title,
            incident.team.name if incident.team else "",
            "; ".join(service.name for service in incident.services.all()),
            incident.peak_severity.code,
            incident.source,
            _when(incident.detected_at, window),
            _when(incident.acknowledged_at, window),
            _when(incident.resolved_at, window),
            _seconds(mtta),
            _seconds(incident.time_to_resolve),
            _seconds(incident.time_to_detect),
            _yes_no(incident.was_reopened),  # type: ignore[attr-defined]
        ]


def _page_rows(window: Window) -> Iterator[list[str]]:
    pages = (
        health_pages(window=window)
        .select_related("recipient", "schedule")
        .order_by("created_at", "pk")
    )
    for page in pages.iterator(chunk_size=CHUNK_SIZE):
        yield [
            f"INC-{page.incident_id}",
            display_name(page.recipient),
            page.schedule.name if page.schedule else "",
            # Counted per rotation, or per person when it reached them through no rotation.
            "through rotation" if page.schedule_id is not None else "directly",
            page.kind,
            page.state,
            _when(page.created_at, window),
            _when(page.acknowledged_at, window),
            _yes_no(page.actionable, "unreviewed"),
            _yes_no(page.needed_manual_action, "unreviewed"),
        ]


def _alert_rows(window: Window) -> Iterator[list[str]]:
    alerts = health_alerts(window=window).select_related("source").order_by("first_seen_at", "pk")
    for alert in alerts.iterator(chunk_size=CHUNK_SIZE):
        yield [
            alert.source.name,
            alert.title,
            alert.fingerprint,
            _when(alert.first_seen_at, window),
            alert.status,
            _yes_no(alert.actionable, "unreviewed"),
            f"INC-{alert.incident_id}" if alert.incident_id else "",
        ]


ROWS = {"incidents": _incident_rows, "pages": _page_rows, "alerts": _alert_rows}


def rows_csv(*, kind: Kind, window: Window) -> Iterator[list[str]]:
    """Yield the header, then one row per incident, page or alert episode in the window."""
    if kind not in ROWS:
        raise ValueError(f"Export incidents, pages or alerts, not {kind!r}.")
    yield list(HEADERS[kind])
    for row in ROWS[kind](window):
        yield [csv_safe(cell) for cell in row]


class _Echo:
    """A file-like object whose write returns the line, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[list[str]]) -> Iterator[str]:
    """Yield the rows as CSV text, one line at a time (for a StreamingHttpResponse)."""
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow(row)


def csv_filename(*, kind: Kind, window: Window) -> str:
    """Return the download name: health-incidents-2026-11-01-2026-11-30.csv."""
    start = window.start.astimezone(window.zone).date()
    # The window's end is exclusive; name the last day it covers.
    last = (window.end - timedelta(microseconds=1)).astimezone(window.zone).date()
    return f"health-{kind}-{start:%Y-%m-%d}-{last:%Y-%m-%d}.csv"
