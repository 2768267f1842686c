"""Runbook flags: a responder says a runbook needs an update; the flag is resolved later."""

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from incidents.models import Incident, Source, TimelineEvent
from incidents.policies import Action, require
from incidents.services import timeline_record
from portal.auth import AnyUser, is_manager, is_staff
from portal.errors import InvalidInputError, PermissionDeniedError

from ..models import Runbook, RunbookFlag

NOTE_MAX_LENGTH = 2000


def runbook_flag(
    *,
    runbook: Runbook,
    incident: Incident,
    actor: AnyUser,
    note: str,
    source: str = Source.WEB,
) -> RunbookFlag:
    """Flag that the runbook needs an update, with a note on the incident's timeline."""
    require(actor, Action.NOTE, incident)
    note = (note or "").strip()
    if not note:
        raise InvalidInputError("Say what is missing or wrong in the runbook.", field="note")
    if len(note) > NOTE_MAX_LENGTH:
        raise InvalidInputError(f"Keep the note under {NOTE_MAX_LENGTH} characters.", field="note")
    with transaction.atomic():
        flag = RunbookFlag.objects.create(
            runbook=runbook,
            incident=incident,
            flagged_by=actor if isinstance(actor, User) else None,
            note=note,
        )
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.NOTE,
            actor=actor,
            source=source,
            occurred_at=timezone.now(),
            message=f"Runbook “{runbook.title}” needs an update: {note}",
            data={"runbook_flag_id": flag.pk, "runbook": runbook.slug},
        )
    return flag


def runbook_flag_resolve(*, flag: RunbookFlag, actor: AnyUser) -> RunbookFlag:
    """Mark the flag resolved (the runbook was updated); resolving twice changes nothing."""
    if not (is_staff(actor) or (actor.is_authenticated and actor.is_active and is_manager(actor))):
        raise PermissionDeniedError("Only managers and staff may resolve runbook flags.")
    if flag.resolved_at is None:
        flag.resolved_at = timezone.now()
        flag.save(update_fields=["resolved_at"])
    return flag
