from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone


def validate_time_zone(value: str) -> None:
    if value not in available_timezones():
        raise ValidationError(f"{value!r} is not an IANA time zone (for example Europe/Berlin).")


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class UserProfile(models.Model):
    """What the portal knows about a person beyond Django's user: where they are."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="Times in the portal are shown in this zone, with UTC on hover.",
    )

    class Meta:
        verbose_name = "user profile"

    def __str__(self) -> str:
        return f"Profile of {self.user}"


class Timer(models.Model):
    """A deadline stored as a row; see portal.timers for how it is claimed and fired."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        CLAIMED = "claimed", "Claimed"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"
        FAILED = "failed", "Failed"

    class Queue(models.TextChoices):
        """The Celery queues (portal.celery.QUEUES): whose worker fires the timer."""

        PAGING = "paging", "Paging"
        DEFAULT = "default", "Default"
        JOBS = "jobs", "Jobs"

    kind = models.CharField(max_length=60)
    queue = models.CharField(
        max_length=10,
        choices=Queue.choices,
        default=Queue.DEFAULT,
        help_text="The queue of its kind: the worker that fires it.",
    )
    priority = models.PositiveSmallIntegerField(
        default=9,
        help_text="0 is the most urgent: the rank of the incident's severity (1 for P1), "
        "9 for work without one.",
    )
    key = models.CharField(max_length=200, unique=True, help_text="Names the timer, once.")
    due_at = models.DateTimeField()
    payload = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    lease_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [
            # One sweep per queue reads its open timers most urgent first, then oldest first.
            models.Index(
                fields=["queue", "priority", "due_at"],
                condition=models.Q(state__in=["pending", "claimed"]),
                name="timer_open_by_queue",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} due {self.due_at:%Y-%m-%d %H:%M:%S} ({self.state})"


class IdempotencyKey(models.Model):
    """The answer to a creating API request, kept under the client's Idempotency-Key.

    Written in the transaction of the request's work (portal.idempotency), so a committed key
    always has its work and the work its key. Unique per user, method and path, so two clients
    (or two endpoints) never share a key; replayed while younger than the TTL setting.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    method = models.CharField(max_length=10)
    path = models.TextField()
    scope = models.CharField(
        max_length=64, help_text="SHA-256 of method and path: where the key is unique."
    )
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the canonical body.")
    # None only inside the request's own transaction, while its view runs.
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "scope", "key"], name="idempotency_key_once_per_user_and_path"
            )
        ]
        indexes = [models.Index(fields=["created_at"], name="idempotency_key_by_created_at")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} {self.key!r} by user {self.user_id}"
