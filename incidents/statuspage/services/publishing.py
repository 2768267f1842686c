"""Publishing an internal incident to the status page, in words written for customers.

An internal incident gets a public incident only when its Incident Commander or Communicator
first publishes; everything after that is public updates on it. Internal notes, severity,
names and `INC-` numbers never travel: the public record carries only what was typed here.
"""

import re
from collections.abc import Mapping
from datetime import datetime
from typing import cast

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from incidents.models import Incident, IncidentStatus, Severity, Source, TimelineEvent
from incidents.policies import Action, require
from incidents.services import timeline_record
from portal.auth import AnyUser
from portal.errors import ApplicationError, InvalidInputError

from ..models import (
    INCIDENT_STATUSES,
    AffectedComponent,
    Component,
    ComponentStatus,
    Impact,
    PublicIncident,
    PublicIncidentStatus,
    PublicUpdate,
    UpdateTemplate,
)
from ..reminders import initial_update_reminder_cancel
from ..version import status_version_bump
from .components import check_component_status, record_component_status
from .notify import subscribers_notify_on_commit

P = PublicIncidentStatus

# What an incident update may say; `postmortem` comes only with the published postmortem.
PUBLISHABLE_STATUSES = tuple(status for status in INCIDENT_STATUSES if status != P.POSTMORTEM)
NAME_MAX_LENGTH = PublicIncident._meta.get_field("name").max_length or 200

# Incident status → public status the form preselects (docs/ARCHITECTURE.md, Incident lifecycle).
PUBLIC_STATUS_FOR = {
    IncidentStatus.TRIGGERED: P.INVESTIGATING,
    IncidentStatus.ACKNOWLEDGED: P.INVESTIGATING,
    IncidentStatus.INVESTIGATING: P.INVESTIGATING,
    IncidentStatus.MITIGATED: P.MONITORING,
    IncidentStatus.RESOLVED: P.RESOLVED,
    IncidentStatus.CLOSED: P.RESOLVED,
}
# Suggestions by severity rank (1 = P1): the public impact and the affected components' status.
IMPACT_FOR_RANK = {1: Impact.CRITICAL, 2: Impact.MAJOR, 3: Impact.MINOR}
COMPONENT_STATUS_FOR_RANK = {
    1: ComponentStatus.MAJOR_OUTAGE,
    2: ComponentStatus.PARTIAL_OUTAGE,
    3: ComponentStatus.DEGRADED_PERFORMANCE,
}


class NotPublished(ApplicationError):
    """The incident has no public incident yet."""


def impact_suggested(severity: Severity) -> str:
    """Return the public impact that fits the severity (P1 critical … P4 none)."""
    return IMPACT_FOR_RANK.get(severity.rank, Impact.NONE)


def public_status_suggested(incident: Incident, current: str | None = None) -> str:
    """Return the public status fitting the incident (docs/ARCHITECTURE.md, Incident lifecycle).

    Once a cause was published as identified, an incident still under investigation stays
    identified rather than going back to investigating.
    """
    suggested = PUBLIC_STATUS_FOR[IncidentStatus(incident.status)]
    if suggested == P.INVESTIGATING and current == P.IDENTIFIED:
        return P.IDENTIFIED
    return suggested


def component_status_suggested(incident: Incident) -> str | None:
    """Return the status to suggest for the incident's components; None: suggest no change."""
    if not incident.is_open:
        return ComponentStatus.OPERATIONAL
    return COMPONENT_STATUS_FOR_RANK.get(incident.severity.rank)


def _check_status(status: str) -> None:
    if status not in PUBLISHABLE_STATUSES:
        raise InvalidInputError(
            f"{status!r} is not a public incident status; use one of "
            f"{', '.join(PUBLISHABLE_STATUSES)}.",
            field="status",
        )


def _check_impact(impact: str | None) -> None:
    if impact is not None and impact not in Impact.values:
        raise InvalidInputError(
            f"{impact!r} is not an impact; use one of {', '.join(Impact.values)}.", field="impact"
        )


def _check_components(component_statuses: Mapping[Component, str]) -> None:
    for component, status in component_statuses.items():
        check_component_status(status, field="components")
        if status == ComponentStatus.UNDER_MAINTENANCE:
            raise InvalidInputError(
                f"{component.name}: “under maintenance” is for scheduled maintenance; choose an "
                "operational or outage status for an incident.",
                field="components",
            )


# A runbook text's blanks: "[brief description]", "[ETA or unknown]".
PLACEHOLDER = re.compile(r"\[[^\[\]\n]{1,80}\]")


def _body(body: str) -> str:
    text = body.replace("\r\n", "\n").strip()
    if not text:
        raise InvalidInputError("Write the update for customers first.", field="body")
    return text


def _check_blanks_filled(text: str) -> None:
    """Refuse a text that still has a blank of the runbook's templates in it."""
    found = PLACEHOLDER.findall(text)
    if not found:
        return
    blanks = {
        blank
        for template in UpdateTemplate.objects.values_list("body", flat=True)
        for blank in PLACEHOLDER.findall(template)
    }
    unfilled = list(dict.fromkeys(blank for blank in found if blank in blanks))
    if unfilled:
        raise InvalidInputError(
            f"Replace {', '.join(unfilled)} with what customers should read.", field="body"
        )


def public_update_publish(
    *,
    incident: Incident,
    actor: AnyUser,
    status: str,
    body: str,
    impact: str | None = None,
    name: str | None = None,
    component_statuses: Mapping[Component, str] | None = None,
    deliver_notifications: bool = True,
    source: str = Source.WEB,
) -> PublicUpdate:
    """Publish a public update on the incident, creating its public incident the first time.

    `component_statuses` sets each listed component's status (a component already in that
    status is listed on the update but not changed). Without an impact, the first publish takes
    the one the severity suggests and later ones keep the current impact.
    """
    require(actor, Action.PUBLISH_PUBLIC_UPDATE, incident)
    _check_status(status)
    _check_impact(impact)
    text = _body(body)
    _check_blanks_filled(text)
    components = dict(component_statuses or {})
    _check_components(components)
    title = (name or "").strip()
    if len(title) > NAME_MAX_LENGTH:
        raise InvalidInputError(
            f"Keep the public title under {NAME_MAX_LENGTH} characters.", field="name"
        )
    with transaction.atomic():
        # One publisher at a time per incident: the first publish creates the public incident.
        incident = Incident.objects.select_for_update().get(pk=incident.pk)
        now = timezone.now()
        public = PublicIncident.objects.select_for_update().filter(incident=incident).first()
        if public is None:
            if not title:
                raise InvalidInputError(
                    "Give the public incident a title customers understand (no internal names).",
                    field="name",
                )
            public = PublicIncident.objects.create(
                kind=PublicIncident.Kind.INCIDENT,
                incident=incident,
                name=title,
                status=status,
                impact=impact or impact_suggested(incident.severity),
                started_at=now,
            )
        else:
            if public.kind != PublicIncident.Kind.INCIDENT:
                raise ApplicationError("That public record is a maintenance, not an incident.")
            public.status = status
            if title:
                public.name = title
            if impact is not None:
                public.impact = impact
        if status == P.MONITORING and public.monitoring_at is None:
            public.monitoring_at = now
        if status == P.RESOLVED:
            public.resolved_at = public.resolved_at or now
        else:
            public.resolved_at = None
        public.save()
        update = PublicUpdate.objects.create(
            public_incident=public,
            status=status,
            body=text,
            display_at=now,
            deliver_notifications=deliver_notifications,
            published_by=cast(User, actor),
        )
        _apply_components(update, components, notify=deliver_notifications, at=now)
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.STATUS_UPDATE,
            actor=actor,
            source=source,
            occurred_at=now,
            to_value=status,
            message=f"Published to the status page: {status}\n\n{text}",
            data={"public_update": update.pk, "public_incident": public.public_id},
        )
        status_version_bump()
        initial_update_reminder_cancel(incident=incident)
        if deliver_notifications:
            subscribers_notify_on_commit(event_key=f"update:{update.pk}")
    return update


def _apply_components(
    update: PublicUpdate, components: Mapping[Component, str], *, notify: bool, at: datetime
) -> None:
    """List the components on the update, change the ones whose status moves, keep history."""
    public = update.public_incident
    for component, new_status in components.items():
        old_status = Component.objects.select_for_update().get(pk=component.pk).status
        change = record_component_status(
            component=component, status=new_status, public_incident=public, at=at
        )
        AffectedComponent.objects.create(
            update=update, component=component, old_status=old_status, new_status=new_status
        )
        if change is not None and notify:
            subscribers_notify_on_commit(event_key=f"component:{change.pk}")
    if components:
        public.components.add(*components)


def public_postmortem_publish(
    *,
    incident: Incident,
    actor: AnyUser,
    body: str,
    source: str = Source.WEB,
) -> PublicUpdate:
    """Publish the postmortem summary as the public incident's `postmortem` update."""
    require(actor, Action.PUBLISH_PUBLIC_UPDATE, incident)
    text = _body(body)
    with transaction.atomic():
        public = PublicIncident.objects.select_for_update().filter(incident=incident).first()
        if public is None:
            raise NotPublished(
                f"{incident.reference} was never published on the status page; there is no public "
                "incident to add a postmortem to."
            )
        if public.status not in (P.RESOLVED, P.POSTMORTEM):
            raise ApplicationError(
                "Publish the resolution first: a postmortem follows a resolved public incident."
            )
        now = timezone.now()
        public.status = P.POSTMORTEM
        public.save()
        update = PublicUpdate.objects.create(
            public_incident=public,
            status=P.POSTMORTEM,
            body=text,
            display_at=now,
            published_by=cast(User, actor),
        )
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.STATUS_UPDATE,
            actor=actor,
            source=source,
            occurred_at=now,
            to_value=P.POSTMORTEM,
            message="Published the postmortem on the status page.",
            data={"public_update": update.pk, "public_incident": public.public_id},
        )
        status_version_bump()
        subscribers_notify_on_commit(event_key=f"update:{update.pk}")
    return update
