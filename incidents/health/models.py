"""What the on-call health review acts on; the figures themselves are computed, not stored."""

from django.conf import settings
from django.db import models

from incidents.alerting.models import AlertSource
from postmortems.models import ActionItem


class ToilFollowUp(models.Model):
    """The "automate or fix" action item opened for a noisy alert in one calendar month, once."""

    source = models.ForeignKey(AlertSource, on_delete=models.CASCADE, related_name="+")
    alert_name = models.CharField(max_length=255)
    month = models.DateField(help_text="The first day of the calendar month.")
    action_item = models.ForeignKey(ActionItem, on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-month", "alert_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "alert_name", "month"], name="toil_follow_up_once_per_month"
            )
        ]

    def __str__(self) -> str:
        return f"{self.alert_name} ({self.month:%Y-%m})"


class WeeklyReport(models.Model):
    """A team's weekly on-call report that was mailed, so a repeated run mails it once."""

    team = models.ForeignKey("incidents.Team", on_delete=models.CASCADE, related_name="+")
    iso_year = models.PositiveSmallIntegerField()
    iso_week = models.PositiveSmallIntegerField()
    recipients = models.JSONField(default=list)
    sent_at = models.DateTimeField()

    class Meta:
        ordering = ["-iso_year", "-iso_week"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "iso_year", "iso_week"], name="weekly_report_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.team} {self.iso_year}-W{self.iso_week:02d}"
