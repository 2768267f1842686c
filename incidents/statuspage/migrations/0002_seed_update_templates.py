"""Seed the runbook's three status page texts, the status version row and the page settings."""

from django.db import migrations
from django.utils import timezone

# RUNBOOK.md, "Communication Templates", verbatim; edited afterwards in the back-office.
UPDATE_TEMPLATES = [
    {
        "kind": "initial",
        "status": "investigating",
        "body": "We are currently investigating reports of [brief description].\n"
        "Our team has been alerted and is actively working on a resolution.\n"
        "We will provide an update in 30 minutes or sooner.",
    },
    {
        "kind": "update",
        "status": "identified",
        "body": "We have identified the root cause as [brief, non-technical].\n"
        "We are currently [action being taken].\n"
        "Estimated time to resolution: [ETA or unknown].\n"
        "Next update in 15 minutes.",
    },
    {
        "kind": "resolution",
        "status": "resolved",
        "body": "This incident has been resolved as of [time].\n"
        "The issue was [brief explanation].\n"
        "All services are now operating normally.\n"
        "We will publish a full post-mortem within 5 business days.",
    },
]


def seed(apps, schema_editor):
    update_template = apps.get_model("statuspage", "UpdateTemplate")
    for row in UPDATE_TEMPLATES:
        # Never overwrite texts someone already edited.
        update_template.objects.get_or_create(kind=row["kind"], defaults=row)
    apps.get_model("statuspage", "StatusVersion").objects.get_or_create(
        pk=1, defaults={"version": 0, "changed_at": timezone.now()}
    )
    page_settings = apps.get_model("statuspage", "PageSettings")
    if not page_settings.objects.exists():
        page_settings.objects.create()


def unseed(apps, schema_editor):
    apps.get_model("statuspage", "UpdateTemplate").objects.filter(
        kind__in=[row["kind"] for row in UPDATE_TEMPLATES]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("statuspage", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
