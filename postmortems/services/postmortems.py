"""Postmortems themselves: creation (by hand or on resolution), the due date, sections, timeline.

A postmortem is one per incident. The incident lifecycle calls `postmortem_incident_resolved`
and `postmortem_incident_reopened` inside its own transaction, on the incident row it holds
locked, so the draft and its due date always match the incident's latest resolution.
"""

from collections.abc import Iterable
from datetime import datetime
from typing import cast
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from incidents.models import Incident, IncidentRole, RoleAssignment
from portal.auth import AnyUser
from portal.errors import ApplicationError, InvalidInputError
from portal.people import display_name
from portal.templatetags.portal_tags import duration

from .. import policies
from ..deadlines import postmortem_due_at
from ..models import Postmortem, PostmortemTimelineRow

__all__ = [
    "EDITABLE_SECTIONS",
    "PostmortemReadOnly",
    "postmortem_author_add",
    "postmortem_create",
    "postmortem_incident_reopened",
    "postmortem_incident_resolved",
    "postmortem_row_update",
    "postmortem_sync_timeline",
    "postmortem_update",
    "summary_prefill",
]

# The blameless template's sections a person writes (Markdown, except the impact figures).
MARKDOWN_SECTIONS = (
    "summary",
    "root_cause",
    "contributing_factors",
    "what_went_well",
    "public_summary",
)
IMPACT_FIGURES = ("users_affected", "requests_failed", "revenue_impact")
EDITABLE_SECTIONS = ("summary", *IMPACT_FIGURES, *MARKDOWN_SECTIONS[1:])
SECTION_MAX_LENGTH = 50_000
ANNOTATION_MAX_LENGTH = 2_000


class PostmortemReadOnly(ApplicationError):
    """The postmortem is published: what it says is final."""

    def __init__(self, postmortem: Postmortem) -> None:
        super().__init__(
            f"The postmortem of {postmortem.incident.reference} is published and read-only.",
            extra={"status": postmortem.status},
        )


def _lock(postmortem: Postmortem) -> Postmortem:
    """Re-read the postmortem under a row lock, so concurrent edits queue up."""
    return (
        # Lock the postmortem row only: the team is an outer join, which PostgreSQL won't lock.
        Postmortem.objects.select_for_update(of=("self",))
        .select_related("incident__team", "incident__peak_severity", "incident__severity")
        .get(pk=postmortem.pk)
    )


def require_not_published(postmortem: Postmortem) -> None:
    """Raise PostmortemReadOnly if the postmortem is published."""
    if postmortem.is_published:
        raise PostmortemReadOnly(postmortem)


def _plan_reminders(postmortem: Postmortem) -> None:
    """Plan the postmortem's reminders now rather than at the next hourly planning."""
    from ..reminders import reminders_plan_postmortem

    reminders_plan_postmortem(postmortem)


def _commander(incident: Incident) -> User | None:
    assignment = (
        RoleAssignment.objects.filter(
            incident=incident, role=IncidentRole.COMMANDER, ended_at__isnull=True
        )
        .select_related("user")
        .first()
    )
    return assignment.user if assignment else None


def _zone(incident: Incident) -> ZoneInfo:
    return ZoneInfo(incident.team.time_zone if incident.team else settings.TIME_ZONE)


def _local(incident: Incident, at: datetime) -> str:
    return at.astimezone(_zone(incident)).strftime("%Y-%m-%d %H:%M %Z")


def summary_prefill(incident: Incident) -> str:
    """Return the Incident Summary block of the runbook's template, filled from the incident."""
    zone = _zone(incident)
    start = incident.impact_started_at
    if incident.resolved_at:
        when = f"{_local(incident, start)} to {_local(incident, incident.resolved_at)} ({zone.key})"
        lasted = duration(incident.resolved_at - start)
    else:
        when = f"{_local(incident, start)}, not resolved yet ({zone.key})"
        lasted = "ongoing"
    severity = f"{incident.peak_severity.code} {incident.peak_severity.name}"
    if incident.peak_severity_id != incident.severity_id:
        severity += f" at its peak (finally {incident.severity.code})"
    services = ", ".join(service.name for service in incident.services.all()) or "none recorded"
    impact = " ".join(incident.impact.split()) or "not described during the incident"
    return "\n".join(
        [
            f"- **Date/Time:** {when}",
            f"- **Duration:** {lasted} (from impact start to resolution)",
            f"- **Severity:** {severity}",
            f"- **Services affected:** {services}",
            f"- **Impact:** {impact}",
        ]
    )


def postmortem_create(
    *, incident: Incident, actor: AnyUser | None, automatic: bool = False
) -> Postmortem:
    """Start the incident's postmortem as a draft; if it has one already, return that one.

    By hand (`automatic=False`) the actor must be a responder, manager or staff and becomes an
    author; automatically (on resolution) the Incident Commander is the author.
    """
    if not automatic:
        if actor is None:
            raise InvalidInputError("Say who starts the postmortem.")
        policies.require_create(actor, incident)
    with transaction.atomic():
        # The incident row serialises creation: one postmortem per incident, even when the
        # resolution and a person's click arrive together.
        incident = (
            Incident.objects.select_for_update(of=("self",))
            .select_related("team", "severity", "peak_severity")
            .get(pk=incident.pk)
        )
        existing = Postmortem.objects.filter(incident=incident).first()
        if existing is not None:
            return existing
        users_affected = (
            f"About {incident.users_affected_pct}% of users (estimated during the incident)"
            if incident.users_affected_pct is not None
            else ""
        )
        postmortem = Postmortem.objects.create(
            incident=incident,
            required=incident.peak_severity.postmortem_required,
            created_automatically=automatic,
            due_at=postmortem_due_at(incident=incident),
            summary=summary_prefill(incident),
            users_affected=users_affected,
        )
        authors = [_commander(incident)]
        if not automatic and actor is not None and actor.is_authenticated:
            authors.append(cast(User, actor))
        postmortem.authors.add(*{author for author in authors if author is not None})
        postmortem_sync_timeline(postmortem=postmortem)
        _plan_reminders(postmortem)
    return postmortem


def postmortem_incident_resolved(*, incident: Incident, actor: AnyUser | None) -> Postmortem | None:
    """Create the required draft, or move an existing postmortem's due date to this resolution.

    Called by the lifecycle inside the resolve transaction. The peak severity decides: a P3
    raised to P1 and lowered back still needs its postmortem.
    """
    existing = Postmortem.objects.filter(incident=incident).first()
    if existing is None:
        if not incident.peak_severity.postmortem_required:
            return None
        return postmortem_create(incident=incident, actor=actor, automatic=True)
    with transaction.atomic():
        postmortem = _lock(existing)
        if postmortem.is_published:
            return postmortem
        postmortem.due_at = postmortem_due_at(incident=incident)
        postmortem.required = postmortem.required or incident.peak_severity.postmortem_required
        postmortem.save(update_fields=["due_at", "required", "updated_at"])
        postmortem_sync_timeline(postmortem=postmortem)
        _plan_reminders(postmortem)
    return postmortem


def postmortem_incident_reopened(*, incident: Incident) -> Postmortem | None:
    """Clear the due date while the incident is open again; the next resolution sets it anew."""
    with transaction.atomic():
        existing = Postmortem.objects.select_for_update().filter(incident=incident).first()
        if existing is None or existing.is_published or existing.due_at is None:
            return existing
        existing.due_at = None
        existing.save(update_fields=["due_at", "updated_at"])
    return existing


def postmortem_sync_timeline(*, postmortem: Postmortem) -> int:
    """Add a row for every incident timeline event the postmortem has no row for yet.

    Rows only point at events: the text always comes from the event itself. A published
    postmortem is final and gains no rows. Return how many rows were added.
    """
    if postmortem.is_published:
        return 0
    have = set(
        PostmortemTimelineRow.objects.filter(postmortem=postmortem).values_list(
            "event_id", flat=True
        )
    )
    missing = [
        event_id
        for event_id in postmortem.incident.timeline.order_by("occurred_at", "id").values_list(
            "id", flat=True
        )
        if event_id not in have
    ]
    if missing:
        # Two page loads may add the same rows at once; the unique constraint keeps one each.
        PostmortemTimelineRow.objects.bulk_create(
            [PostmortemTimelineRow(postmortem=postmortem, event_id=pk) for pk in missing],
            ignore_conflicts=True,
        )
    return len(missing)


def _clean_section(name: str, value: object) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "\n").strip()
    limit = (
        Postmortem._meta.get_field(name).max_length  # type: ignore[union-attr]
        if name in IMPACT_FIGURES
        else SECTION_MAX_LENGTH
    )
    if limit and len(text) > limit:
        label = name.replace("_", " ")
        raise InvalidInputError(f"Keep {label} under {limit} characters.", field=name)
    return text


def postmortem_update(*, postmortem: Postmortem, actor: AnyUser, **changes: object) -> Postmortem:
    """Edit the postmortem's sections; a published postmortem refuses every edit."""
    policies.require_edit(actor, postmortem)
    unknown = set(changes) - set(EDITABLE_SECTIONS)
    if unknown:
        raise InvalidInputError(
            f"{', '.join(sorted(unknown))} can't be edited here.", field=sorted(unknown)[0]
        )
    cleaned = {name: _clean_section(name, value) for name, value in changes.items()}
    with transaction.atomic():
        postmortem = _lock(postmortem)
        require_not_published(postmortem)
        changed = [name for name, value in cleaned.items() if getattr(postmortem, name) != value]
        if not changed:
            return postmortem
        for name in changed:
            setattr(postmortem, name, cleaned[name])
        postmortem.save(update_fields=[*changed, "updated_at"])
    return postmortem


def postmortem_row_update(
    *,
    row: PostmortemTimelineRow,
    actor: AnyUser,
    hidden: bool | None = None,
    annotation: str | None = None,
) -> PostmortemTimelineRow:
    """Hide or show a timeline row, or annotate it; the event's own text never changes."""
    postmortem = row.postmortem
    policies.require_edit(actor, postmortem)
    if annotation is not None:
        annotation = annotation.replace("\r\n", "\n").strip()
        if len(annotation) > ANNOTATION_MAX_LENGTH:
            raise InvalidInputError(
                f"Keep the annotation under {ANNOTATION_MAX_LENGTH} characters.",
                field="annotation",
            )
    with transaction.atomic():
        postmortem = _lock(postmortem)
        require_not_published(postmortem)
        row = PostmortemTimelineRow.objects.select_for_update().get(
            pk=row.pk, postmortem=postmortem
        )
        fields = []
        if hidden is not None and row.hidden != hidden:
            row.hidden = hidden
            fields.append("hidden")
        if annotation is not None and row.annotation != annotation:
            row.annotation = annotation
            fields.append("annotation")
        if fields:
            row.save(update_fields=fields)
    return row


def postmortem_author_add(
    *, postmortem: Postmortem, actor: AnyUser, users: Iterable[User]
) -> Postmortem:
    """Add authors to the postmortem; they may then edit it."""
    policies.require_edit(actor, postmortem)
    people = list(users)
    if not people:
        raise InvalidInputError("Choose who to add as an author.", field="users")
    for person in people:
        if not person.is_active or not policies.can_create_postmortem(person, postmortem.incident):
            raise InvalidInputError(
                f"{display_name(person)} is not a responder or "
                "manager, so can't write a postmortem.",
                field="users",
            )
    given = postmortem
    with transaction.atomic():
        postmortem = _lock(postmortem)
        require_not_published(postmortem)
        postmortem.authors.add(*people)
    # The caller's object remembers who the authors were; it must not keep refusing them.
    policies.forget_authors(given)
    return postmortem
