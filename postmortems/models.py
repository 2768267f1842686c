"""Blameless postmortems and the action items they produce."""

from django.conf import settings
from django.db import models

from incidents.models import Incident, TimelineEvent
from portal.models import TimeStampedModel


class Postmortem(TimeStampedModel):
    """The runbook's blameless postmortem of one incident: draft → in review → published."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        PUBLISHED = "published", "Published"

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="postmortem")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    required = models.BooleanField(
        default=False, help_text="The incident's peak severity requires a postmortem."
    )
    created_automatically = models.BooleanField(default=False)
    authors = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    # When it is due: 5 business days after resolution, end of that day in the team's zone.
    due_at = models.DateTimeField(null=True, blank=True)
    # Incident Summary (prefilled from the incident; the impact figures are people's words).
    summary = models.TextField(blank=True, help_text="Markdown.")
    users_affected = models.CharField(max_length=200, blank=True)
    requests_failed = models.CharField(max_length=200, blank=True)
    revenue_impact = models.CharField(max_length=200, blank=True)
    # The blameless template's sections, in Markdown.
    root_cause = models.TextField(blank=True)
    contributing_factors = models.TextField(blank=True)
    what_went_well = models.TextField(blank=True)
    public_summary = models.TextField(
        blank=True, help_text="Optional; published to the status page when the incident was public."
    )
    # Review meeting (P1: within 24 h of resolution).
    review_meeting_at = models.DateTimeField(null=True, blank=True)
    review_meeting_attendees = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="+"
    )
    review_meeting_scheduled_at = models.DateTimeField(null=True, blank=True)
    review_meeting_sequence = models.PositiveIntegerField(
        default=0, help_text="iCalendar SEQUENCE: bumped on every reschedule."
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "due_at"])]

    def __str__(self) -> str:
        return f"Postmortem of {self.incident.reference}"

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED


class PostmortemTimelineRow(models.Model):
    """A postmortem timeline row: an incident event, hidden or annotated, never rewritten."""

    postmortem = models.ForeignKey(Postmortem, on_delete=models.CASCADE, related_name="rows")
    event = models.ForeignKey(TimelineEvent, on_delete=models.CASCADE, related_name="+")
    hidden = models.BooleanField(default=False)
    annotation = models.TextField(blank=True)

    class Meta:
        ordering = ["event__occurred_at", "event_id"]
        constraints = [
            models.UniqueConstraint(fields=["postmortem", "event"], name="one_row_per_event")
        ]

    def __str__(self) -> str:
        return f"{self.postmortem}: {self.event}"


class Review(models.Model):
    """A reviewer asked to approve a postmortem, and what they decided."""

    class Decision(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"

    postmortem = models.ForeignKey(Postmortem, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    decision = models.CharField(max_length=20, choices=Decision.choices, default=Decision.PENDING)
    comment = models.TextField(blank=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["postmortem", "reviewer"], name="one_review_per_person")
        ]

    def __str__(self) -> str:
        return f"{self.reviewer} on {self.postmortem}: {self.get_decision_display()}"


class ActionItem(TimeStampedModel):
    """A follow-up tracked to done: owner, due date, priority and status."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"
        WONT_DO = "wont_do", "Won't do"

    class Priority(models.TextChoices):
        P1 = "P1", "P1"
        P2 = "P2", "P2"
        P3 = "P3", "P3"
        P4 = "P4", "P4"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="Markdown.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="action_items",
    )
    due_date = models.DateField(null=True, blank=True)
    priority = models.CharField(max_length=2, choices=Priority.choices, default=Priority.P3)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    tracker_url = models.URLField(max_length=500, blank=True, help_text="Jira or Linear issue.")
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="action_items")
    postmortem = models.ForeignKey(
        Postmortem, null=True, blank=True, on_delete=models.SET_NULL, related_name="action_items"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_date", "priority", "id"]
        indexes = [
            models.Index(fields=["status", "due_date"]),
            models.Index(fields=["owner", "status"]),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.WONT_DO)
