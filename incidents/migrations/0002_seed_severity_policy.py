"""Seed the severity table (docs/ARCHITECTURE.md, Incident lifecycle), editable in the admin."""

from datetime import timedelta

from django.db import migrations

SEVERITIES = [
    {
        "code": "P1",
        "name": "Critical",
        "rank": 1,
        "description": "Complete outage; all users affected; revenue impact.",
        "response_target": "Immediate (24/7)",
        "ack_timeout": timedelta(minutes=5),
        "update_interval": timedelta(minutes=15),
        "business_hours_only": False,
        "pages_oncall": True,
        "notifies_engineering_manager": True,
        "notifies_vp": True,
        "escalation": "On-call → Engineering Manager → VP",
        "postmortem_required": True,
        "postmortem_review_within": timedelta(hours=24),
    },
    {
        "code": "P2",
        "name": "High",
        "rank": 2,
        "description": "Major feature unavailable; more than 20% of users affected.",
        "response_target": "< 15 min (24/7)",
        "ack_timeout": timedelta(minutes=5),
        "update_interval": timedelta(minutes=30),
        "business_hours_only": False,
        "pages_oncall": True,
        "notifies_engineering_manager": True,
        "notifies_vp": False,
        "escalation": "On-call → Engineering Manager",
        "postmortem_required": True,
        "postmortem_review_within": None,
    },
    {
        "code": "P3",
        "name": "Medium",
        "rank": 3,
        "description": "Degraded performance; less than 20% of users affected.",
        "response_target": "< 2 h (business hours)",
        "ack_timeout": timedelta(minutes=15),
        "update_interval": None,
        "business_hours_only": True,
        "pages_oncall": True,
        "notifies_engineering_manager": False,
        "notifies_vp": False,
        "escalation": "On-call",
        "postmortem_required": False,
        "postmortem_review_within": None,
    },
    {
        "code": "P4",
        "name": "Low",
        "rank": 4,
        "description": "Minor issue; workaround available.",
        "response_target": "Next business day",
        "ack_timeout": None,
        "update_interval": None,
        "business_hours_only": True,
        "pages_oncall": False,
        "notifies_engineering_manager": False,
        "notifies_vp": False,
        "escalation": "",
        "postmortem_required": False,
        "postmortem_review_within": None,
    },
]


def seed(apps, schema_editor):
    severity_model = apps.get_model("incidents", "Severity")
    for row in SEVERITIES:
        severity_model.objects.update_or_create(code=row["code"], defaults=row)


def unseed(apps, schema_editor):
    apps.get_model("incidents", "Severity").objects.filter(
        code__in=[row["code"] for row in SEVERITIES]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("incidents", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
