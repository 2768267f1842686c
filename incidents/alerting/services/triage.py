"""What responders do with alerts on the triage page: open an incident, attach, mark actionable.

Each runs in one transaction on the alert's row lock and records on the incident's timeline, as
ingestion does (the helpers shared with it live in .ingest).
"""

from django.db import transaction
from django.db.models import Case, When
from django.utils import timezone

from incidents.models import Incident, Service, Severity, Source
from incidents.policies import Action, require
from incidents.services import incident_trigger
from portal.auth import AnyUser
from portal.errors import ApplicationError

from ..models import Alert, AlertGroup, AlertSource
from .ingest import FIRING, _attach, _headline, _note, _open_incident


class AlertNotInTriage(ApplicationError):
    """The alert already belongs to an incident."""


def _lock_alert(alert: Alert) -> Alert:
    # The group first, in the same order as ingestion, so the two never deadlock.
    AlertGroup.objects.select_for_update().filter(pk=alert.group_id).first()
    return (
        Alert.objects.select_for_update(of=("self",))
        .select_related("incident", "severity", "service", "group")
        .get(pk=alert.pk)
    )


def alert_open_incident(
    *,
    alert: Alert,
    actor: AnyUser,
    severity: Severity | None = None,
    service: Service | None = None,
    title: str = "",
    source: str = Source.WEB,
) -> Incident:
    """Open an incident from an alert in triage; firing alerts of its group join it."""
    require(actor, Action.DECLARE)
    now = timezone.now()
    with transaction.atomic():
        alert = _lock_alert(alert)
        if alert.incident is not None:
            raise AlertNotInTriage(f"This alert is already part of {alert.incident.reference}.")
        members = [alert]
        if alert.is_firing:
            members += list(
                alert.group.alerts.filter(incident__isnull=True, status=FIRING)
                .exclude(actionable=False)
                .exclude(pk=alert.pk)
            )
        chosen_service = service or alert.service
        incident = incident_trigger(
            title=title.strip() or _headline(alert),
            severity=severity or alert.severity,
            services=[chosen_service] if chosen_service else [],
            summary=alert.summary,
            source=source,
            at=now,
            impact_started_at=alert.starts_at,
        )
        _attach(members, incident)
        if chosen_service is not None:
            _give_service(members, chosen_service)
        if alert.is_firing:
            alert.group.incident = incident
            alert.group.save(update_fields=["incident"])
        lines = [f"Opened from triage, from alert{'s' if len(members) > 1 else ''}:"]
        lines += [f"• {_headline(member)}" for member in members]
        _note(incident, "\n".join(lines), alert, now, alerts=members, actor=actor, source=source)
    return incident


def alert_attach(
    *, alert: Alert, incident: Incident, actor: AnyUser, source: str = Source.WEB
) -> Alert:
    """Attach an alert in triage to an open incident; later alerts of its group follow it."""
    require(actor, Action.ACKNOWLEDGE, incident)
    now = timezone.now()
    with transaction.atomic():
        alert = _lock_alert(alert)
        if alert.incident_id == incident.pk:
            return alert
        if alert.incident is not None:
            raise AlertNotInTriage(f"This alert is already part of {alert.incident.reference}.")
        incident = Incident.objects.get(pk=incident.pk)
        if not incident.is_open:
            raise ApplicationError(
                f"{incident.reference} is {incident.get_status_display().lower()}; "
                "attach alerts to an open incident, or open a new one."
            )
        _attach([alert], incident)
        if alert.service_id is None:
            service = incident_service(incident)
            if service is not None:
                _give_service([alert], service)
        group = alert.group
        if _open_incident(group) is None:
            group.incident = incident
            group.save(update_fields=["incident"])
        _note(
            incident,
            f"Alert attached from triage: {_headline(alert)}",
            alert,
            now,
            actor=actor,
            source=source,
        )
    return alert


def incident_service(incident: Incident) -> Service | None:
    """Return the service an alert joining the incident is about, when it names none itself.

    The service the incident's team comes from (the first one it was opened or declared with,
    as incident_trigger reads it), else its first service; None without services.
    """
    first = (
        Incident.services.through.objects.filter(incident_id=incident.pk)
        .select_related("service")
        .order_by(Case(When(service__team_id=incident.team_id, then=0), default=1), "pk")
        .first()
    )
    return first.service if first is not None else None


def _give_service(alerts: list[Alert], service: Service) -> None:
    """Route the alerts without a service to `service`: the health figures filter alerts by it."""
    unrouted = [alert for alert in alerts if alert.service_id is None]
    Alert.objects.filter(pk__in=[alert.pk for alert in unrouted]).update(service=service)
    for alert in unrouted:
        alert.service = service


ACTIONABLE_WORDS = {True: "actionable", False: "not actionable (a false positive)", None: "unset"}


def alert_mark_actionable(
    *, alert: Alert, actor: AnyUser, actionable: bool | None, source: str = Source.WEB
) -> Alert:
    """Mark an alert episode actionable, not actionable (a false positive), or undecided."""
    require(actor, Action.ACKNOWLEDGE, alert.incident)
    with transaction.atomic():
        alert = _lock_alert(alert)
        if alert.actionable is actionable:
            return alert
        now = timezone.now()
        alert.actionable = actionable
        alert.actionable_set_by = actor if actionable is not None else None  # type: ignore[assignment]
        alert.actionable_set_at = now if actionable is not None else None
        alert.save(update_fields=["actionable", "actionable_set_by", "actionable_set_at"])
        if alert.incident is not None:
            _note(
                alert.incident,
                f"Alert marked {ACTIONABLE_WORDS[actionable]}: {_headline(alert)}",
                alert,
                now,
                actor=actor,
                source=source,
            )
    return alert


def alert_source_rotate_secret(*, source: AlertSource) -> str:
    """Give the source a new secret and return it; the old one stops working at once."""
    with transaction.atomic():
        source = AlertSource.objects.select_for_update().get(pk=source.pk)
        secret = source.issue_secret()
        source.save(update_fields=["secret_digest", "updated_at"])
    return secret
