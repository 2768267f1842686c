"""The public face of incidents: what the public may see, kept apart from internal records.

Nothing here points the public at internal data: public incidents carry their own random ids and
texts written for customers, and the link to the internal incident is never rendered publicly.
"""

import secrets

from django.conf import settings
from django.db import models

from incidents.models import Incident, Service
from portal.models import TimeStampedModel, validate_time_zone


def public_id() -> str:
    """Return a random public id (Statuspage-style: 12 lowercase letters and digits)."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


def subscriber_token() -> str:
    return secrets.token_urlsafe(32)


class ComponentStatus(models.TextChoices):
    OPERATIONAL = "operational", "Operational"
    DEGRADED_PERFORMANCE = "degraded_performance", "Degraded performance"
    PARTIAL_OUTAGE = "partial_outage", "Partial outage"
    MAJOR_OUTAGE = "major_outage", "Major outage"
    UNDER_MAINTENANCE = "under_maintenance", "Under maintenance"


class Impact(models.TextChoices):
    NONE = "none", "None"
    MINOR = "minor", "Minor"
    MAJOR = "major", "Major"
    CRITICAL = "critical", "Critical"


class PublicIncidentStatus(models.TextChoices):
    # Incidents
    INVESTIGATING = "investigating", "Investigating"
    IDENTIFIED = "identified", "Identified"
    MONITORING = "monitoring", "Monitoring"
    RESOLVED = "resolved", "Resolved"
    POSTMORTEM = "postmortem", "Postmortem"
    # Scheduled maintenance
    SCHEDULED = "scheduled", "Scheduled"
    IN_PROGRESS = "in_progress", "In progress"
    VERIFYING = "verifying", "Verifying"
    COMPLETED = "completed", "Completed"


INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved", "postmortem")
MAINTENANCE_STATUSES = ("scheduled", "in_progress", "verifying", "completed")
# A public incident or maintenance in one of these is over: it no longer drives the indicator.
FINISHED_STATUSES = ("resolved", "postmortem", "completed")


class PageSettings(models.Model):
    """The one status page: its name, links and look (a single row, created on first use)."""

    public_id = models.CharField(max_length=12, unique=True, default=public_id, editable=False)
    name = models.CharField(max_length=100, default="Firebreak status")
    url = models.URLField(
        max_length=300, blank=True, help_text="The public address of the status page, if known."
    )
    home_url = models.URLField(max_length=300, blank=True, help_text="Your product's home page.")
    logo_url = models.CharField(
        max_length=300, blank=True, help_text="A same-origin path or URL of the logo image."
    )
    support_url = models.URLField(max_length=300, blank=True)
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    partial_outage_weight = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=0.3,
        help_text="How much of a minute in partial outage counts as down in the uptime bars.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "status page settings"
        verbose_name_plural = "status page settings"

    def __str__(self) -> str:
        return self.name


class UpdateTemplate(models.Model):
    """The runbook's three public update texts, which prefill the publish form."""

    class Kind(models.TextChoices):
        INITIAL = "initial", "Initial update"
        UPDATE = "update", "Mid-incident update"
        RESOLUTION = "resolution", "Resolution"

    kind = models.CharField(max_length=20, choices=Kind.choices, unique=True)
    status = models.CharField(
        max_length=20,
        choices=[
            (value, label)
            for value, label in PublicIncidentStatus.choices
            if value in INCIDENT_STATUSES
        ],
        help_text="The public status this template is for.",
    )
    body = models.TextField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.get_kind_display()


class ComponentGroup(TimeStampedModel):
    public_id = models.CharField(max_length=12, unique=True, default=public_id, editable=False)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Component(TimeStampedModel):
    """A part of the product as the public knows it; the public face of one or more services."""

    public_id = models.CharField(max_length=12, unique=True, default=public_id, editable=False)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    group = models.ForeignKey(
        ComponentGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="components"
    )
    position = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(
        max_length=30, choices=ComponentStatus.choices, default=ComponentStatus.OPERATIONAL
    )
    services = models.ManyToManyField(
        Service, blank=True, related_name="components", help_text="Internal services behind it."
    )
    showcase = models.BooleanField(default=True, help_text="Show it (with uptime) on the page.")
    only_show_if_degraded = models.BooleanField(default=False)
    start_date = models.DateField(
        null=True, blank=True, help_text="Uptime is counted from this day (default: creation)."
    )

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class PublicIncident(TimeStampedModel):
    """A public incident or scheduled maintenance, in Statuspage's shape.

    An incident comes from an internal incident when its IC or Communicator first publishes; a
    maintenance is created in the admin and has `scheduled_for`/`scheduled_until`.
    """

    class Kind(models.TextChoices):
        INCIDENT = "incident", "Incident"
        MAINTENANCE = "maintenance", "Scheduled maintenance"

    public_id = models.CharField(max_length=12, unique=True, default=public_id, editable=False)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.INCIDENT)
    # Internal: never rendered on public output.
    incident = models.OneToOneField(
        Incident,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="public_incident",
    )
    name = models.CharField(max_length=200, help_text="The public title, written for customers.")
    status = models.CharField(max_length=20, choices=PublicIncidentStatus.choices)
    impact = models.CharField(max_length=10, choices=Impact.choices, default=Impact.NONE)
    components = models.ManyToManyField(Component, blank=True, related_name="public_incidents")
    started_at = models.DateTimeField()
    monitoring_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    scheduled_until = models.DateTimeField(null=True, blank=True)
    # Maintenance: set components under maintenance while in progress; notify before it starts.
    auto_transition = models.BooleanField(
        default=True, help_text="Start and complete the maintenance on time by itself."
    )
    remind_subscribers_before = models.DurationField(
        null=True, blank=True, help_text="Notify subscribers this long before it starts."
    )

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["kind", "status"]), models.Index(fields=["-started_at"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


class PublicUpdate(TimeStampedModel):
    """One public update: a status and a text for customers, with the components it changed."""

    public_id = models.CharField(max_length=12, unique=True, default=public_id, editable=False)
    public_incident = models.ForeignKey(
        PublicIncident, on_delete=models.CASCADE, related_name="updates"
    )
    status = models.CharField(max_length=20, choices=PublicIncidentStatus.choices)
    body = models.TextField()
    display_at = models.DateTimeField()
    deliver_notifications = models.BooleanField(default=True)
    # Internal: who published it (audit), never rendered publicly.
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-display_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_status_display()} update"


class AffectedComponent(models.Model):
    """A component a public update changed, with its status before and after."""

    update = models.ForeignKey(
        PublicUpdate, on_delete=models.CASCADE, related_name="affected_components"
    )
    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="+")
    old_status = models.CharField(max_length=30, choices=ComponentStatus.choices)
    new_status = models.CharField(max_length=30, choices=ComponentStatus.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["update", "component"], name="one_change_per_update")
        ]

    def __str__(self) -> str:
        return f"{self.component}: {self.old_status} → {self.new_status}"


class ComponentStatusChange(models.Model):
    """Append-only history of component statuses; the uptime bars are computed from it."""

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="history")
    old_status = models.CharField(max_length=30, choices=ComponentStatus.choices, blank=True)
    new_status = models.CharField(max_length=30, choices=ComponentStatus.choices)
    changed_at = models.DateTimeField(db_index=True)
    public_incident = models.ForeignKey(
        PublicIncident, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["changed_at", "id"]
        indexes = [models.Index(fields=["component", "changed_at"])]

    def __str__(self) -> str:
        return f"{self.component}: {self.old_status or 'new'} → {self.new_status}"


class StatusVersion(models.Model):
    """A counter every publish, component change and maintenance transition bumps.

    Public pages are cached under it, and it gives their ETag and Last-Modified.
    """

    version = models.PositiveBigIntegerField(default=0)
    changed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"status version {self.version}"


class Subscriber(TimeStampedModel):
    """Someone who hears about public updates: an email (double opt-in) or a webhook."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        WEBHOOK = "webhook", "Webhook"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    email = models.EmailField(blank=True)
    url = models.URLField(max_length=500, blank=True)
    # Webhook signing secret (Standard Webhooks: `whsec_` + base64), shown to the subscriber once.
    signing_secret = models.CharField(max_length=100, blank=True)
    components = models.ManyToManyField(
        Component, blank=True, related_name="subscribers", help_text="Empty means all."
    )
    token = models.CharField(max_length=64, unique=True, default=subscriber_token, editable=False)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["email"],
                condition=models.Q(kind="email", unsubscribed_at__isnull=True),
                name="one_active_subscription_per_email",
            ),
        ]

    def __str__(self) -> str:
        return self.email or self.url

    @property
    def is_active(self) -> bool:
        return (
            self.confirmed_at is not None
            and self.unsubscribed_at is None
            and self.disabled_at is None
        )


class Delivery(models.Model):
    """One notification to one subscriber, retried with backoff until sent or given up."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="deliveries")
    # Idempotency: one delivery per subscriber and event (`update:<id>`, `component:<change id>`).
    event_key = models.CharField(max_length=80)
    payload = models.JSONField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber", "event_key"], name="one_delivery_per_event"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_key} to {self.subscriber}"


class WebhookAllowedNetwork(models.Model):
    """A private network or host an admin allows outbound webhooks to target.

    Status page subscribers and the webhook contact methods of on-call pages alike.
    """

    network = models.CharField(
        max_length=100, unique=True, help_text="A CIDR (10.1.0.0/16) or an exact host name."
    )
    note = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return self.network
