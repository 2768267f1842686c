"""Escalation plans: whom an incident pages, in which order, and who those people are now.

A team's policy for the incident's severity wins, then the team's fallback policy (no severity),
then the default built from the severity table: on-call, then the engineering managers (if the
severity notifies them), then the VP (if it notifies the VP), one ack window apart. A severity
with a single step (P3) pages the on-call once more after its ack window.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User

from incidents.models import Incident, Severity, Team
from portal.people import display_name

from .models import EscalationPolicy, EscalationStep, Schedule
from .selectors import oncall_at

T = EscalationStep.Target
# Used where a severity pages but names no ack window.
DEFAULT_ACK_WINDOW = timedelta(minutes=5)


@dataclass(frozen=True)
class PlanTarget:
    """Whom one step pages: a kind of target and, where it needs one, which schedule/user/team."""

    kind: str
    schedule_id: int | None = None
    user_id: int | None = None
    team_id: int | None = None

    def as_payload(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "schedule_id": self.schedule_id,
            "user_id": self.user_id,
            "team_id": self.team_id,
        }

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> "PlanTarget":
        return cls(
            kind=data["kind"],
            schedule_id=data.get("schedule_id"),
            user_id=data.get("user_id"),
            team_id=data.get("team_id"),
        )


@dataclass(frozen=True)
class PlannedStep:
    number: int
    offset: timedelta  # from the start of the escalation
    targets: tuple[PlanTarget, ...]


@dataclass(frozen=True)
class Plan:
    name: str
    steps: tuple[PlannedStep, ...]


def default_plan(*, severity: Severity) -> Plan:
    """Return the severity table's escalation: on-call → EMs → VP, one ack window apart."""
    if not severity.pages_oncall:
        return Plan(name=f"No paging for {severity.code}", steps=())
    window = severity.ack_timeout or DEFAULT_ACK_WINDOW
    targets = [PlanTarget(T.TEAM_ONCALL)]
    if severity.notifies_engineering_manager:
        targets.append(PlanTarget(T.ENGINEERING_MANAGERS))
    if severity.notifies_vp:
        targets.append(PlanTarget(T.ESCALATION_CONTACT))
    if len(targets) == 1:
        targets.append(PlanTarget(T.TEAM_ONCALL))  # nobody above: page the on-call once more
    steps = tuple(
        PlannedStep(number=n, offset=window * n, targets=(target,))
        for n, target in enumerate(targets)
    )
    return Plan(name=f"Default for {severity.code}", steps=steps)


def policy_for(*, team: Team, severity: Severity) -> EscalationPolicy | None:
    """Return the team's policy for the severity, else its fallback policy, else None."""
    policies = {
        p.severity_id: p
        for p in EscalationPolicy.objects.filter(team=team).prefetch_related("steps")
    }
    return policies.get(severity.pk) or policies.get(None)


def policy_plan(policy: EscalationPolicy) -> Plan:
    """Flatten a policy's steps and repeats into numbered steps with offsets."""
    steps: list[PlannedStep] = []
    offset = timedelta(0)
    rows = list(policy.steps.all())
    for cycle in range(policy.repeat_count + 1):
        for index, row in enumerate(rows):
            if cycle and index == 0:
                offset += timedelta(minutes=policy.repeat_after_minutes)
            else:
                offset += timedelta(minutes=row.delay_minutes)
            target = PlanTarget(row.target, schedule_id=row.schedule_id, user_id=row.user_id)
            steps.append(PlannedStep(number=len(steps), offset=offset, targets=(target,)))
    return Plan(name=policy.name, steps=tuple(steps))


def escalation_plan(*, team: Team | None, severity: Severity) -> Plan:
    """Return the escalation an unacknowledged incident of this team and severity follows."""
    if not severity.pages_oncall:
        return Plan(name=f"No paging for {severity.code}", steps=())
    policy = policy_for(team=team, severity=severity) if team is not None else None
    return policy_plan(policy) if policy is not None else default_plan(severity=severity)


def notify_targets(*, severity: Severity) -> tuple[PlanTarget, ...]:
    """Return whom the severity tells at once, besides paging: the EMs and/or the VP."""
    targets: list[PlanTarget] = []
    if severity.notifies_engineering_manager:
        targets.append(PlanTarget(T.ENGINEERING_MANAGERS))
    if severity.notifies_vp:
        targets.append(PlanTarget(T.ESCALATION_CONTACT))
    return tuple(targets)


# Someone a target means, with the schedule they are on call in when that is why (the on-call
# health figures count pages per rotation).
Recipient = tuple[User, int | None]


def _team_oncall(team: Team, at: datetime) -> list[Recipient]:
    found: list[Recipient] = []
    for schedule in Schedule.objects.filter(team=team):
        user = oncall_at(schedule=schedule, at=at)
        if user is not None:
            found.append((user, schedule.pk))
    return found


def target_recipients(*, incident: Incident, target: PlanTarget, at: datetime) -> list[Recipient]:
    """Return who the target means at the instant, each with the schedule that put them there."""
    team = incident.team
    if target.kind == T.USER:
        return [
            (user, None) for user in User.objects.filter(pk=target.user_id or 0, is_active=True)
        ]
    if target.kind == T.SCHEDULE:
        schedule = Schedule.objects.filter(pk=target.schedule_id or 0).first()
        user = oncall_at(schedule=schedule, at=at) if schedule else None
        return [(user, schedule.pk)] if user and schedule else []
    if target.kind == T.TEAM_ONCALL:
        if target.team_id is not None:
            team = Team.objects.filter(pk=target.team_id or 0).first()
        if team is None:
            return []
        # Nobody on call must not mean nobody paged: the team's managers stand in.
        return _team_oncall(team, at) or [
            (user, None) for user in team.engineering_managers.filter(is_active=True)
        ]
    if team is None:
        return []
    if target.kind == T.ENGINEERING_MANAGERS:
        return [
            (user, None) for user in team.engineering_managers.filter(is_active=True).order_by("pk")
        ]
    if target.kind == T.ESCALATION_CONTACT:
        contact = team.escalation_contact
        return [(contact, None)] if contact is not None and contact.is_active else []
    raise ValueError(f"Unknown escalation target {target.kind!r}.")


def recipients_with_schedules(
    *, incident: Incident, targets: tuple[PlanTarget, ...], at: datetime
) -> list[Recipient]:
    """Return the distinct people the targets mean, in target order, with their schedule."""
    seen: dict[int, Recipient] = {}
    for target in targets:
        for user, schedule_id in target_recipients(incident=incident, target=target, at=at):
            seen.setdefault(user.pk, (user, schedule_id))
    return list(seen.values())


def recipients(*, incident: Incident, targets: tuple[PlanTarget, ...], at: datetime) -> list[User]:
    """Return the distinct people the targets mean at the instant, in target order."""
    return [
        user for user, _ in recipients_with_schedules(incident=incident, targets=targets, at=at)
    ]


def describe_target(target: PlanTarget) -> str:
    """Return a short text for a target, for the incident page."""
    if target.kind == T.USER:
        user = User.objects.filter(pk=target.user_id or 0).first()
        return display_name(user, fallback="a former user")
    if target.kind == T.SCHEDULE:
        schedule = Schedule.objects.filter(pk=target.schedule_id or 0).first()
        return f"on-call of {schedule}" if schedule else "a deleted schedule"
    if target.kind == T.TEAM_ONCALL and target.team_id is not None:
        team = Team.objects.filter(pk=target.team_id or 0).first()
        return f"on-call of {team}" if team else "a deleted team"
    names: dict[str, str] = {
        T.TEAM_ONCALL: "on-call",
        T.ENGINEERING_MANAGERS: "engineering managers",
        T.ESCALATION_CONTACT: "VP / escalation contact",
    }
    return names.get(target.kind, target.kind)


def page_targets(
    *, users: Iterable[Any] = (), schedules: Iterable[Any] = (), teams: Iterable[Any] = ()
) -> list[PlanTarget]:
    """Return the targets that page these people and the on-call of these schedules and teams."""
    return [
        *(PlanTarget(EscalationStep.Target.USER, user_id=user.pk) for user in users),
        *(PlanTarget(EscalationStep.Target.SCHEDULE, schedule_id=s.pk) for s in schedules),
        *(PlanTarget(EscalationStep.Target.TEAM_ONCALL, team_id=team.pk) for team in teams),
    ]
