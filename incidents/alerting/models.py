"""Alert sources, the alert groups they send, one alert row per firing episode, routing rules."""

import hashlib
import hmac
import re
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from incidents.models import Incident, Service, Severity
from portal.models import TimeStampedModel


def secret_digest(secret: str) -> str:
    """Return the SHA-256 hex digest under which a source's secret is stored and looked up."""
    return hashlib.sha256(secret.encode()).hexdigest()


def validate_label_map(value: object) -> None:
    if not isinstance(value, dict) or any(
        not isinstance(key, str) or not isinstance(item, str) for key, item in value.items()
    ):
        raise ValidationError('Write an object of label names to values, e.g. {"team": "db"}.')


def validate_regex_map(value: object) -> None:
    validate_label_map(value)
    assert isinstance(value, dict)
    for label, pattern in value.items():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValidationError(
                f"The pattern for {label!r} is not a valid regex: {exc}."
            ) from exc


# At most this many labels to group by; each name at most LABEL_NAME_MAX characters.
GROUP_BY_MAX = 10
LABEL_NAME_MAX = 100


def validate_label_names(value: object) -> None:
    """A grouping rule's labels: a list of distinct label names, e.g. ["cluster", "alertname"]."""
    if not isinstance(value, list) or any(not isinstance(name, str) for name in value):
        raise ValidationError('Write a list of label names, e.g. ["cluster", "alertname"].')
    for name in value:
        if not name.strip():
            raise ValidationError("A label name can't be empty.")
        if name != name.strip() or any(char.isspace() or not char.isprintable() for char in name):
            raise ValidationError(f"{name!r} is not a label name: no spaces in label names.")
        if len(name) > LABEL_NAME_MAX:
            raise ValidationError(f"Label names are at most {LABEL_NAME_MAX} characters long.")
    duplicates = sorted({name for name in value if value.count(name) > 1})
    if duplicates:
        raise ValidationError(f"{', '.join(duplicates)} is named more than once.")
    if len(value) > GROUP_BY_MAX:
        raise ValidationError(f"Group by at most {GROUP_BY_MAX} labels.")


class AlertSource(TimeStampedModel):
    """A monitoring system allowed to send alerts, authenticated by its own secret."""

    class Kind(models.TextChoices):
        ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
        GRAFANA = "grafana", "Grafana"
        PAGERDUTY = "pagerduty", "PagerDuty Events API v2"
        GENERIC = "generic", "Generic JSON"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    description = models.TextField(blank=True)
    # Only a digest is kept: the secret is shown once, when it is issued. PagerDuty senders send
    # their secret (the routing key) in the body and nothing else, so the digest is also the
    # lookup key.
    secret_digest = models.CharField(max_length=64, unique=True, editable=False)
    default_service = models.ForeignKey(
        Service,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Alerts no routing rule matches go to this service; empty: to triage.",
    )
    default_severity = models.ForeignKey(
        Severity,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Used when an alert carries no severity Firebreak knows; empty: P3.",
    )
    is_active = models.BooleanField(
        default=True, help_text="An inactive source's requests are refused (401)."
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        if not self.secret_digest:
            # Never store a source without a secret; nobody knows this one until it is rotated.
            self.issue_secret()
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    def issue_secret(self) -> str:
        """Replace the secret with a new random one and return it (it is not stored in clear)."""
        secret = secrets.token_hex(16)
        self.secret_digest = secret_digest(secret)
        return secret

    def secret_matches(self, secret: str) -> bool:
        """Return whether `secret` is this source's secret, in constant time."""
        return hmac.compare_digest(secret_digest(secret), self.secret_digest)


class AlertGroup(models.Model):
    """What a source groups together (Alertmanager's groupKey, a PagerDuty dedup key).

    A group follows one incident while that incident is open; its row is also the lock that
    serialises concurrent deliveries of the same group.
    """

    source = models.ForeignKey(AlertSource, on_delete=models.CASCADE, related_name="groups")
    key = models.TextField()
    key_digest = models.CharField(max_length=64)
    incident = models.ForeignKey(
        Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "key_digest"], name="one_group_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.source}: {self.key[:80]}"


class Alert(models.Model):
    """One firing episode of an alert: (source, fingerprint, start). Repeats update the row."""

    class Status(models.TextChoices):
        FIRING = "firing", "Firing"
        RESOLVED = "resolved", "Resolved"

    source = models.ForeignKey(AlertSource, on_delete=models.PROTECT, related_name="alerts")
    group = models.ForeignKey(AlertGroup, on_delete=models.PROTECT, related_name="alerts")
    fingerprint = models.CharField(
        max_length=255, help_text="Alertmanager's fingerprint, or the dedup key."
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty while firing.")
    status = models.CharField(max_length=10, choices=Status.choices, db_index=True)
    title = models.CharField(max_length=255)
    summary = models.TextField(blank=True)
    severity = models.ForeignKey(Severity, on_delete=models.PROTECT, related_name="+")
    severity_label = models.CharField(
        max_length=40, blank=True, help_text="The severity as the source said it."
    )
    severity_note = models.CharField(
        max_length=200, blank=True, help_text="Why the severity is what it is, when defaulted."
    )
    service = models.ForeignKey(
        Service, on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts"
    )
    routing_rule = models.ForeignKey(
        "RoutingRule", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    labels = models.JSONField(default=dict, blank=True)
    annotations = models.JSONField(default=dict, blank=True)
    details = models.JSONField(default=dict, blank=True)
    generator_url = models.URLField(max_length=2000, blank=True)
    dashboard_url = models.URLField(max_length=2000, blank=True)
    panel_url = models.URLField(max_length=2000, blank=True)
    silence_url = models.URLField(max_length=2000, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    receive_count = models.PositiveIntegerField(default=1)
    acknowledged_at = models.DateTimeField(
        null=True, blank=True, help_text="When the source acknowledged it (PagerDuty)."
    )
    incident = models.ForeignKey(
        Incident,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="alerts",
        help_text="Empty: waiting in triage.",
    )
    actionable = models.BooleanField(
        null=True, blank=True, help_text="Set by a responder; No marks a false positive."
    )
    actionable_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actionable_set_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-first_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "fingerprint", "starts_at"], name="one_alert_per_episode"
            ),
            models.CheckConstraint(
                condition=Q(status="resolved") | Q(ends_at__isnull=True),
                name="firing_alert_has_no_end",
            ),
        ]
        indexes = [
            models.Index(fields=["source", "fingerprint", "status"]),
            models.Index(fields=["incident", "status"]),
            # On-call health reads ranges of first_seen_at; with the columns its figures group
            # and filter by, PostgreSQL answers from this index alone (an index-only scan).
            models.Index(
                fields=["first_seen_at", "source", "title", "actionable", "service", "severity"],
                name="alert_first_seen_covering",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.fingerprint})"

    @property
    def is_firing(self) -> bool:
        return self.status == self.Status.FIRING


class RoutingRule(models.Model):
    """Send alerts whose labels match to a service, optionally with a severity; first match wins."""

    position = models.PositiveIntegerField(default=0, help_text="Rules are tried lowest first.")
    name = models.CharField(max_length=100)
    source = models.ForeignKey(
        AlertSource,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="routing_rules",
        help_text="Empty: alerts from any source.",
    )
    match_labels = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_label_map],
        help_text='Labels that must equal these values, e.g. {"service": "payments"}.',
    )
    match_regex = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_regex_map],
        help_text='Labels that must fully match these regexes, e.g. {"instance": "db-.*"}.',
    )
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="routing_rules")
    severity = models.ForeignKey(
        Severity,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Override the alert's own severity; empty: keep it.",
    )
    is_active = models.BooleanField(default=True)
    # Grouping (docs/ARCHITECTURE.md, Storms, grouping rules and flapping).
    group_by = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_label_names],
        help_text="Alerts this rule routes whose values of these labels are equal join one open "
        'incident instead of opening their own, e.g. ["cluster", "alertname"]; a missing label '
        "counts as empty. Empty: no grouping.",
    )
    group_window_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Alerts join a grouped incident opened at most this many minutes ago; after "
        "that, the next one opens a new incident. Empty: as long as the incident is open.",
    )
    storm_threshold = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Overrides the service's storm threshold for the alerts this rule routes: "
        "more than this many alert groups opening incidents on the service within the storm "
        "window start an alert storm. 0 turns storm grouping off for them; empty: the service's.",
    )
    storm_window_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Overrides the service's storm window (minutes) for the alerts this rule "
        "routes. Empty: the service's.",
    )

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.group_window_minutes is not None and not self.group_by:
            raise ValidationError(
                {"group_window_minutes": "A grouping window needs labels to group by."}
            )

    def group_values(self, labels: dict[str, str]) -> list[tuple[str, str]]:
        """Return the (label, value) pairs that group an alert with these labels ("" if missing)."""
        return [(name, str(labels.get(name, ""))) for name in self.group_by]

    def matches(self, source: AlertSource, labels: dict[str, str]) -> bool:
        """Return whether an alert from `source` with these labels is routed by this rule."""
        if self.source_id is not None and self.source_id != source.pk:
            return False
        for label, value in self.match_labels.items():
            if labels.get(label) != value:
                return False
        for label, pattern in self.match_regex.items():
            # Anchored, as in Alertmanager's =~ matchers; a missing label matches as "".
            if re.fullmatch(pattern, labels.get(label, "")) is None:
                return False
        return True


class IncidentGrouping(models.Model):
    """Why an incident collects alerts that would have opened incidents of their own.

    An alert storm on a service, or a grouping rule's label values. While it is open, alerts of
    its kind and key join its incident (docs/ARCHITECTURE.md, Storms, grouping rules and
    flapping); it closes for good when its incident resolves, or, for a grouping rule with a
    window, when the window has passed. One open grouping per kind and key: the database refuses
    a second, so concurrent deliveries never open two storms of one service.
    """

    class Kind(models.TextChoices):
        STORM = "storm", "Alert storm"
        LABELS = "labels", "Grouping rule"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    key = models.CharField(
        max_length=120, help_text="storm:<service id>, or rule:<rule id>:<label values' digest>."
    )
    service = models.ForeignKey(
        Service, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rule = models.ForeignKey(
        RoutingRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="grouping")
    reason = models.TextField(help_text="Why the alerts were grouped, as the incident page says.")
    labels = models.JSONField(
        default=dict, blank=True, help_text="A grouping rule's label values, in its order."
    )
    opened_at = models.DateTimeField()
    members = models.PositiveIntegerField(default=0, help_text="Alerts grouped on the incident.")
    is_open = models.BooleanField(default=True, help_text="Whether alerts still join it.")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "key"], condition=Q(is_open=True), name="one_open_grouping_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.incident.reference}"
