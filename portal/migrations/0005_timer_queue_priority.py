from django.db import migrations, models

# Open timers written before queues existed, moved to the queue their kind has now (the kinds
# as they were registered when this migration was written: portal.timers.timer_handler).
PAGING_KINDS = [
    "event.oncall.engage",
    "event.oncall.engage_reopened",
    "oncall.escalation_step",
    "oncall.page_deliver",
    "oncall.update_reminder",
]
JOBS_KINDS = ["runbooks.job_wake", "runbooks.rollout_poll"]


def queue_open_timers(apps, schema_editor):
    Timer = apps.get_model("portal", "Timer")
    open_timers = Timer.objects.filter(state__in=["pending", "claimed"])
    # Their incident's severity is not at hand here: ranked as a P1's, so paging work pending
    # at the upgrade is never swept after newer pages.
    open_timers.filter(kind__in=PAGING_KINDS).update(queue="paging", priority=1)
    open_timers.filter(kind__in=JOBS_KINDS).update(queue="jobs")


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0004_idempotency_keys"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="timer",
            name="timer_open_by_due_at",
        ),
        migrations.AddField(
            model_name="timer",
            name="priority",
            field=models.PositiveSmallIntegerField(
                default=9,
                help_text="0 is the most urgent: the rank of the incident's severity (1 for P1), 9 for work without one.",
            ),
        ),
        migrations.AddField(
            model_name="timer",
            name="queue",
            field=models.CharField(
                choices=[("paging", "Paging"), ("default", "Default"), ("jobs", "Jobs")],
                default="default",
                help_text="The queue of its kind: the worker that fires it.",
                max_length=10,
            ),
        ),
        migrations.AddIndex(
            model_name="timer",
            index=models.Index(
                condition=models.Q(("state__in", ["pending", "claimed"])),
                fields=["queue", "priority", "due_at"],
                name="timer_open_by_queue",
            ),
        ),
        migrations.RunPython(queue_open_timers, migrations.RunPython.noop),
    ]
