"""On-call: schedules, rotations, overrides, contact methods, escalation policies and pages.

Times of a schedule are anchored in the schedule's own time zone: a handoff at 09:00
Europe/Berlin stays at 09:00 local across the DST changes. Who is on call is computed by
`incidents.oncall.selectors`, never stored.
"""

import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from incidents.models import Incident, Severity, Team
from portal.models import TimeStampedModel, validate_time_zone

MIN_SHIFT_LENGTH = timedelta(hours=1)
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Paths under /schedules/ that are not schedules.
RESERVED_SLUGS = frozenset({"ical", "calendar-link", "incidents"})


def validate_weekdays(value: object) -> None:
    if not isinstance(value, list) or any(
        not isinstance(day, int) or isinstance(day, bool) or not 0 <= day <= 6 for day in value
    ):
        raise ValidationError(
            "Weekdays are a list of weekday numbers, Monday = 0 (empty: every day)."
        )


def new_feed_token() -> str:
    """Return a fresh unguessable calendar feed token."""
    return secrets.token_urlsafe(32)


def new_webhook_secret() -> str:
    """Return a fresh shared secret for signing outbound webhook requests."""
    return secrets.token_urlsafe(32)


class Schedule(TimeStampedModel):
    """Who of a team is on call when: layers of rotations, with overrides on top."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="schedules")
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="Handoff times of the rotations are in this zone, for example Europe/Berlin.",
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.slug in RESERVED_SLUGS:
            raise ValidationError(
                {"slug": f"“{self.slug}” is taken by the portal; choose another."}
            )


class Rotation(TimeStampedModel):
    """One layer of a schedule: participants take turns in order, one shift each.

    Shift k starts at the start date's handoff time plus k shift lengths, counted on the
    wall clock of the schedule's time zone, so a daily or weekly handoff keeps its local time
    (a shift spanning a DST change is an hour shorter or longer). Where layers overlap, the
    higher priority wins; an optional restriction limits a layer to some hours or weekdays,
    letting the layer below show through outside them.
    """

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="rotations")
    name = models.CharField(max_length=100)
    priority = models.PositiveSmallIntegerField(
        default=0, help_text="Where layers overlap, the higher priority wins."
    )
    participants = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="RotationParticipant", related_name="+"
    )
    shift_length = models.DurationField(
        default=timedelta(days=7),
        help_text="For example 1 day, 7 days or 12:00:00 (counted on the local wall clock).",
    )
    start_date = models.DateField(help_text="The first shift starts on this day, at handoff time.")
    handoff_time = models.TimeField(help_text="Local time of day at which shifts change.")
    ends_at = models.DateTimeField(
        null=True, blank=True, help_text="Optional: the layer stops at this moment."
    )
    restrict_weekdays = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_weekdays],
        help_text="Only on these weekdays (Monday = 0); empty: every day.",
    )
    restrict_from = models.TimeField(
        null=True, blank=True, help_text="Only from this local time of day (with “until”)."
    )
    restrict_until = models.TimeField(
        null=True,
        blank=True,
        help_text="Only until this local time of day; earlier than “from” runs past midnight.",
    )

    class Meta:
        ordering = ["schedule", "-priority", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(shift_length__gt=timedelta(0)), name="rotation_shift_is_positive"
            ),
            models.CheckConstraint(
                condition=(Q(restrict_from__isnull=True) & Q(restrict_until__isnull=True))
                | (Q(restrict_from__isnull=False) & Q(restrict_until__isnull=False)),
                name="rotation_restriction_has_both_ends",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.schedule}: {self.name}"

    @property
    def is_restricted(self) -> bool:
        return bool(self.restrict_weekdays) or self.restrict_from is not None

    @property
    def restriction_text(self) -> str:
        """Describe the restriction, for example "Mon, Tue 09:00-17:00"; empty: none."""
        parts = []
        if self.restrict_weekdays:
            parts.append(", ".join(WEEKDAY_NAMES[day] for day in sorted(self.restrict_weekdays)))
        if self.restrict_from is not None and self.restrict_until is not None:
            parts.append(f"{self.restrict_from:%H:%M}-{self.restrict_until:%H:%M}")
        return " ".join(parts)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.shift_length is not None:
            if self.shift_length < MIN_SHIFT_LENGTH:
                errors["shift_length"] = "A shift lasts at least one hour."
            elif self.shift_length % timedelta(minutes=1):
                errors["shift_length"] = "Use whole minutes."
        if (self.restrict_from is None) != (self.restrict_until is None):
            errors["restrict_until"] = "Give both ends of the daily window, or neither."
        elif self.restrict_from is not None and self.restrict_from == self.restrict_until:
            errors["restrict_until"] = "The window must end at another time than it starts."
        if errors:
            raise ValidationError(errors)


class RotationParticipant(models.Model):
    """A person's place in a rotation's order; the same person may appear more than once."""

    rotation = models.ForeignKey(
        Rotation, on_delete=models.CASCADE, related_name="participant_entries"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rotation_entries"
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["rotation", "position", "id"]
        verbose_name = "participant"

    def __str__(self) -> str:
        return f"{self.rotation}: #{self.position} {self.user}"


class Override(TimeStampedModel):
    """Someone takes over a schedule for a while; wins over every rotation layer.

    Where overrides overlap, the one created last wins.
    """

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="overrides")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oncall_overrides"
    )
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["start", "id"]
        indexes = [models.Index(fields=["schedule", "end", "start"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=F("start")), name="override_ends_after_it_starts"
            )
        ]

    def __str__(self) -> str:
        return f"{self.schedule}: {self.user} from {self.start:%Y-%m-%d %H:%M}"

    def clean(self) -> None:
        if self.start and self.end and self.end <= self.start:
            raise ValidationError({"end": "An override must end after it starts."})


class ContactMethod(TimeStampedModel):
    """One way to reach a person when they are paged, tried in `position` order."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        SLACK = "slack", "Slack direct message"
        WEBHOOK = "webhook", "Outbound webhook (JSON, HMAC-signed)"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="contact_methods"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    label = models.CharField(max_length=80, blank=True, help_text="For example “SMS gateway”.")
    address = models.CharField(
        max_length=500,
        help_text="The email address, the Slack member ID (U…), or the webhook's URL.",
    )
    secret = models.CharField(
        max_length=128,
        blank=True,
        help_text="Webhooks: the shared secret of the HMAC-SHA256 signature (made if empty).",
    )
    position = models.PositiveSmallIntegerField(default=0)
    verified_at = models.DateTimeField(
        null=True, blank=True, help_text="When a test message was confirmed to arrive."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["user", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind", "address"], name="contact_method_once_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.get_kind_display()} {self.label or self.address}"

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    def clean(self) -> None:
        self.address = (self.address or "").strip()
        if self.kind == self.Kind.EMAIL:
            try:
                validate_email(self.address)
            except ValidationError:
                raise ValidationError({"address": "Enter an email address."}) from None
        elif self.kind == self.Kind.SLACK:
            if not (self.address[:1] in {"U", "W"} and self.address.isalnum()):
                raise ValidationError(
                    {"address": "Enter the Slack member ID, for example U024BE7LH."}
                )
        elif self.kind == self.Kind.WEBHOOK:
            try:
                URLValidator(schemes=["https", "http"])(self.address)
            except ValidationError:
                raise ValidationError({"address": "Enter the webhook's http(s) URL."}) from None
            if not self.secret:
                self.secret = new_webhook_secret()


class CalendarFeedToken(models.Model):
    """The secret in a person's private calendar feed address; replacing it revokes the old."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed_token"
    )
    token = models.CharField(max_length=64, unique=True, default=new_feed_token)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "calendar feed token"

    def __str__(self) -> str:
        return f"Calendar feed of {self.user}"


def new_page_nonce() -> str:
    """Return the per-page secret that makes its acknowledge link single-use and unguessable."""
    return secrets.token_hex(16)


class EscalationPolicy(TimeStampedModel):
    """Whom a team's unacknowledged incident pages, step by step, and how often to go round.

    A team without a policy for a severity gets the default built from the severity table
    (incidents.oncall.escalation.default_plan): P1 on-call → EMs → VP, P2 on-call → EMs,
    P3 on-call (paged again after its ack window), each step one ack window after the last.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="escalation_policies")
    name = models.CharField(max_length=100)
    severity = models.ForeignKey(
        Severity,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: every severity that has no policy of its own in this team.",
    )
    repeat_count = models.PositiveSmallIntegerField(
        default=0, help_text="Go through the steps this many more times while nobody acknowledges."
    )
    repeat_after_minutes = models.PositiveSmallIntegerField(
        default=5, help_text="Wait this long after the last step before going round again."
    )

    class Meta:
        ordering = ["team", "name"]
        verbose_name_plural = "escalation policies"
        constraints = [
            models.UniqueConstraint(
                fields=["team", "severity"], name="escalation_policy_once_per_team_severity"
            ),
            models.UniqueConstraint(
                fields=["team"],
                condition=Q(severity__isnull=True),
                name="escalation_policy_one_fallback_per_team",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team}: {self.name}"


class EscalationStep(models.Model):
    """One step of a policy: wait, then page a schedule's on-call, a person, the EMs or the VP."""

    class Target(models.TextChoices):
        TEAM_ONCALL = "team_oncall", "The team's on-call (every schedule of the team)"
        SCHEDULE = "schedule", "A schedule's on-call"
        USER = "user", "A person"
        ENGINEERING_MANAGERS = "managers", "The team's engineering managers"
        ESCALATION_CONTACT = "vp", "The team's VP / escalation contact"

    policy = models.ForeignKey(EscalationPolicy, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(default=0)
    delay_minutes = models.PositiveSmallIntegerField(
        default=0,
        help_text="Wait this long after the previous step (the first: after the incident opens).",
    )
    target = models.CharField(max_length=12, choices=Target.choices)
    schedule = models.ForeignKey(
        Schedule, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["policy", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(target="schedule") & Q(schedule__isnull=False))
                | (~Q(target="schedule") & Q(schedule__isnull=True)),
                name="escalation_step_schedule_iff_schedule_target",
            ),
            models.CheckConstraint(
                condition=(Q(target="user") & Q(user__isnull=False))
                | (~Q(target="user") & Q(user__isnull=True)),
                name="escalation_step_user_iff_user_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy}: #{self.position} {self.get_target_display()}"

    def clean(self) -> None:
        if self.target == self.Target.SCHEDULE and self.schedule_id is None:
            raise ValidationError({"schedule": "Choose the schedule whose on-call is paged."})
        if self.target == self.Target.USER and self.user_id is None:
            raise ValidationError({"user": "Choose the person to page."})
        if self.target != self.Target.SCHEDULE:
            self.schedule = None
        if self.target != self.Target.USER:
            self.user = None


class IncidentEngagement(models.Model):
    """How an incident engaged people: its escalation plan's state and, for P4, its ticket due."""

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="engagement")
    generation = models.PositiveSmallIntegerField(
        default=0, help_text="How many reopenings have been engaged (each starts again)."
    )
    plan_number = models.PositiveSmallIntegerField(
        default=0, help_text="Bumped whenever the pending escalation steps are planned again."
    )
    policy_name = models.CharField(max_length=120, blank=True)
    escalation_started_at = models.DateTimeField(null=True, blank=True)
    last_step_fired = models.SmallIntegerField(
        null=True, blank=True, help_text="Number of the last escalation step that paged."
    )
    ticket_due_at = models.DateTimeField(
        null=True, blank=True, help_text="A P4 ticket is due by the end of the next business day."
    )
    engaged_at = models.DateTimeField()

    class Meta:
        verbose_name = "incident engagement"

    def __str__(self) -> str:
        return f"Engagement of {self.incident.reference}"


class Page(models.Model):
    """One message to one person on one contact method: written before it is sent.

    A crash after the provider accepted the message but before `sent_at` was committed resends
    it once, with the same Message-ID / delivery id, so the resend is detectable.
    """

    class Kind(models.TextChoices):
        ESCALATION = "escalation", "Paged (escalation)"
        NOTIFY = "notify", "Notified"
        MANUAL = "manual", "Paged by the IC"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Not sent"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="pages")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    step = models.CharField(max_length=60, help_text="What sent it, for example esc-0.0-1.")
    step_number = models.SmallIntegerField(null=True, blank=True)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pages"
    )
    schedule = models.ForeignKey(
        "Schedule",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="pages",
        help_text="The rotation whose on-call was paged, when that is why this person was.",
    )
    channel = models.CharField(max_length=10, choices=ContactMethod.Kind.choices)
    address = models.CharField(max_length=500)
    contact_method = models.ForeignKey(
        ContactMethod, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_message_id = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    nonce = models.CharField(max_length=32, default=new_page_nonce)
    used_at = models.DateTimeField(null=True, blank=True, help_text="When its ack link was used.")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    actionable = models.BooleanField(null=True, blank=True)
    needed_manual_action = models.BooleanField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # On-call health reads ranges of created_at of sent pages (escalation and manual);
            # with the columns it groups and filters by, PostgreSQL reads this index alone.
            models.Index(
                fields=[
                    "created_at",
                    "schedule",
                    "recipient",
                    "actionable",
                    "needed_manual_action",
                    "incident",
                ],
                condition=Q(kind__in=("escalation", "manual"), state="sent"),
                name="page_sent_created_covering",
            )
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "step", "recipient", "channel", "address"],
                name="page_once_per_step_recipient_address",
            )
        ]

    def __str__(self) -> str:
        return f"{self.incident.reference} → {self.recipient} ({self.channel}, {self.state})"

    @property
    def delivery_id(self) -> str:
        """Return the id every send of this page carries, so a resend is recognisable."""
        return f"page-{self.pk}.{self.nonce}"
