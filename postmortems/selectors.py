"""Reads of postmortems: lists, one postmortem's page data, overdue, the close rule."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.utils import timezone

from incidents.models import Incident, TimelineEvent
from portal.auth import GROUPS
from portal.people import display_name

from .models import ActionItem, Postmortem, PostmortemTimelineRow, Review

S = Postmortem.Status

# Events whose message already says what happened; the others read "Kind: message".
SELF_DESCRIBING_KINDS = frozenset(
    {
        TimelineEvent.Kind.DECLARED,
        TimelineEvent.Kind.TRIGGERED,
        TimelineEvent.Kind.ACKNOWLEDGED,
        TimelineEvent.Kind.SEVERITY_CHANGED,
        TimelineEvent.Kind.ROLE_ASSIGNED,
        TimelineEvent.Kind.ROLE_RELEASED,
        TimelineEvent.Kind.DETAILS_CHANGED,
    }
)


def postmortem_get(*, pk: int) -> Postmortem:
    """Return one postmortem with what its page needs, or raise Postmortem.DoesNotExist."""
    return (
        Postmortem.objects.select_related(
            "incident__team", "incident__severity", "incident__peak_severity", "published_by"
        )
        .prefetch_related("authors", "review_meeting_attendees", "incident__services")
        .get(pk=pk)
    )


def postmortem_for_incident(*, incident: Incident) -> Postmortem | None:
    """Return the incident's postmortem, if it has one."""
    return (
        Postmortem.objects.select_related("incident__peak_severity")
        .filter(incident=incident)
        .first()
    )


def overdue_condition(now: datetime) -> Q:
    """Return the filter of overdue postmortems: past their due time and not published."""
    return Q(due_at__lt=now) & ~Q(status=S.PUBLISHED)


def postmortem_is_overdue(postmortem: Postmortem, *, now: datetime | None = None) -> bool:
    """Return whether the postmortem is past its due time and not published."""
    if postmortem.is_published or postmortem.due_at is None:
        return False
    return (now or timezone.now()) > postmortem.due_at


def postmortem_list(
    *, status: str | None = None, overdue: bool = False, now: datetime | None = None
) -> QuerySet[Postmortem]:
    """Return postmortems, soonest due first (undated last), filtered by status and overdue."""
    qs = Postmortem.objects.select_related(
        "incident__peak_severity", "incident__team", "published_by"
    ).prefetch_related("authors")
    if status:
        qs = qs.filter(status=status)
    if overdue:
        qs = qs.filter(overdue_condition(now or timezone.now()))
    return qs.order_by("status", "due_at", "-created_at")


@dataclass(frozen=True)
class TimelineRow:
    """A postmortem timeline row as shown: Time | Event | Who, with its hide flag and note."""

    row: PostmortemTimelineRow
    event: TimelineEvent
    occurred_at: datetime
    text: str
    who: str
    hidden: bool
    annotation: str


def timeline_event_text(event: TimelineEvent) -> str:
    """Return what the event says, read from the event itself (rows never hold a copy)."""
    label = event.get_kind_display()
    message = " ".join(event.message.split())
    if not message:
        return label
    if event.kind in SELF_DESCRIBING_KINDS:
        return message
    return f"{label}: {message}"


def timeline_event_who(event: TimelineEvent) -> str:
    """Return who acted: the person's name, else where it came from (an alert, the system)."""
    if event.actor is not None:
        return display_name(event.actor)
    return event.get_source_display()


def postmortem_timeline(
    *, postmortem: Postmortem, include_hidden: bool = True
) -> list[TimelineRow]:
    """Return the postmortem's timeline rows in event order."""
    rows = PostmortemTimelineRow.objects.filter(postmortem=postmortem).select_related(
        "event__actor"
    )
    if not include_hidden:
        rows = rows.filter(hidden=False)
    return [
        TimelineRow(
            row=row,
            event=row.event,
            occurred_at=row.event.occurred_at,
            text=timeline_event_text(row.event),
            who=timeline_event_who(row.event),
            hidden=row.hidden,
            annotation=row.annotation,
        )
        for row in rows.order_by("event__occurred_at", "event_id")
    ]


def postmortem_reviews(*, postmortem: Postmortem) -> QuerySet[Review]:
    """Return the postmortem's reviews, in the order they were asked for."""
    return postmortem.reviews.select_related("reviewer").order_by("requested_at", "id")


def postmortem_action_items(*, postmortem: Postmortem) -> QuerySet[ActionItem]:
    """Return the incident's action items (those of the postmortem and of the incident)."""
    return ActionItem.objects.filter(
        Q(postmortem=postmortem) | Q(incident_id=postmortem.incident_id)
    ).select_related("owner")


def review_meeting_deadline(postmortem: Postmortem) -> datetime | None:
    """Return by when the review meeting must be scheduled (P1: 24 h after resolution)."""
    incident = postmortem.incident
    within: timedelta | None = incident.peak_severity.postmortem_review_within
    if within is None or incident.resolved_at is None:
        return None
    return incident.resolved_at + within


def review_meeting_late(postmortem: Postmortem, *, now: datetime | None = None) -> bool:
    """Return whether the review meeting should have been scheduled by now and isn't."""
    deadline = review_meeting_deadline(postmortem)
    if deadline is None or postmortem.review_meeting_scheduled_at is not None:
        return False
    return not postmortem.is_published and (now or timezone.now()) > deadline


def people_choices() -> QuerySet[User]:
    """Return active people who may read the portal: reviewers, attendees."""
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(groups__name__in=GROUPS) | Q(is_staff=True) | Q(is_superuser=True))
        .distinct()
        .order_by("username")
    )


def author_choices() -> QuerySet[User]:
    """Return active people who may write a postmortem (responders, managers, staff)."""
    return (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(
            Q(groups__name__in=["responders", "managers"]) | Q(is_staff=True) | Q(is_superuser=True)
        )
        .distinct()
        .order_by("username")
    )


def postmortem_close_blocker(*, incident: Incident) -> str:
    """Return why the incident can't be closed for its postmortem, or "" when it can.

    Closing needs no postmortem unless the peak severity requires one; a required postmortem
    must exist and be published.
    """
    if not incident.peak_severity.postmortem_required:
        return ""
    postmortem = Postmortem.objects.filter(incident=incident).only("status").first()
    head = (
        f"{incident.reference} peaked at {incident.peak_severity.code}, which requires a postmortem"
    )
    if postmortem is None:
        return f"{head}: start it, get it reviewed and publish it, then close the incident."
    if postmortem.status != S.PUBLISHED:
        return (
            f"{head}: close it once the postmortem is published "
            f"(it is {postmortem.get_status_display().lower()})."
        )
    return ""


def postmortem_public_summary_posted(*, postmortem: Postmortem) -> bool:
    """Return whether the status page already carries the incident's postmortem update."""
    from incidents.statuspage.models import PublicUpdate

    return PublicUpdate.objects.filter(
        public_incident__incident_id=postmortem.incident_id, status="postmortem"
    ).exists()


@dataclass(frozen=True)
class PublicSummaryState:
    """Whether the public summary goes (or went) to the status page."""

    incident_is_public: bool
    posted: bool

    @property
    def pending(self) -> bool:
        return self.incident_is_public and not self.posted


def postmortem_public_summary_state(*, postmortem: Postmortem) -> PublicSummaryState:
    """Return whether the incident is on the status page and its summary was posted."""
    from incidents.statuspage.models import PublicIncident

    public = PublicIncident.objects.filter(incident_id=postmortem.incident_id).exists()
    return PublicSummaryState(
        incident_is_public=public,
        posted=public and postmortem_public_summary_posted(postmortem=postmortem),
    )
