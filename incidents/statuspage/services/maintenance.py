"""Scheduled maintenance: announced ahead, started and completed on time by itself.

While a maintenance is in progress its components are `under_maintenance`; when it completes,
each goes back to the status it had before, unless someone changed it meanwhile. The automatic
moves are timers (see `incidents.statuspage.maintenance`); people move it by hand with the same
services (verifying, an early completion, a new time).
"""

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from portal.auth import AnyUser
from portal.errors import ApplicationError, InvalidInputError
from portal.timers import timer_cancel, timer_schedule

from ..models import (
    MAINTENANCE_STATUSES,
    AffectedComponent,
    Component,
    ComponentStatus,
    ComponentStatusChange,
    Impact,
    PublicIncident,
    PublicIncidentStatus,
    PublicUpdate,
)
from ..selectors import page_settings_get
from ..version import status_version_bump
from .access import require_status_page_editor
from .components import record_component_status
from .notify import subscribers_notify_on_commit

P = PublicIncidentStatus

MAINTENANCE_START = "statuspage.maintenance_start"
MAINTENANCE_COMPLETE = "statuspage.maintenance_complete"
MAINTENANCE_REMINDER = "statuspage.maintenance_reminder"

ALLOWED_MAINTENANCE_TRANSITIONS: dict[str, frozenset[str]] = {
    # From scheduled straight to completed: the maintenance is called off.
    P.SCHEDULED: frozenset({P.IN_PROGRESS, P.COMPLETED}),
    P.IN_PROGRESS: frozenset({P.VERIFYING, P.COMPLETED}),
    P.VERIFYING: frozenset({P.IN_PROGRESS, P.COMPLETED}),
    P.COMPLETED: frozenset(),
}
# Statuspage's own wording for the updates it writes by itself.
AUTOMATIC_TEXT: dict[str, str] = {
    P.IN_PROGRESS: "Scheduled maintenance is currently in progress. "
    "We will provide updates as necessary.",
    P.VERIFYING: "Verification is currently underway for the maintenance items.",
    P.COMPLETED: "The scheduled maintenance has been completed.",
}
CANCELLED_TEXT = "The scheduled maintenance has been cancelled."
NAME_MAX_LENGTH = 200


class MaintenanceTransitionNotAllowed(ApplicationError):
    """The maintenance's current status does not allow the requested move."""


def _timer_prefix(maintenance: PublicIncident) -> str:
    return f"maint-{maintenance.pk}:"


def maintenance_window_check(
    scheduled_for: datetime, scheduled_until: datetime, now: datetime | None = None
) -> None:
    """Raise InvalidInputError unless the window is aware, ends after it starts, and is ahead."""
    now = now or timezone.now()
    if timezone.is_naive(scheduled_for) or timezone.is_naive(scheduled_until):
        raise InvalidInputError(
            "Give the maintenance window with a time zone.", field="scheduled_for"
        )
    if scheduled_until <= scheduled_for:
        raise InvalidInputError(
            "The maintenance must end after it starts.", field="scheduled_until"
        )
    if scheduled_until <= now:
        raise InvalidInputError(
            "That window is over already; choose an end in the future.", field="scheduled_until"
        )


def _text(body: str) -> str:
    return body.replace("\r\n", "\n").strip()


def _window_text(scheduled_for: datetime, scheduled_until: datetime) -> str:
    zone = ZoneInfo(page_settings_get().time_zone)
    start = scheduled_for.astimezone(zone)
    end = scheduled_until.astimezone(zone)
    end_format = "%H:%M %Z" if end.date() == start.date() else "%Y-%m-%d %H:%M %Z"
    return f"{start:%Y-%m-%d %H:%M} to {end.strftime(end_format)}"


def _schedule_timers(maintenance: PublicIncident, now: datetime) -> None:
    """Replace the maintenance's pending timers with ones for its current window and status.

    Each timer gets a fresh key, so a window moved back to an earlier time is scheduled again;
    the handlers also compare the window in the payload with the maintenance's current one.
    """
    timer_cancel(key_prefix=_timer_prefix(maintenance))
    if maintenance.status == P.COMPLETED:
        return
    assert maintenance.scheduled_for is not None and maintenance.scheduled_until is not None
    payload = {
        "maintenance_id": maintenance.pk,
        "scheduled_for": maintenance.scheduled_for.isoformat(),
        "scheduled_until": maintenance.scheduled_until.isoformat(),
    }
    nonce = secrets.token_hex(4)
    prefix = _timer_prefix(maintenance)
    if maintenance.status == P.SCHEDULED:
        before = maintenance.remind_subscribers_before
        if before and maintenance.scheduled_for - before > now:
            timer_schedule(
                kind=MAINTENANCE_REMINDER,
                key=f"{prefix}remind-{nonce}",
                due_at=maintenance.scheduled_for - before,
                payload=payload,
            )
        if maintenance.auto_transition:
            timer_schedule(
                kind=MAINTENANCE_START,
                key=f"{prefix}start-{nonce}",
                due_at=maintenance.scheduled_for,
                payload=payload,
            )
    if maintenance.auto_transition:
        timer_schedule(
            kind=MAINTENANCE_COMPLETE,
            key=f"{prefix}complete-{nonce}",
            due_at=maintenance.scheduled_until,
            payload=payload,
        )


def maintenance_schedule(
    *,
    name: str,
    body: str,
    scheduled_for: datetime,
    scheduled_until: datetime,
    components: Iterable[Component],
    actor: AnyUser,
    auto_transition: bool = True,
    remind_subscribers_before: timedelta | None = timedelta(hours=1),
    deliver_notifications: bool = True,
) -> PublicIncident:
    """Announce a maintenance window; with `auto_transition` it starts and completes on time."""
    require_status_page_editor(actor, what="schedule maintenance")
    title = name.strip()
    if not title:
        raise InvalidInputError("Give the maintenance a title customers understand.", field="name")
    if len(title) > NAME_MAX_LENGTH:
        raise InvalidInputError(f"Keep the title under {NAME_MAX_LENGTH} characters.", field="name")
    text = _text(body)
    if not text:
        raise InvalidInputError(
            "Say what the maintenance does and what customers notice.", field="body"
        )
    now = timezone.now()
    maintenance_window_check(scheduled_for, scheduled_until, now)
    if remind_subscribers_before is not None and remind_subscribers_before <= timedelta(0):
        raise InvalidInputError(
            "Remind subscribers some time before the start, or not at all.",
            field="remind_subscribers_before",
        )
    component_list = list(components)
    with transaction.atomic():
        maintenance = PublicIncident.objects.create(
            kind=PublicIncident.Kind.MAINTENANCE,
            name=title,
            status=P.SCHEDULED,
            impact=Impact.NONE,
            # Where it sits in the history: when it is planned, not when it was announced.
            started_at=scheduled_for,
            scheduled_for=scheduled_for,
            scheduled_until=scheduled_until,
            auto_transition=auto_transition,
            remind_subscribers_before=remind_subscribers_before,
        )
        maintenance.components.set(component_list)
        update = PublicUpdate.objects.create(
            public_incident=maintenance,
            status=P.SCHEDULED,
            body=text,
            display_at=now,
            deliver_notifications=deliver_notifications,
            published_by=cast(User, actor) if actor is not None else None,
        )
        _schedule_timers(maintenance, now)
        status_version_bump()
        if deliver_notifications:
            subscribers_notify_on_commit(event_key=f"update:{update.pk}")
    return maintenance


def _lock(maintenance: PublicIncident) -> PublicIncident:
    locked = PublicIncident.objects.select_for_update().get(pk=maintenance.pk)
    if locked.kind != PublicIncident.Kind.MAINTENANCE:
        raise ApplicationError(f"“{locked.name}” is an incident, not a maintenance.")
    return locked


def _start_components(maintenance: PublicIncident, now: datetime) -> list[ComponentStatusChange]:
    changes = []
    for component in maintenance.components.all():
        change = record_component_status(
            component=component,
            status=ComponentStatus.UNDER_MAINTENANCE,
            public_incident=maintenance,
            at=now,
        )
        if change is not None:
            changes.append(change)
    return changes


def _restore_components(maintenance: PublicIncident, now: datetime) -> list[ComponentStatusChange]:
    """Put each component back to its status before the maintenance, if nobody changed it since."""
    changes = []
    for component in maintenance.components.all():
        ours = (
            ComponentStatusChange.objects.filter(
                component=component,
                public_incident=maintenance,
                new_status=ComponentStatus.UNDER_MAINTENANCE,
            )
            .order_by("-changed_at", "-id")
            .first()
        )
        if ours is None:
            continue  # it was under maintenance already: whoever put it there takes it back
        latest = (
            ComponentStatusChange.objects.filter(component=component)
            .order_by("-changed_at", "-id")
            .first()
        )
        if latest is None or latest.pk != ours.pk:
            continue  # changed by someone since the maintenance started: theirs stands
        change = record_component_status(
            component=component,
            status=ours.old_status or ComponentStatus.OPERATIONAL,
            public_incident=maintenance,
            at=now,
        )
        if change is not None:
            changes.append(change)
    return changes


def maintenance_transition(
    *,
    maintenance: PublicIncident,
    status: str,
    actor: AnyUser | None,
    body: str = "",
    deliver_notifications: bool = True,
) -> PublicUpdate | None:
    """Move a maintenance to `status` with a public update; the status it has changes nothing.

    With no actor, the system moves it on time. Without a body, Statuspage's usual text is used.
    """
    require_status_page_editor(actor, what="change maintenance")
    if status not in MAINTENANCE_STATUSES:
        raise InvalidInputError(
            f"{status!r} is not a maintenance status; use one of "
            f"{', '.join(MAINTENANCE_STATUSES)}.",
            field="status",
        )
    with transaction.atomic():
        maintenance = _lock(maintenance)
        if maintenance.status == status:
            return None
        if status not in ALLOWED_MAINTENANCE_TRANSITIONS[maintenance.status]:
            raise MaintenanceTransitionNotAllowed(
                f"The maintenance is {maintenance.get_status_display().lower()}; it can't move to "
                f"{P(status).label.lower()} from there.",
                extra={"status": maintenance.status, "requested": status},
            )
        now = timezone.now()
        cancelled = maintenance.status == P.SCHEDULED and status == P.COMPLETED
        text = _text(body) or (CANCELLED_TEXT if cancelled else AUTOMATIC_TEXT[status])
        changes: list[ComponentStatusChange] = []
        if maintenance.status == P.SCHEDULED and status == P.IN_PROGRESS:
            maintenance.started_at = now
            changes = _start_components(maintenance, now)
        elif status == P.VERIFYING:
            maintenance.monitoring_at = maintenance.monitoring_at or now
        elif status == P.COMPLETED:
            maintenance.resolved_at = now
            if not cancelled:
                changes = _restore_components(maintenance, now)
        maintenance.status = status
        maintenance.save()
        update = _update(maintenance, status, text, actor, deliver_notifications, now, changes)
        if status == P.COMPLETED:
            timer_cancel(key_prefix=_timer_prefix(maintenance))
        status_version_bump()
    return update


def _update(
    maintenance: PublicIncident,
    status: str,
    text: str,
    actor: AnyUser | None,
    deliver_notifications: bool,
    now: datetime,
    changes: list[ComponentStatusChange],
) -> PublicUpdate:
    update = PublicUpdate.objects.create(
        public_incident=maintenance,
        status=status,
        body=text,
        display_at=now,
        deliver_notifications=deliver_notifications,
        published_by=cast(User, actor) if actor is not None else None,
    )
    AffectedComponent.objects.bulk_create(
        AffectedComponent(
            update=update,
            component_id=change.component_id,
            old_status=change.old_status,
            new_status=change.new_status,
        )
        for change in changes
    )
    if deliver_notifications:
        for change in changes:
            subscribers_notify_on_commit(event_key=f"component:{change.pk}")
        subscribers_notify_on_commit(event_key=f"update:{update.pk}")
    return update


def maintenance_update(
    *,
    maintenance: PublicIncident,
    actor: AnyUser,
    body: str,
    status: str | None = None,
    deliver_notifications: bool = True,
) -> PublicUpdate:
    """Post a public update on a maintenance, moving it to `status` when one is given."""
    require_status_page_editor(actor, what="update maintenance")
    text = _text(body)
    if not text:
        raise InvalidInputError("Write the update for customers first.", field="body")
    with transaction.atomic():
        locked = _lock(maintenance)
        if status is not None and status != locked.status:
            update = maintenance_transition(
                maintenance=locked,
                status=status,
                actor=actor,
                body=text,
                deliver_notifications=deliver_notifications,
            )
            assert update is not None
            return update
        now = timezone.now()
        locked.save(update_fields=["updated_at"])
        update = _update(locked, locked.status, text, actor, deliver_notifications, now, [])
        status_version_bump()
    return update


def maintenance_reschedule(
    *,
    maintenance: PublicIncident,
    actor: AnyUser,
    scheduled_for: datetime,
    scheduled_until: datetime,
    body: str = "",
    deliver_notifications: bool = True,
) -> PublicUpdate:
    """Move the maintenance window (only its end once it started) and re-plan its timers."""
    require_status_page_editor(actor, what="reschedule maintenance")
    now = timezone.now()
    maintenance_window_check(scheduled_for, scheduled_until, now)
    with transaction.atomic():
        maintenance = _lock(maintenance)
        if maintenance.status == P.COMPLETED:
            raise MaintenanceTransitionNotAllowed(
                "The maintenance is completed; schedule a new one instead."
            )
        if maintenance.status != P.SCHEDULED and scheduled_for != maintenance.scheduled_for:
            raise InvalidInputError(
                "The maintenance has started; only its end can move now.", field="scheduled_for"
            )
        maintenance.scheduled_for = scheduled_for
        maintenance.scheduled_until = scheduled_until
        if maintenance.status == P.SCHEDULED:
            maintenance.started_at = scheduled_for
        maintenance.save()
        text = _text(body) or (
            "The maintenance window has changed: it is now "
            f"{_window_text(scheduled_for, scheduled_until)}."
        )
        update = _update(
            maintenance, maintenance.status, text, actor, deliver_notifications, now, []
        )
        _schedule_timers(maintenance, now)
        status_version_bump()
    return update
