"""Who is who in the chat, which channel belongs to which incident, and what arrived once."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from incidents.models import Incident, StatusUpdate, TimelineEvent

SLACK = "slack"


class ChatAccount(models.Model):
    """A chat member known to be a portal user: stored by an admin or learned by email."""

    class Origin(models.TextChoices):
        ADMIN = "admin", "Entered by an admin"
        EMAIL = "email", "Matched by email address"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_accounts"
    )
    platform = models.CharField(max_length=20, default=SLACK)
    member_id = models.CharField(
        max_length=40, help_text="The member ID in the chat, for example U024BE7LH."
    )
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.ADMIN)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["platform", "member_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["platform", "member_id"], name="chat_account_member_once"
            ),
            models.UniqueConstraint(fields=["platform", "user"], name="chat_account_user_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.member_id} on {self.platform}"


class IncidentChannel(models.Model):
    """The incident's own channel: reserved first, its id filled in once the chat created it."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="chat_channels")
    platform = models.CharField(max_length=20, default=SLACK)
    name = models.CharField(max_length=80)
    channel_id = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True, help_text="When the channel existed.")
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["incident", "platform"], name="incident_channel_once_per_platform"
            ),
            models.UniqueConstraint(
                fields=["platform", "channel_id"],
                condition=~Q(channel_id=""),
                name="incident_channel_id_once",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.name} ({self.incident.reference})"


class ChatCommand(models.Model):
    """One slash command or button press, keyed by the chat's trigger id, so it acts once."""

    platform = models.CharField(max_length=20, default=SLACK)
    key = models.CharField(max_length=120, help_text="The trigger id of the command or action.")
    member_id = models.CharField(max_length=40)
    command = models.CharField(max_length=40)
    text = models.TextField(blank=True)
    incident = models.ForeignKey(
        Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "key"], name="chat_command_once")
        ]

    def __str__(self) -> str:
        return f"{self.command} {self.text[:40]} by {self.member_id}"


class ChatFormSubmission(models.Model):
    """A submitted form that acted, keyed by the chat's view id, so a double submit acts once.

    Written in the transaction of what the submission did (a status update), so a form whose
    fields were refused can be corrected and sent again, and a repeat of one that was taken
    finds this row and does nothing.
    """

    platform = models.CharField(max_length=20, default=SLACK)
    view_id = models.CharField(max_length=60, help_text="The chat's id of the submitted form.")
    view_hash = models.CharField(max_length=120, blank=True)
    callback = models.CharField(max_length=60)
    member_id = models.CharField(max_length=40)
    incident = models.ForeignKey(
        Incident, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    status_update = models.ForeignKey(
        StatusUpdate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "view_id"], name="chat_form_submit_once")
        ]

    def __str__(self) -> str:
        return f"{self.callback} {self.view_id} by {self.member_id}"


class ChatEvent(models.Model):
    """An Events API delivery, recorded by its event id so a retried delivery is handled once."""

    platform = models.CharField(max_length=20, default=SLACK)
    event_id = models.CharField(max_length=60)
    kind = models.CharField(max_length=60)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "event_id"], name="chat_event_once")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.event_id}"


class ChatPost(models.Model):
    """One message the portal owes a chat, written with what it reports and sent by a timer.

    The row commits in the same transaction as the change it reports, so a broker outage or a
    crash loses nothing; `key` names it once, so reporting the same change twice posts once.
    The message itself is built when it is sent, from the records it points at.
    """

    class Kind(models.TextChoices):
        ANNOUNCEMENT = "announcement", "Announcement"
        WELCOME = "welcome", "Welcome in the incident channel"
        EVENT = "event", "Timeline event"
        STATUS_UPDATE = "status_update", "Status update"
        PAGES = "pages", "Pages"
        ARCHIVE = "archive", "Archive notice (then archive)"
        STORM = "storm", "Alert storm (one message, edited as it grows)"

    class Destination(models.TextChoices):
        INCIDENT_CHANNEL = "incident", "The incident's channel"
        ANNOUNCE = "announce", "The announcement channel"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        POSTED = "posted", "Posted"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Not sent"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="chat_posts")
    platform = models.CharField(max_length=20, default=SLACK)
    key = models.CharField(max_length=120, help_text="Names the message once, e.g. inc-7:event-42.")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    destination = models.CharField(max_length=10, choices=Destination.choices)
    event = models.ForeignKey(
        TimelineEvent, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    status_update = models.ForeignKey(
        StatusUpdate, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    data = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    channel_id = models.CharField(max_length=40, blank=True, help_text="Where it was posted.")
    message_id = models.CharField(max_length=40, blank=True, help_text="The chat's message id.")
    created_at = models.DateTimeField(auto_now_add=True)
    posted_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["platform", "key"], name="chat_post_once")]
        indexes = [
            models.Index(
                fields=["incident", "destination", "id"],
                condition=Q(state="pending"),
                name="chat_post_pending_by_stream",
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"

    @property
    def needs_channel(self) -> bool:
        """Whether it waits for the incident's channel (posted there, or linking to it)."""
        return (
            self.destination == self.Destination.INCIDENT_CHANNEL
            or self.kind == self.Kind.ANNOUNCEMENT
        )
