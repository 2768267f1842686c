"""Internal status updates in the runbook's template."""

from datetime import datetime
from typing import cast

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from portal.auth import AnyUser
from portal.errors import InvalidInputError

from ..models import Incident, Source, StatusUpdate, TimelineEvent, UpdateStatus
from ..policies import Action, require
from .lifecycle import TransitionNotAllowed, incident_resolve
from .timeline import timeline_record


def status_update_post(
    *,
    incident: Incident,
    actor: AnyUser,
    status: str,
    impact: str,
    last_action: str,
    next_action: str,
    eta: str = "unknown",
    resolve: bool = False,
    source: str = Source.WEB,
    at: datetime | None = None,
) -> StatusUpdate:
    """Post a status update; with `resolve`, a RESOLVED update also resolves the incident.

    The update and the resolution commit together or not at all.
    """
    require(actor, Action.STATUS_UPDATE, incident)
    fields = {"impact": impact, "last_action": last_action, "next_action": next_action}
    cleaned = {name: value.strip() for name, value in fields.items()}
    for name, value in cleaned.items():
        if not value:
            raise InvalidInputError(f"Fill in {name.replace('_', ' ').capitalize()}.", field=name)
    if status not in UpdateStatus.values:
        raise InvalidInputError(
            f"Status must be one of {', '.join(UpdateStatus.values)}.", field="status"
        )
    if resolve and status != UpdateStatus.RESOLVED:
        raise InvalidInputError(
            "Only an update whose Status is RESOLVED can resolve the incident.", field="resolve"
        )
    if incident.status == "closed":
        raise TransitionNotAllowed(
            f"{incident.reference} is closed; post no more updates.", incident=incident
        )
    at = at or timezone.now()
    with transaction.atomic():
        update = StatusUpdate.objects.create(
            incident=incident,
            status=status,
            eta=eta.strip() or "unknown",
            author=cast(User, actor),
            source=source,
            posted_at=at,
            **cleaned,
        )
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.STATUS_UPDATE,
            actor=actor,
            source=source,
            occurred_at=at,
            to_value=status,
            message=update.as_text(),
            data={"status_update": update.pk},
        )
        if resolve:
            incident_resolve(
                incident=incident,
                actor=actor,
                source=source,
                at=at,
                message="Resolved with the status update.",
            )
    return update
