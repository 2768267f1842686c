"""Writes of the alerting app: ingesting alerts (.ingest) and triaging them (.triage)."""

from .ingest import (
    IngestResult,
    alertmanager_count_repeat,
    alertmanager_ingest,
    generic_ingest,
    pagerduty_event,
)
from .triage import (
    ACTIONABLE_WORDS,
    AlertNotInTriage,
    alert_attach,
    alert_mark_actionable,
    alert_open_incident,
    alert_source_rotate_secret,
)

__all__ = [
    "ACTIONABLE_WORDS",
    "AlertNotInTriage",
    "IngestResult",
    "alert_attach",
    "alert_mark_actionable",
    "alert_open_incident",
    "alert_source_rotate_secret",
    "alertmanager_count_repeat",
    "alertmanager_ingest",
    "generic_ingest",
    "pagerduty_event",
]
