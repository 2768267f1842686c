"""Teams, services, the severity policy, incidents, roles, timeline and internal status updates."""

from datetime import datetime, time, timedelta

import holidays
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import F, Q

from portal.models import TimeStampedModel, validate_time_zone


def validate_holiday_country(value: str) -> None:
    if value and value not in holidays.list_supported_countries():
        raise ValidationError(f"{value!r} is not a country code the holidays calendar knows.")


def validate_business_days(value: object) -> None:
    if (
        not isinstance(value, list)
        or not value
        or any(not isinstance(day, int) or not 0 <= day <= 6 for day in value)
    ):
        raise ValidationError("Business days are a non-empty list of weekday numbers, Monday = 0.")


def default_business_days() -> list[int]:
    return [0, 1, 2, 3, 4]


class Team(TimeStampedModel):
    """A team owns services and carries what the severity policy needs to engage people."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams", blank=True)
    engineering_managers = models.ManyToManyField(
        settings.AUTH_USER_MODEL, related_name="managed_teams", blank=True
    )
    escalation_contact = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="escalation_for_teams",
        help_text="The VP or last escalation step for P1 incidents.",
    )
    chat_channel = models.CharField(max_length=80, blank=True, help_text="For example #payments.")
    email = models.EmailField(blank=True, help_text="Team address that hears about its incidents.")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    business_day_start = models.TimeField(default=time(9, 0))
    business_day_end = models.TimeField(default=time(17, 0))
    business_days = models.JSONField(
        default=default_business_days,
        validators=[validate_business_days],
        help_text="Weekday numbers, Monday = 0.",
    )
    holiday_country = models.CharField(
        max_length=3,
        blank=True,
        validators=[validate_holiday_country],
        help_text="ISO country code for public holidays, for example DE.",
    )
    holiday_subdivision = models.CharField(
        max_length=10, blank=True, help_text="State or region code, for example BY."
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(business_day_start__lt=F("business_day_end")),
                name="team_business_day_starts_before_it_ends",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.holiday_subdivision and not self.holiday_country:
            raise ValidationError({"holiday_subdivision": "Choose the country first."})
        if self.holiday_country and self.holiday_subdivision:
            supported = holidays.list_supported_countries().get(self.holiday_country, [])
            if self.holiday_subdivision not in supported:
                raise ValidationError(
                    {"holiday_subdivision": f"Not a subdivision of {self.holiday_country}."}
                )
        start, end = self.business_day_start, self.business_day_end
        if start and end and start >= end:
            raise ValidationError({"business_day_end": "Business hours must end after they start."})


class CompanyHoliday(models.Model):
    """A day the company does not work, beyond public holidays; no teams means every team."""

    date = models.DateField(db_index=True)
    name = models.CharField(max_length=100)
    teams = models.ManyToManyField(Team, blank=True, related_name="company_holidays")

    class Meta:
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.name} ({self.date:%Y-%m-%d})"


class Service(TimeStampedModel):
    """Something that can break, owned by one team."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="services")
    description = models.TextField(blank=True)
    # Alert grouping (docs/ARCHITECTURE.md, Storms, grouping rules and flapping); empty fields
    # take the site's defaults, and a routing rule may override the storm fields.
    storm_threshold = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Alert storm: once more than this many alert groups have opened incidents on "
        "the service within the storm window, further alerts join one storm incident instead of "
        "opening their own. 0 turns storm grouping off; empty: the site default "
        "(FIREBREAK_STORM_THRESHOLD, 10).",
    )
    storm_window_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="The storm window, in minutes. 0 turns storm grouping off; empty: the site "
        "default (FIREBREAK_STORM_WINDOW_MINUTES, 5).",
    )
    flap_window_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Flapping: an alert that fires again within this many minutes of resolving "
        "reopens its resolved incident instead of opening a new one. 0 turns it off; empty: the "
        "site default (FIREBREAK_FLAP_WINDOW_MINUTES, 15).",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ServiceLink(models.Model):
    """A runbook or a dashboard bookmark shown on every incident of the service."""

    class Kind(models.TextChoices):
        RUNBOOK = "runbook", "Runbook"
        DASHBOARD = "dashboard", "Dashboard"

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="links")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["kind", "position", "id"]

    def __str__(self) -> str:
        return f"{self.service}: {self.title}"


class Severity(models.Model):
    """One row of the runbook's severity table; editable in the back-office."""

    code = models.CharField(max_length=8, unique=True)
    name = models.CharField(max_length=40)
    rank = models.PositiveSmallIntegerField(unique=True, help_text="1 is the most severe.")
    description = models.TextField(help_text="What qualifies, in the runbook's words.")
    response_target = models.CharField(max_length=80)
    ack_timeout = models.DurationField(null=True, blank=True)
    update_interval = models.DurationField(
        null=True,
        blank=True,
        help_text="How often the IC posts a status update; empty: no cadence.",
    )
    business_hours_only = models.BooleanField(default=False)
    pages_oncall = models.BooleanField(default=True)
    notifies_engineering_manager = models.BooleanField(default=False)
    notifies_vp = models.BooleanField(default=False)
    escalation = models.CharField(
        max_length=120, blank=True, help_text="For example on-call → EM → VP."
    )
    postmortem_required = models.BooleanField(default=False)
    postmortem_review_within = models.DurationField(null=True, blank=True)

    class Meta:
        ordering = ["rank"]
        verbose_name_plural = "severities"

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def is_more_severe_than(self, other: "Severity") -> bool:
        return self.rank < other.rank


class IncidentStatus(models.TextChoices):
    TRIGGERED = "triggered", "Triggered"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    INVESTIGATING = "investigating", "Investigating"
    MITIGATED = "mitigated", "Mitigated"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


OPEN_STATUSES = (
    IncidentStatus.TRIGGERED,
    IncidentStatus.ACKNOWLEDGED,
    IncidentStatus.INVESTIGATING,
    IncidentStatus.MITIGATED,
)


class Source(models.TextChoices):
    WEB = "web", "Web"
    API = "api", "API"
    ALERT = "alert", "Alert"
    SLACK = "slack", "Slack"
    SYSTEM = "system", "System"


class Incident(TimeStampedModel):
    """An incident from detection to close; its status changes only through lifecycle services."""

    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True)
    severity = models.ForeignKey(Severity, on_delete=models.PROTECT, related_name="+")
    peak_severity = models.ForeignKey(Severity, on_delete=models.PROTECT, related_name="+")
    team = models.ForeignKey(
        Team, on_delete=models.PROTECT, null=True, blank=True, related_name="incidents"
    )
    services = models.ManyToManyField(Service, related_name="incidents", blank=True)
    impact = models.TextField(blank=True, help_text="What is broken and who is affected.")
    users_affected_pct = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(100)],
        help_text="Estimated share of users affected, in percent.",
    )
    regions = models.JSONField(default=list, blank=True)
    customer_facing = models.BooleanField(default=True)
    bridge_url = models.URLField(max_length=500, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=20, choices=IncidentStatus.choices, db_index=True)
    impact_started_at = models.DateTimeField()
    detected_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    mitigated_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(impact_started_at__lte=F("detected_at")),
                name="incident_impact_starts_before_detection",
            ),
            models.CheckConstraint(
                condition=Q(users_affected_pct__isnull=True) | Q(users_affected_pct__lte=100),
                name="incident_users_affected_is_a_percentage",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-detected_at"]),
            # On-call health windows are ranges of detected_at, whatever the status.
            models.Index(fields=["detected_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    @property
    def reference(self) -> str:
        return f"INC-{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def time_to_acknowledge(self) -> timedelta | None:
        return self.acknowledged_at - self.detected_at if self.acknowledged_at else None

    @property
    def time_to_resolve(self) -> timedelta | None:
        return self.resolved_at - self.detected_at if self.resolved_at else None

    @property
    def time_to_detect(self) -> timedelta:
        return self.detected_at - self.impact_started_at

    def elapsed(self, now: datetime) -> timedelta:
        end = self.resolved_at or now
        return end - self.detected_at


class IncidentRole(models.TextChoices):
    COMMANDER = "commander", "Incident Commander"
    INVESTIGATOR = "investigator", "Investigator"
    COMMUNICATOR = "communicator", "Communicator"
    SCRIBE = "scribe", "Scribe"


class RoleAssignment(models.Model):
    """Who held a role on an incident, and when; one current holder per role."""

    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="role_assignments"
    )
    role = models.CharField(max_length=20, choices=IncidentRole.choices)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "role"],
                condition=Q(ended_at__isnull=True),
                name="one_current_holder_per_role",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()} of {self.incident.reference}: {self.user}"


class TimelineEvent(models.Model):
    """One append-only line of an incident's timeline; corrections are new events."""

    class Kind(models.TextChoices):
        DECLARED = "declared", "Declared"
        TRIGGERED = "triggered", "Triggered"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        INVESTIGATING = "investigating", "Investigating"
        MITIGATED = "mitigated", "Mitigated"
        RESOLVED = "resolved", "Resolved"
        REOPENED = "reopened", "Reopened"
        CLOSED = "closed", "Closed"
        SEVERITY_CHANGED = "severity_changed", "Severity changed"
        ROLE_ASSIGNED = "role_assigned", "Role assigned"
        ROLE_RELEASED = "role_released", "Role released"
        STATUS_UPDATE = "status_update", "Status update"
        NOTE = "note", "Note"
        DETAILS_CHANGED = "details_changed", "Details changed"
        ALERT = "alert", "Alert"
        JOB_REQUESTED = "job_requested", "Job requested"
        JOB_CONFIRMED = "job_confirmed", "Job confirmed"
        JOB_FINISHED = "job_finished", "Job finished"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    occurred_at = models.DateTimeField(db_index=True, help_text="When it happened.")
    recorded_at = models.DateTimeField(auto_now_add=True, help_text="When it was written down.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    from_value = models.CharField(max_length=40, blank=True)
    to_value = models.CharField(max_length=40, blank=True)
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    corrects = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="corrections"
    )

    class Meta:
        ordering = ["occurred_at", "id"]

    def __str__(self) -> str:
        when = f"{self.occurred_at:%Y-%m-%d %H:%M}"
        return f"{self.incident.reference} {self.get_kind_display()} at {when}"

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise ValueError("Timeline events are append-only: record a correction instead.")
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise ValueError("Timeline events are append-only and cannot be deleted.")


class UpdateStatus(models.TextChoices):
    """The runbook's status update template, Status line."""

    INVESTIGATING = "INVESTIGATING", "INVESTIGATING"
    MITIGATING = "MITIGATING", "MITIGATING"
    RESOLVED = "RESOLVED", "RESOLVED"


# Incident status → the update template's Status line (docs/ARCHITECTURE.md, Incident lifecycle);
# forms preselect it and people may override it.
UPDATE_STATUS_FOR_INCIDENT: dict[str, str] = {
    IncidentStatus.TRIGGERED: UpdateStatus.INVESTIGATING,
    IncidentStatus.ACKNOWLEDGED: UpdateStatus.INVESTIGATING,
    IncidentStatus.INVESTIGATING: UpdateStatus.INVESTIGATING,
    IncidentStatus.MITIGATED: UpdateStatus.MITIGATING,
    IncidentStatus.RESOLVED: UpdateStatus.RESOLVED,
    IncidentStatus.CLOSED: UpdateStatus.RESOLVED,
}


def update_status_for(incident_status: str) -> str:
    """Return the update template's Status that matches the incident's status."""
    return UPDATE_STATUS_FOR_INCIDENT[incident_status]


class StatusUpdate(models.Model):
    """An internal status update in the runbook's template; public updates are separate records."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="status_updates")
    status = models.CharField(max_length=20, choices=UpdateStatus.choices)
    impact = models.TextField()
    last_action = models.TextField()
    next_action = models.TextField()
    eta = models.CharField(
        max_length=100, default="unknown", help_text='An estimate, or "unknown".'
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    source = models.CharField(max_length=10, choices=Source.choices)
    posted_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-posted_at", "-id"]

    def __str__(self) -> str:
        return f"{self.incident.reference} update at {self.posted_at:%Y-%m-%d %H:%M}"

    def as_text(self) -> str:
        return (
            f"Status: {self.status}\nImpact: {self.impact}\nLast Action: {self.last_action}\n"
            f"Next Action: {self.next_action}\nETA: {self.eta}"
        )


class TeamNotification(models.Model):
    """Records that the owning team was told about one timeline event, so it is told once.

    P3/P4 news for a team mailed moments ago is held for the team's next digest (`digest` set,
    `sent_at` empty until the digest goes out); see docs/ARCHITECTURE.md, "Digests".
    """

    event = models.OneToOneField(
        TimelineEvent, on_delete=models.CASCADE, related_name="notification"
    )
    recipients = models.JSONField(default=list)
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the team was told; empty while held for a digest."
    )
    digest = models.ForeignKey(
        "TeamDigest",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="notifications",
        help_text="The digest mail that carries it, when it was held for one.",
    )

    class Meta:
        indexes = [models.Index(fields=["sent_at"], name="team_notification_sent_at")]

    def __str__(self) -> str:
        return f"Notification for {self.event}"


class TeamDigest(models.Model):
    """One digest mail to a team: the P3/P4 news held since its last team mail.

    Opened when the first news is held and sent by a timer at `due_at`, the end of the digest
    interval; a team has at most one open (unsent) digest, so held news always has one to go in.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="digests")
    since = models.DateTimeField(help_text="The team mail that started the interval.")
    due_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-due_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["team"], condition=Q(sent_at__isnull=True), name="team_digest_one_open"
            )
        ]

    def __str__(self) -> str:
        return f"Digest for {self.team} since {self.since:%Y-%m-%d %H:%M}"
