"""The runbook's "After every incident" checklist: per incident, and counted over a window.

The four items and their rules (shown to people in each item's detail):

- ``action_items``: the incident has action items, and every unfinished one has an owner and
  either a due date or a tracker link (finished ones — done, won't do — are tracked by definition).
- ``runbook``: every runbook flag raised from the incident is resolved; not needed without flags.
- ``alerting``: when time to detect (detected minus impact started) exceeds
  ``settings.FIREBREAK_SLOW_DETECTION_MINUTES``, one of the incident's action items has "alert",
  "detect" or "monitor" in its title (alerting, detection, monitoring …), whatever its status — a
  "won't do" item records the decision not to. Not needed when detection was fast.
- ``review``: when the peak severity requires a postmortem, its review meeting is scheduled; when
  the severity sets ``postmortem_review_within`` (P1: 24 h), it was scheduled within that time of
  the (final) resolution. Not needed when no postmortem is required, unless an optional
  postmortem's meeting is scheduled anyway (then done).

``checklist_summary`` applies the same rules in SQL, in a fixed number of queries, so the
dashboard's query count does not grow with the number of incidents; ``checklist_incidents`` lists
the incidents behind one of its numbers with the very same filters.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final, Literal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet
from django.urls import reverse
from django.utils.http import urlencode

from incidents.models import Incident, IncidentStatus
from incidents.runbooks.models import RunbookFlag
from postmortems.models import ActionItem, Postmortem

if TYPE_CHECKING:
    from .metrics import Window

__all__ = [
    "ALERTING_TITLE_WORDS",
    "CHECKLIST_KEYS",
    "LABELS",
    "RESOLVED_STATUSES",
    "UNFINISHED",
    "ChecklistItem",
    "checklist_incidents",
    "checklist_summary",
    "incident_checklist",
    "slow_detection_threshold",
]

State = Literal["done", "missing", "not_needed"]
DONE: Final = "done"
MISSING: Final = "missing"
NOT_NEEDED: Final = "not_needed"

CHECKLIST_KEYS: Final = ("action_items", "runbook", "alerting", "review")
LABELS: Final = {
    "action_items": "Action items tracked",
    "runbook": "Runbook updated if gaps were found",
    "alerting": "Alerts added or improved if detection was slow",
    "review": "Postmortem review scheduled",
}
# An action item "about alerting" has one of these in its title, in any case: a substring
# match (alert, alerts, alerting, Alertmanager; detect, detection; monitor, monitoring) that
# reads the same in Python and in SQL (icontains) on both databases.
ALERTING_TITLE_WORDS: Final = ("alert", "detect", "monitor")
UNFINISHED: Final = (ActionItem.Status.OPEN, ActionItem.Status.IN_PROGRESS)
# How many offending items a "missing" detail names before it says "and N more".
NAMED_AT_MOST: Final = 3
RESOLVED_STATUSES: Final = (IncidentStatus.RESOLVED, IncidentStatus.CLOSED)


@dataclass(frozen=True)
class ChecklistItem:
    """One line of the after-incident checklist: its state, why, and where to act on it."""

    key: str
    label: str
    state: State
    detail: str
    url: str


def slow_detection_threshold() -> timedelta:
    """Return the time to detect above which detection counts as slow."""
    return timedelta(minutes=float(settings.FIREBREAK_SLOW_DETECTION_MINUTES))


def _minutes(value: timedelta) -> str:
    """Return a duration the way people say it: 40 s, 25 min, 24 h, 2.5 h, 3 days."""
    seconds = value.total_seconds()
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 120 * 60:
        return f"{seconds / 60:.0f} min"
    hours = seconds / 3600
    if hours >= 72:
        return f"{hours / 24:.0f} days"
    return f"{hours:.0f} h" if hours == int(hours) else f"{hours:.1f} h"


def _local(incident: Incident, value: datetime) -> str:
    zone = ZoneInfo(incident.team.time_zone if incident.team else settings.TIME_ZONE)
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def _quoted(titles: list[str]) -> str:
    shown = ", ".join(f"“{title}”" for title in titles[:NAMED_AT_MOST])
    if len(titles) > NAMED_AT_MOST:
        shown += f" and {len(titles) - NAMED_AT_MOST} more"
    return shown


def _is_about_alerting(title: str) -> bool:
    lowered = title.lower()
    return any(word in lowered for word in ALERTING_TITLE_WORDS)


def _new_item_url(incident: Incident, postmortem: Postmortem | None) -> str:
    query = {"postmortem": postmortem.pk} if postmortem else {"incident": incident.pk}
    return f"{reverse('postmortems:action_item_new')}?{urlencode(query)}"


def _item_url(item: ActionItem) -> str:
    return reverse("postmortems:action_item_edit", kwargs={"pk": item.pk})


def _incident_url(incident: Incident, anchor: str) -> str:
    return reverse("incidents:detail", kwargs={"pk": incident.pk}) + f"#{anchor}"


def _action_items_item(
    incident: Incident, items: list[ActionItem], postmortem: Postmortem | None
) -> ChecklistItem:
    key = "action_items"
    if not items:
        return ChecklistItem(
            key,
            LABELS[key],
            MISSING,
            "No action items yet: add the follow-ups, each with an owner and a due date or a "
            "tracker link.",
            _new_item_url(incident, postmortem),
        )
    no_owner = [item for item in items if item.status in UNFINISHED and item.owner_id is None]
    no_date = [
        item
        for item in items
        if item.status in UNFINISHED and item.due_date is None and not item.tracker_url
    ]
    if not no_owner and not no_date:
        count = len(items)
        return ChecklistItem(
            key,
            LABELS[key],
            DONE,
            f"{count} action item{'s' if count != 1 else ''}, each with an owner and a due date "
            "or a tracker link.",
            reverse("postmortems:detail", kwargs={"pk": postmortem.pk})
            if postmortem
            else _item_url(items[0]),
        )
    problems = []
    if no_owner:
        problems.append(f"No owner: {_quoted([item.title for item in no_owner])}")
    if no_date:
        what = (
            "neither a due date nor a tracker link"
            if no_owner
            else "Neither a due date nor a tracker link"
        )
        problems.append(f"{what}: {_quoted([item.title for item in no_date])}")
    first = min(no_owner + no_date, key=lambda item: item.pk)
    return ChecklistItem(key, LABELS[key], MISSING, "; ".join(problems) + ".", _item_url(first))


def _runbook_item(incident: Incident, flags: list[RunbookFlag]) -> ChecklistItem:
    key = "runbook"
    if not flags:
        return ChecklistItem(
            key,
            LABELS[key],
            NOT_NEEDED,
            "No runbook was flagged as needing an update during this incident.",
            "",
        )
    open_flags = [flag for flag in flags if flag.resolved_at is None]
    target = open_flags[0] if open_flags else flags[0]
    url = reverse("incidents:runbook", kwargs={"pk": incident.pk, "slug": target.runbook.slug})
    if not open_flags:
        count = len(flags)
        return ChecklistItem(
            key,
            LABELS[key],
            DONE,
            f"The {count} runbook flag{'s' if count != 1 else ''} raised here "
            f"{'are' if count != 1 else 'is'} resolved.",
            url,
        )
    titles = list(dict.fromkeys(flag.runbook.title for flag in open_flags))
    return ChecklistItem(
        key,
        LABELS[key],
        MISSING,
        f"Flagged and not yet updated: {_quoted(titles)}. Update the runbook, then a manager "
        "marks the flag resolved.",
        url,
    )


def _alerting_item(
    incident: Incident, items: list[ActionItem], postmortem: Postmortem | None
) -> ChecklistItem:
    key = "alerting"
    threshold = slow_detection_threshold()
    took = incident.time_to_detect
    if took <= threshold:
        return ChecklistItem(
            key,
            LABELS[key],
            NOT_NEEDED,
            f"Detected {_minutes(took)} after impact started (slow means over "
            f"{_minutes(threshold)}).",
            "",
        )
    about_alerting = [item for item in items if _is_about_alerting(item.title)]
    if about_alerting:
        return ChecklistItem(
            key,
            LABELS[key],
            DONE,
            f"Detection took {_minutes(took)} (over {_minutes(threshold)}); tracked by "
            f"{_quoted([item.title for item in about_alerting])}.",
            _item_url(about_alerting[0]),
        )
    return ChecklistItem(
        key,
        LABELS[key],
        MISSING,
        f"Detection took {_minutes(took)} (over {_minutes(threshold)}): add an action item whose "
        "title says “alert”, “detect” or “monitor” (alerting, detection, monitoring …).",
        _new_item_url(incident, postmortem),
    )


def _review_item(incident: Incident, postmortem: Postmortem | None) -> ChecklistItem:
    key = "review"
    severity = incident.peak_severity
    required = severity.postmortem_required or bool(postmortem and postmortem.required)
    within = severity.postmortem_review_within
    label = LABELS[key]
    if within is not None and required:
        label = f"{label} (within {_minutes(within)} for {severity.code})"
    scheduled_at = postmortem.review_meeting_scheduled_at if postmortem else None
    if postmortem is None:
        if not required:
            return ChecklistItem(
                key,
                label,
                NOT_NEEDED,
                f"No postmortem is required for {severity.code}.",
                "",
            )
        return ChecklistItem(
            key,
            label,
            MISSING,
            f"A postmortem is required for {severity.code} and none is started: start it, then "
            "schedule its review meeting.",
            _incident_url(incident, "postmortem"),
        )
    url = reverse("postmortems:detail", kwargs={"pk": postmortem.pk}) + "#workflow"
    if scheduled_at is None:
        if not required:
            return ChecklistItem(
                key,
                label,
                NOT_NEEDED,
                f"The postmortem is optional for {severity.code}; no review meeting is scheduled.",
                url,
            )
        deadline = ""
        if within is not None and incident.resolved_at is not None:
            deadline = f" (due within {_minutes(within)} of resolution)"
        return ChecklistItem(
            key,
            label,
            MISSING,
            f"The review meeting is not scheduled{deadline}.",
            url,
        )
    if required and within is not None and incident.resolved_at is not None:
        late_by = scheduled_at - (incident.resolved_at + within)
        if late_by > timedelta(0):
            return ChecklistItem(
                key,
                label,
                MISSING,
                f"Scheduled {_minutes(scheduled_at - incident.resolved_at)} after resolution; "
                f"{severity.code} asks for within {_minutes(within)}.",
                url,
            )
    meeting = postmortem.review_meeting_at
    when = f" for {_local(incident, meeting)}" if meeting is not None else ""
    return ChecklistItem(key, label, DONE, f"The review meeting is scheduled{when}.", url)


def incident_checklist(*, incident: Incident) -> list[ChecklistItem]:
    """Return the after-incident checklist of a resolved or closed incident (else [])."""
    if incident.status not in RESOLVED_STATUSES:
        return []
    items = list(ActionItem.objects.filter(incident=incident).order_by("pk"))
    flags = list(
        RunbookFlag.objects.filter(incident=incident).select_related("runbook").order_by("pk")
    )
    postmortem = Postmortem.objects.filter(incident=incident).first()
    return [
        _action_items_item(incident, items, postmortem),
        _runbook_item(incident, flags),
        _alerting_item(incident, items, postmortem),
        _review_item(incident, postmortem),
    ]


def _resolved_in(window: Window) -> QuerySet[Incident]:
    incidents = Incident.objects.filter(
        status__in=RESOLVED_STATUSES,
        resolved_at__gte=window.start,
        resolved_at__lt=window.end,
    )
    if window.team_id is not None:
        incidents = incidents.filter(team_id=window.team_id)
    if window.service_id is not None:
        # One service: at most one join row per incident, so nothing is counted twice.
        incidents = incidents.filter(services=window.service_id)
    if window.severity_code:
        incidents = incidents.filter(peak_severity__code=window.severity_code)
    return incidents


def _about_alerting_q() -> Q:
    condition = Q()
    for word in ALERTING_TITLE_WORDS:
        condition |= Q(title__icontains=word)
    return condition


def _slow_q(prefix: str = "") -> Q:
    return Q(
        **{f"{prefix}detected_at__gt": F(f"{prefix}impact_started_at") + slow_detection_threshold()}
    )


def _on_time_q() -> Q:
    """Return the filter of postmortems whose review meeting was scheduled in time."""
    return Q(review_meeting_scheduled_at__isnull=False) & (
        Q(incident__peak_severity__postmortem_review_within__isnull=True)
        | Q(
            review_meeting_scheduled_at__lte=F("incident__resolved_at")
            + F("incident__peak_severity__postmortem_review_within")
        )
    )


def _untracked_q() -> Q:
    """Return the filter of unfinished action items without an owner or a date or link."""
    return Q(status__in=UNFINISHED) & (
        Q(owner__isnull=True) | (Q(due_date__isnull=True) & Q(tracker_url=""))
    )


def _checklist_filters() -> dict[str, dict[str, Q]]:
    """Return, per key, the filters of incidents whose item is done and whose item is missing.

    Each fact is `pk IN (uncorrelated subquery)`: PostgreSQL hashes the subquery once, so even
    the ORs stay one pass over the window's incidents instead of a probe per incident per fact.
    (incident_id is NOT NULL in every one of them, so NOT IN means what it says.)
    """

    def incidents_with(model: type[ActionItem | RunbookFlag | Postmortem], condition: Q) -> Q:
        return Q(pk__in=model.objects.filter(condition).values("incident_id"))

    has_items = incidents_with(ActionItem, Q())
    has_untracked = incidents_with(ActionItem, _untracked_q())
    has_alerting_item = incidents_with(ActionItem, _about_alerting_q())
    has_flags = incidents_with(RunbookFlag, Q())
    has_open_flags = incidents_with(RunbookFlag, Q(resolved_at__isnull=True))
    scheduled = incidents_with(Postmortem, Q(review_meeting_scheduled_at__isnull=False))
    on_time = incidents_with(Postmortem, _on_time_q())
    required = Q(peak_severity__postmortem_required=True) | incidents_with(
        Postmortem, Q(required=True)
    )
    slow = _slow_q()
    return {
        "action_items": {
            DONE: has_items & ~has_untracked,
            MISSING: ~has_items | has_untracked,
        },
        "runbook": {DONE: has_flags & ~has_open_flags, MISSING: has_open_flags},
        "alerting": {DONE: slow & has_alerting_item, MISSING: slow & ~has_alerting_item},
        "review": {
            DONE: (required & on_time) | (~required & scheduled),
            MISSING: required & ~on_time,
        },
    }


def checklist_summary(*, window: Window) -> dict[str, tuple[int, int]]:
    """Return, per checklist key, (done, missing) over the incidents resolved in the window."""
    # Four queries whatever the number of incidents: the incidents themselves, then action
    # items, runbook flags and postmortems of those incidents only (an IN semi-join), each
    # grouped per incident in the database. The same rules as _checklist_filters, by counts.
    incidents = _resolved_in(window)
    ids = incidents.values("pk")
    totals = incidents.aggregate(
        total=Count("pk"),
        slow=Count("pk", filter=_slow_q()),
        required_by_severity=Count("pk", filter=Q(peak_severity__postmortem_required=True)),
    )
    items = (
        ActionItem.objects.filter(incident__in=ids)
        .values("incident")
        .annotate(
            untracked=Count("pk", filter=_untracked_q()),
            about_alerting_when_slow=Count(
                "pk", filter=_about_alerting_q() & _slow_q("incident__")
            ),
        )
        .order_by()
        .aggregate(
            tracked=Count("incident", filter=Q(untracked=0)),
            alerting=Count("incident", filter=Q(about_alerting_when_slow__gt=0)),
        )
    )
    flags = (
        RunbookFlag.objects.filter(incident__in=ids)
        .values("incident")
        .annotate(still_open=Count("pk", filter=Q(resolved_at__isnull=True)))
        .order_by()
        .aggregate(
            resolved=Count("incident", filter=Q(still_open=0)),
            unresolved=Count("incident", filter=Q(still_open__gt=0)),
        )
    )
    peak_requires = Q(incident__peak_severity__postmortem_required=True)
    required = peak_requires | Q(required=True)
    scheduled = Q(review_meeting_scheduled_at__isnull=False)
    on_time = _on_time_q()
    reviews = Postmortem.objects.filter(incident__in=ids).aggregate(
        required_on_time=Count("pk", filter=required & on_time),
        optional_scheduled=Count("pk", filter=~required & scheduled),
        required_by_postmortem_only=Count("pk", filter=Q(required=True) & ~peak_requires),
    )
    total, slow = totals["total"], totals["slow"]
    required_total = totals["required_by_severity"] + reviews["required_by_postmortem_only"]
    return {
        "action_items": (items["tracked"], total - items["tracked"]),
        "runbook": (flags["resolved"], flags["unresolved"]),
        "alerting": (items["alerting"], slow - items["alerting"]),
        "review": (
            reviews["required_on_time"] + reviews["optional_scheduled"],
            required_total - reviews["required_on_time"],
        ),
    }


def checklist_incidents(*, window: Window, key: str, state: str) -> QuerySet[Incident]:
    """Return the incidents resolved in the window whose item `key` is `state` (done, missing)."""
    filters = _checklist_filters()
    if key not in filters or state not in (DONE, MISSING):
        raise ValueError(f"No checklist figure {key!r} {state!r}: use done or missing.")
    return _resolved_in(window).filter(filters[key][state])
