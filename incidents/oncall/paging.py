"""Engaging people when an incident opens, escalating while nobody acknowledges, and paging.

Every step and every delivery is a timer row (portal.timers):

- `inc-<id>:esc-<generation>.<plan>-<n>` pages escalation step n, after re-checking under the
  incident's row lock that the incident is still triggered (unacknowledged and open);
- `inc-<id>:page-<page id>[-try-<k>]` sends one Page row that was committed before it is sent.

Both kinds run on the `paging` queue, the incident's severity rank as their priority (P1
first). Acknowledging or resolving cancels the pending steps in the same transaction
(`incident_escalation_cancel`), a severity change plans them again (`incident_escalation_replan`)
and a reopening engages again with a new generation of keys.
"""

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from incidents.models import Incident, IncidentStatus, Source, Team, TimelineEvent
from incidents.policies import Action, can, require
from incidents.services import timeline_record
from portal import events
from portal.auth import AnyUser
from portal.backoff import backoff_delay
from portal.errors import ApplicationError, InvalidInputError, PermissionDeniedError
from portal.integrations import page_delivery as delivery
from portal.links import absolute_url
from portal.mail import mail_send, mail_subject
from portal.models import Timer
from portal.people import display_name
from portal.timers import timer_cancel, timer_handler, timer_schedule, timer_wake

from .acks import page_ack_url
from .business_hours import add_business_days, is_business_time, next_business_start
from .channels import DeliveryRefused, page_channel, page_channels_available
from .escalation import (
    PlanTarget,
    escalation_plan,
    notify_targets,
    recipients,
    recipients_with_schedules,
)
from .events import PagesCreated
from .models import ContactMethod, IncidentEngagement, Page
from .reminders import reminders_replan, reminders_start, reminders_stop

logger = logging.getLogger(__name__)

STEP_KIND = "oncall.escalation_step"
DELIVER_KIND = "oncall.page_deliver"
# A page that failed this often is marked failed; its other contact methods still carry it.
PAGE_MAX_ATTEMPTS = 5
RETRY_BASE = timedelta(seconds=15)


def _generation(incident: Incident) -> int:
    """Return how often the incident was reopened: each reopening engages afresh."""
    return incident.timeline.filter(kind=TimelineEvent.Kind.REOPENED).count()


def _escalation_prefix(incident: Incident) -> str:
    return f"inc-{incident.pk}:esc-"


def _addresses(user: User) -> list[tuple[str, str, ContactMethod | None]]:
    """Return (channel, address, method) to reach the person, in their order; email fallback."""
    methods: list[tuple[str, str, ContactMethod | None]] = [
        (method.kind, method.address, method)
        for method in ContactMethod.objects.filter(
            user=user, active=True, kind__in=page_channels_available()
        )
    ]
    if methods:
        return methods
    return [(ContactMethod.Kind.EMAIL, user.email, None)] if user.email else []


def _create_pages(
    *,
    incident: Incident,
    kind: str,
    step: str,
    users: Sequence[User],
    step_number: int | None = None,
    requested_by: AnyUser | None = None,
    schedules: dict[int, int | None] | None = None,
) -> list[Page]:
    """Write one page per person and contact method (once per step) and schedule its sending.

    `schedules` names, per user id, the schedule whose on-call put them here (for the figures
    of pages per rotation).
    """
    pages = []
    schedules = schedules or {}
    for user in users:
        addresses = _addresses(user)
        if not addresses:
            logger.warning("%s: %s has no address to page", incident.reference, user)
        for channel, address, method in addresses:
            page, created = Page.objects.get_or_create(
                incident=incident,
                step=step,
                recipient=user,
                channel=channel,
                address=address,
                defaults={
                    "kind": kind,
                    "step_number": step_number,
                    "schedule_id": schedules.get(user.pk),
                    "contact_method": method,
                    "requested_by": requested_by if isinstance(requested_by, User) else None,
                },
            )
            if created:
                timer_schedule(
                    kind=DELIVER_KIND,
                    key=f"inc-{incident.pk}:page-{page.pk}",
                    due_at=timezone.now(),
                    payload={"page_id": page.pk},
                    priority=incident.severity.rank,
                )
                pages.append(page)
    if pages:
        events.publish(
            PagesCreated(
                incident_id=incident.pk,
                page_ids=[page.pk for page in pages],
                incident=incident,
                pages=pages,
            )
        )
    return pages


def _ticket_due(team: Team | None, at: datetime) -> datetime:
    """Return the end of the team's next business day (a P4 ticket's due date)."""
    if team is None:
        return at + timedelta(days=1)
    zone = ZoneInfo(team.time_zone)
    day = add_business_days(team=team, day=at.astimezone(zone).date(), days=1)
    end: time = team.business_day_end
    return datetime.combine(day, end, tzinfo=zone)


def _email_ticket(incident: Incident, due: datetime) -> None:
    team = incident.team
    if team is None or not team.email:
        logger.info("%s: no team address for the ticket", incident.reference)
        return
    link = absolute_url(f"/incidents/{incident.pk}/")
    local_due = due.astimezone(ZoneInfo(team.time_zone))
    mail_send(
        subject=f"[{incident.severity.code}] {incident.reference} ticket: {incident.title}",
        body=(
            f"{incident.title}\n\nNobody is paged for {incident.severity.code}: "
            f"please pick this up by {local_due:%A %d %B %Y %H:%M %Z}.\n\n{link}\n"
        ),
        to=[team.email],
    )


def _schedule_steps(
    *, incident: Incident, engagement: IncidentEngagement, generation: int, now: datetime
) -> int:
    """Schedule the plan's steps not yet fired; return how many."""
    plan = escalation_plan(team=incident.team, severity=incident.severity)
    engagement.policy_name = plan.name
    start = engagement.escalation_started_at or now
    label = f"{generation}.{engagement.plan_number}"
    scheduled = 0
    for step in plan.steps:
        if engagement.last_step_fired is not None and step.number <= engagement.last_step_fired:
            continue
        timer_schedule(
            kind=STEP_KIND,
            key=f"{_escalation_prefix(incident)}{label}-{step.number}",
            due_at=max(start + step.offset, now),
            payload={
                "incident_id": incident.pk,
                "plan": label,
                "number": step.number,
                "targets": [target.as_payload() for target in step.targets],
            },
            priority=incident.severity.rank,
        )
        scheduled += 1
    return scheduled


def _notify(incident: Incident, generation: int, now: datetime) -> list[Page]:
    users = recipients(
        incident=incident, targets=notify_targets(severity=incident.severity), at=now
    )
    return _create_pages(
        incident=incident, kind=Page.Kind.NOTIFY, step=f"notify-{generation}", users=users
    )


def incident_engage(*, incident_id: int) -> str:
    """Engage people for a newly opened (or reopened) incident per its severity; once each."""
    with transaction.atomic():
        incident = (
            Incident.objects.select_for_update(of=("self",))
            .select_related("severity", "team")
            .filter(pk=incident_id)
            .first()
        )
        if incident is None:
            return "incident gone"
        if not incident.is_open:
            return f"not engaged: {incident.reference} is {incident.status}"
        now = timezone.now()
        generation = _generation(incident)
        engagement, created = IncidentEngagement.objects.get_or_create(
            incident=incident, defaults={"engaged_at": now, "generation": generation}
        )
        if not created and engagement.generation >= generation:
            return "already engaged"
        engagement.generation = generation
        engagement.engaged_at = now
        engagement.last_step_fired = None
        severity = incident.severity
        done = []
        if not severity.pages_oncall and engagement.ticket_due_at is None:
            engagement.ticket_due_at = _ticket_due(incident.team, now)
            _email_ticket(incident, engagement.ticket_due_at)
            done.append("ticket")
        notified = _notify(incident, generation, now)
        if notified:
            done.append(f"notified {len({page.recipient_id for page in notified})}")
        if incident.status == IncidentStatus.TRIGGERED and severity.pages_oncall:
            start = now
            team = incident.team
            if severity.business_hours_only and team and not is_business_time(team=team, at=now):
                start = next_business_start(team=team, at=now)
            engagement.escalation_started_at = start
            steps = _schedule_steps(
                incident=incident, engagement=engagement, generation=generation, now=now
            )
            done.append(f"{steps} escalation steps from {start:%Y-%m-%d %H:%M %Z}")
        engagement.save()
        reminders_start(incident=incident, generation=generation)
    return ", ".join(done) or "nobody to engage"


def incident_escalation_cancel(*, incident: Incident) -> int:
    """Cancel pending escalation steps; start update reminders once acknowledged, stop if closed.

    Call it inside the transaction that acknowledged, started work on, or resolved the incident.
    """
    cancelled = timer_cancel(key_prefix=_escalation_prefix(incident))
    if not incident.is_open:
        reminders_stop(incident=incident)
    elif incident.status != IncidentStatus.TRIGGERED:
        reminders_start(incident=incident, generation=_generation(incident))
    return cancelled


def incident_escalation_replan(*, incident: Incident) -> int:
    """Plan pending escalation steps again for a new severity; tell whom it newly notifies.

    Call it inside the transaction that changed the severity; returns how many steps are pending.
    """
    engagement = IncidentEngagement.objects.select_for_update().filter(incident=incident).first()
    if engagement is None:
        # Not engaged yet: the engagement reads the new severity; it is ranked by it now.
        _engagement_rerank(incident)
        return 0
    generation = _generation(incident)
    now = timezone.now()
    timer_cancel(key_prefix=_escalation_prefix(incident))
    _notify(incident, generation, now)
    reminders_replan(incident=incident, generation=generation)
    engagement.plan_number += 1
    scheduled = 0
    if incident.status == IncidentStatus.TRIGGERED:
        severity = incident.severity
        if engagement.escalation_started_at is None or engagement.last_step_fired is None:
            team = incident.team
            start = now
            if severity.business_hours_only and team and not is_business_time(team=team, at=now):
                start = next_business_start(team=team, at=now)
            engagement.escalation_started_at = start
        scheduled = _schedule_steps(
            incident=incident, engagement=engagement, generation=generation, now=now
        )
    if not incident.severity.pages_oncall and engagement.ticket_due_at is None:
        engagement.ticket_due_at = _ticket_due(incident.team, now)
    engagement.save()
    return scheduled


# The durable subscribers that engage people (incidents/oncall/subscribers.py).
ENGAGE_KINDS = (
    events.DURABLE_PREFIX + "oncall.engage",
    events.DURABLE_PREFIX + "oncall.engage_reopened",
)


def _engagement_rerank(incident: Incident) -> None:
    """Give a pending engagement its incident's new, higher rank, with a wake-up at that rank.

    A P1 alert joining a P3 storm before the storm's engagement ran must not leave that
    engagement queued behind other P3 work.
    """
    rank = incident.severity.rank
    pending = Timer.objects.filter(
        kind__in=ENGAGE_KINDS,
        state=Timer.State.PENDING,
        payload__data__incident_id=incident.pk,
        priority__gt=rank,
    )
    ids = list(pending.values_list("pk", flat=True))
    if ids and Timer.objects.filter(pk__in=ids, state=Timer.State.PENDING).update(priority=rank):
        for timer_id in ids:
            timer_wake(timer_id)


def page_more(
    *,
    incident: Incident,
    actor: AnyUser,
    targets: Sequence[PlanTarget],
    source: str = Source.WEB,
) -> list[Page]:
    """Page more people (users, schedules' on-call, teams' on-call) on the IC's decision."""
    require(actor, Action.ASSIGN_ROLE, incident)
    if not incident.is_open:
        raise ApplicationError(
            f"{incident.reference} is {incident.get_status_display().lower()}; "
            "reopen it before paging anyone."
        )
    if not targets:
        raise InvalidInputError("Choose at least one person, schedule or team.", field="targets")
    now = timezone.now()
    with transaction.atomic():
        found = recipients_with_schedules(incident=incident, targets=tuple(targets), at=now)
        users = [user for user, _ in found]
        if not users:
            raise ApplicationError("Nobody to page: no one is on call there right now.")
        pages = _create_pages(
            incident=incident,
            kind=Page.Kind.MANUAL,
            step=f"more-{uuid.uuid4().hex[:12]}",
            users=users,
            requested_by=actor,
            schedules={user.pk: schedule_id for user, schedule_id in found},
        )
        names = ", ".join(display_name(user) for user in users)
        timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.NOTE,
            actor=actor,
            source=source,
            occurred_at=now,
            message=f"Paged {names}",
            data={"paged": [user.get_username() for user in users]},
        )
    return pages


# --- Timer handlers ------------------------------------------------------------------------------


@timer_handler(STEP_KIND, queue="paging")
def fire_escalation_step(timer: Timer) -> str:
    """Page one escalation step if the incident is still unacknowledged and open."""
    payload = timer.payload
    incident = (
        Incident.objects.select_for_update(of=("self",))
        .select_related("severity", "team")
        .filter(pk=payload["incident_id"])
        .first()
    )
    if incident is None:
        return "incident gone"
    if incident.status != IncidentStatus.TRIGGERED:
        return f"not paged: {incident.reference} is {incident.status}"
    engagement = IncidentEngagement.objects.select_for_update().get(incident=incident)
    if payload["plan"] != f"{_generation(incident)}.{engagement.plan_number}":
        return "not paged: superseded by a newer plan"
    number = payload["number"]
    targets = tuple(PlanTarget.from_payload(t) for t in payload["targets"])
    found = recipients_with_schedules(incident=incident, targets=targets, at=timezone.now())
    users = [user for user, _ in found]
    _create_pages(
        incident=incident,
        kind=Page.Kind.ESCALATION,
        step=f"esc-{payload['plan']}-{number}",
        step_number=number,
        users=users,
        schedules={user.pk: schedule_id for user, schedule_id in found},
    )
    if engagement.last_step_fired is None or number > engagement.last_step_fired:
        engagement.last_step_fired = number
        engagement.save(update_fields=["last_step_fired"])
    if not users:
        logger.warning("%s: escalation step %s found nobody to page", incident.reference, number)
        return f"step {number}: nobody to page"
    return f"step {number}: paged {len(users)}"


def page_message(page: Page) -> delivery.Message:
    """Return what a page says: the incident, why this person hears of it, and the ack link.

    The subject is one line (a title may span lines); the title keeps its lines in the text.
    An FYI page, or one to someone who may not acknowledge, carries no ack link.
    """
    incident = page.incident
    link = absolute_url(f"/incidents/{incident.pk}/")
    ack = page_ack_url(page)
    verb = "FYI" if page.kind == Page.Kind.NOTIFY else "PAGE"
    subject = mail_subject(
        f"[{incident.severity.code}] {verb} {incident.reference}: {incident.title}"
    )
    text = (
        f"{incident.title}\n{incident.severity} · {incident.get_status_display()}\n\n"
        f"Open the incident: {link}\n"
    )
    if ack is not None:
        text += f"Acknowledge (link valid for a limited time, once): {ack}\n"
    return delivery.Message(
        subject=subject,
        text=text,
        ack_url=ack,
        data={
            "incident": incident.reference,
            "incident_url": link,
            "severity": incident.severity.code,
            "title": incident.title,
            "kind": page.kind,
        },
    )


@timer_handler(DELIVER_KIND, queue="paging")
def deliver_page(timer: Timer) -> str:
    """Send one page that is recorded and not yet sent; schedule a retry if sending fails."""
    page = (
        Page.objects.select_for_update(of=("self",))
        .select_related("incident__severity", "recipient", "contact_method")
        .filter(pk=timer.payload["page_id"])
        .first()
    )
    if page is None:
        return "page gone"
    if page.state != Page.State.PENDING:
        return f"already {page.state}"
    incident = page.incident
    if page.kind == Page.Kind.ESCALATION and incident.status != IncidentStatus.TRIGGERED:
        page.state = Page.State.SKIPPED
        page.last_error = f"Not sent: the incident was {incident.status} before sending."
        page.save(update_fields=["state", "last_error"])
        return "skipped: acknowledged before sending"
    message = page_message(page)
    page.attempts += 1
    channel = page_channel(page.channel)
    try:
        if channel is None:
            raise DeliveryRefused(f"no way to send on {page.channel}")
        message_id = channel.send(page, message)
    except delivery.DeliveryError as exc:
        page.last_error = str(exc)[:300]
        if page.attempts >= PAGE_MAX_ATTEMPTS or isinstance(exc, DeliveryRefused):
            page.state = Page.State.FAILED
            page.save(update_fields=["attempts", "last_error", "state"])
            logger.error("%s: page %s failed for good: %s", incident.reference, page.pk, exc)
            return f"failed for good: {exc}"
        page.save(update_fields=["attempts", "last_error"])
        retry_at = timezone.now() + backoff_delay(page.attempts, base=RETRY_BASE)
        timer_schedule(
            kind=DELIVER_KIND,
            key=f"inc-{incident.pk}:page-{page.pk}-try-{page.attempts + 1}",
            due_at=retry_at,
            payload={"page_id": page.pk},
            priority=incident.severity.rank,
        )
        return f"attempt {page.attempts} failed ({exc}); retry at {retry_at:%H:%M:%S}"
    page.state = Page.State.SENT
    page.sent_at = timezone.now()
    page.provider_message_id = message_id[:255]
    page.last_error = ""
    page.save(update_fields=["attempts", "state", "sent_at", "provider_message_id", "last_error"])
    return f"sent {page.channel}"


def page_can_mark(*, page: Page, actor: AnyUser) -> bool:
    """Return whether the actor may say whether a page was actionable (its recipient, the IC)."""
    if not actor.is_authenticated or not actor.is_active:
        return False
    return page.recipient_id == actor.pk or can(actor, Action.ASSIGN_ROLE, page.incident)


def page_mark(
    *,
    page: Page,
    actor: AnyUser,
    actionable: bool | None,
    needed_manual_action: bool | None,
) -> Page:
    """Record whether a page was actionable and needed manual action (for toil metrics).

    None clears an answer. The paged person and the incident's IC (or staff) may answer.
    """
    if not page_can_mark(page=page, actor=actor):
        raise PermissionDeniedError(
            "Only the person paged, or the incident's Incident Commander, can mark this page."
        )
    if actionable is False and needed_manual_action:
        raise InvalidInputError(
            "A page that was not actionable can't have needed manual action.",
            field="needed_manual_action",
        )
    Page.objects.filter(pk=page.pk).update(
        actionable=actionable, needed_manual_action=needed_manual_action
    )
    page.actionable, page.needed_manual_action = actionable, needed_manual_action
    return page
