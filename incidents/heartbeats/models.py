"""Heartbeats: something that must ping Firebreak regularly, and the incident when it stops.

docs/ARCHITECTURE.md, Heartbeats: the state lives on the row (`state`, `alarm_at`), pings and
the beat check change it with conditional updates, so a miss opens one incident whoever checks.
"""

import hmac
import secrets
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from incidents.alerting.models import AlertSource, secret_digest, validate_label_map
from incidents.models import Incident, Service, Severity
from portal.models import TimeStampedModel

# The beat checks every few seconds; a shorter interval would only measure the check's delay.
MIN_INTERVAL = timedelta(minutes=1)
MAX_INTERVAL = timedelta(days=366)
MAX_GRACE = timedelta(days=31)
# The severity a heartbeat's incident gets unless a manager chooses another.
DEFAULT_SEVERITY = "P2"
WATCHDOG = "Watchdog"


class Heartbeat(TimeStampedModel):
    """A sender expected to ping every `interval`; silent `grace` longer, it opens an incident."""

    class State(models.TextChoices):
        WAITING = "waiting", "Waiting for the first ping"
        UP = "up", "Up"
        MISSED = "missed", "Missed"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True, help_text="What pings it, and how often.")
    service = models.ForeignKey(
        Service,
        on_delete=models.PROTECT,
        related_name="heartbeats",
        help_text="A missed heartbeat opens an incident on this service, paged as its alerts are.",
    )
    severity = models.ForeignKey(
        Severity,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The severity of the incident a miss opens (P2 pages on-call at any hour).",
    )
    interval = models.DurationField(
        default=timedelta(minutes=5),
        validators=[MinValueValidator(MIN_INTERVAL), MaxValueValidator(MAX_INTERVAL)],
        help_text="How often it pings, e.g. 00:05:00 or 1 00:00:00 (a day); at least a minute.",
    )
    grace = models.DurationField(
        default=timedelta(minutes=5),
        validators=[MinValueValidator(timedelta(0)), MaxValueValidator(MAX_GRACE)],
        help_text="How late a ping may be before the heartbeat counts as missed.",
    )
    is_active = models.BooleanField(
        "active",
        default=True,
        help_text="Untick to pause: a paused heartbeat ignores pings and never alarms. "
        "Ticking it again waits for the next ping, as a new heartbeat does.",
    )
    # Only a digest is kept: the ping address holds the secret and is shown once, when issued.
    secret_digest = models.CharField(max_length=64, unique=True, editable=False)
    alert_source = models.ForeignKey(
        AlertSource,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="An Alertmanager source whose always-firing alert (below) counts as a ping; "
        "those alerts are then not kept as alerts.",
    )
    alertname = models.CharField(
        max_length=200,
        default=WATCHDOG,
        blank=True,
        help_text="The alertname of that always-firing alert (Prometheus' Watchdog).",
    )
    match_labels = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_label_map],
        help_text='Labels it must also carry, e.g. {"prometheus": "monitoring/k8s"}, when '
        "several Prometheus servers send theirs through one Alertmanager.",
    )
    # What the pings and the check keep; written by services only (docs/ARCHITECTURE.md,
    # Heartbeats).
    state = models.CharField(
        max_length=10, choices=State.choices, default=State.WAITING, editable=False
    )
    last_ping_at = models.DateTimeField(null=True, blank=True, editable=False)
    alarm_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Last ping + interval + grace: missed if no ping comes by then.",
    )
    missed_at = models.DateTimeField(null=True, blank=True, editable=False)
    incident = models.ForeignKey(
        Incident,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        help_text="The incident the current miss opened.",
    )
    ping_count = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["state", "alarm_at"], name="heartbeat_due")]
        constraints = [
            models.CheckConstraint(
                condition=Q(state="waiting")
                | Q(last_ping_at__isnull=False, alarm_at__isnull=False),
                name="pinged_heartbeat_has_alarm_time",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        if not self.secret_digest:
            # Never store a heartbeat without a secret; nobody knows this one until it is rotated.
            self.issue_secret()
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def clean(self) -> None:
        if self.alert_source is not None:
            if self.alert_source.kind != AlertSource.Kind.ALERTMANAGER:
                raise ValidationError(
                    {"alert_source": "Only a Prometheus Alertmanager source sends a Watchdog."}
                )
            if not self.alertname.strip():
                raise ValidationError(
                    {"alertname": "Name the always-firing alert (usually Watchdog)."}
                )

    def issue_secret(self) -> str:
        """Replace the secret with a new random one and return it (it is not stored in clear)."""
        secret = secrets.token_hex(16)
        self.secret_digest = secret_digest(secret)
        return secret

    def secret_matches(self, secret: str) -> bool:
        """Return whether `secret` is this heartbeat's secret, in constant time."""
        return hmac.compare_digest(secret_digest(secret), self.secret_digest)

    def watches(self, labels: dict[str, str]) -> bool:
        """Return whether an alert with these labels is this heartbeat's Watchdog."""
        return labels.get("alertname") == self.alertname and all(
            labels.get(name) == value for name, value in self.match_labels.items()
        )

    @property
    def next_expected_at(self) -> datetime | None:
        """When the next ping is due (the grace runs after it)."""
        return self.last_ping_at + self.interval if self.last_ping_at else None
