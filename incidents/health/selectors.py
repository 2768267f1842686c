"""The rows behind the on-call health figures: incidents, alert episodes and pages in a window.

Every figure, drill-down list and CSV export starts from these querysets, so a number and the
rows it links to agree. Each is bounded by the window on an indexed column (incidents by
`detected_at`, alert episodes by `first_seen_at`, pages by `created_at`).

Filters: the team is the incident's team (alert episodes: their service's team; an episode
without a service, their incident's team); the service is one of the incident's services (alert
episodes: their service; without one, one of their incident's services); the severity is the
incident's peak severity (alert episodes: their own severity; pages: their incident's peak
severity).
"""

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db.models import Exists, OuterRef, Q, QuerySet

from incidents.alerting.models import Alert
from incidents.models import Incident
from incidents.oncall.models import Page


@dataclass(frozen=True)
class Window:
    """A half-open interval [start, end) read in a zone, with the dashboard's filters."""

    start: datetime
    end: datetime
    zone: ZoneInfo
    team_id: int | None = None
    service_id: int | None = None
    severity_code: str | None = None


# Pages that count as pages: the escalation's and the IC's; a "notify" is an FYI.
PAGE_KINDS = (Page.Kind.ESCALATION, Page.Kind.MANUAL)


def health_incidents(*, window: Window) -> QuerySet[Incident]:
    """Return the incidents detected in the window that match its filters."""
    qs = Incident.objects.filter(detected_at__gte=window.start, detected_at__lt=window.end)
    if window.team_id is not None:
        qs = qs.filter(team_id=window.team_id)
    if window.service_id is not None:
        qs = qs.filter(services=window.service_id)
    if window.severity_code:
        qs = qs.filter(peak_severity__code=window.severity_code)
    return qs


def health_alerts(*, window: Window) -> QuerySet[Alert]:
    """Return the alert episodes first seen in the window that match its filters."""
    qs = Alert.objects.filter(first_seen_at__gte=window.start, first_seen_at__lt=window.end)
    # An episode that joined an incident without a routing rule naming its service (one that
    # joined its group's open incident) belongs to the incident's team and services.
    unrouted = Q(service__isnull=True, incident__isnull=False)
    if window.team_id is not None:
        qs = qs.filter(
            Q(service__team_id=window.team_id) | (unrouted & Q(incident__team_id=window.team_id))
        )
    if window.service_id is not None:
        of_incident = Incident.services.through.objects.filter(
            incident_id=OuterRef("incident_id"), service_id=window.service_id
        )
        qs = qs.filter(Q(service_id=window.service_id) | (unrouted & Exists(of_incident)))
    if window.severity_code:
        qs = qs.filter(severity__code=window.severity_code)
    return qs


def health_pages(*, window: Window) -> QuerySet[Page]:
    """Return the pages sent in the window (escalation and manual) that match its filters."""
    qs = Page.objects.filter(
        created_at__gte=window.start,
        created_at__lt=window.end,
        kind__in=PAGE_KINDS,
        state=Page.State.SENT,
    )
    if window.team_id is not None:
        qs = qs.filter(incident__team_id=window.team_id)
    if window.service_id is not None:
        qs = qs.filter(incident__services=window.service_id)
    if window.severity_code:
        qs = qs.filter(incident__peak_severity__code=window.severity_code)
    return qs
