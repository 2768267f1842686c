"""Work written with a change runs once in a separate `celery worker` process on the real broker.

Runs only when CELERY_BROKER_URL names a broker (CI: Redis) and the test database is one another
process can open (PostgreSQL; pytest-django's SQLite test database lives in memory).
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import transaction

from incidents.models import TeamNotification, TimelineEvent
from portal.celery import app
from portal.models import Timer
from portal.tasks import timer_fire_task, timers_sweep_task
from tests import factories
from tests.celery_worker import Worker, needs_broker, running_worker

pytestmark = [pytest.mark.worker, needs_broker]


@pytest.fixture
def worker(live_db, tmp_path: Path) -> Iterator[Worker]:
    """A worker writing emails to files in tmp_path/mail."""
    app.control.purge()  # messages left by earlier runs are not this test's
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    env = {
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "DJANGO_EMAIL_FILE_PATH": str(mail_dir),
    }
    with running_worker(tmp_path / "worker.log", env=env) as started:
        started.mail_dir = mail_dir  # type: ignore[attr-defined]
        yield started


@pytest.mark.django_db(transaction=True)
def test_work_written_with_the_change_runs_once_in_a_separate_worker(worker, alice, payments):
    with transaction.atomic():
        incident = factories.declared(alice, "P1", services=[payments])
    declared = TimelineEvent.objects.get(incident=incident, kind=TimelineEvent.Kind.DECLARED)

    worker.wait_for(
        lambda: TeamNotification.objects.filter(event=declared).exists(),
        what="team notification written by the worker",
    )
    # A duplicate wake-up and a sweep find the work done.
    timer = Timer.objects.get(
        kind="event.incidents.notify_team", payload__data__event_id=declared.pk
    )
    repeat = timer_fire_task.delay(timer.pk)
    worker.wait_for(lambda: worker.ran(repeat.id), what="a second wake-up")
    sweep = timers_sweep_task.delay()
    worker.wait_for(lambda: worker.ran(sweep.id), what="a sweep")

    notification = TeamNotification.objects.get(event=declared)
    assert notification.recipients == ["payments@example.com"]
    assert TeamNotification.objects.count() == 1
    emails = list(worker.mail_dir.iterdir())
    assert len(emails) == 1, [email.read_text() for email in emails]
    message = emails[0].read_text()
    assert f"{incident.reference} declared: Payments service returning 503" in message
    assert "To: payments@example.com" in message
