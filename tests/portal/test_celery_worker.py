"""A task enqueued after commit runs in a separate `celery worker` process on the real broker.

Runs only when CELERY_BROKER_URL names a broker (CI: Redis) and the test database is one another
process can open (PostgreSQL; pytest-django's SQLite test database lives in memory).
"""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import transaction

from incidents.models import TeamNotification, TimelineEvent
from incidents.tasks import incident_notify_team_task
from portal.celery import app
from tests import factories

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(
        not os.environ.get("CELERY_BROKER_URL"),
        reason="needs a real broker: set CELERY_BROKER_URL (and DATABASE_URL to PostgreSQL)",
    ),
]

WAIT_SECONDS = 30


def _test_database_url() -> str:
    """Return a URL for the test database this process created, for the worker to use."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the worker needs a test database another process can open: use PostgreSQL")
    credentials = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "localhost"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}@{host}{port}/{quote(db['NAME'], safe='')}"


def _wait_for(condition, *, what: str, log: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            pytest.fail(f"the worker exited ({process.returncode}):\n{log.read_text()}")
        time.sleep(0.2)
    pytest.fail(f"no {what} within {WAIT_SECONDS} s; worker log:\n{log.read_text()}")


class Worker:
    def __init__(self, process: subprocess.Popen, log: Path, mail_dir: Path) -> None:
        self.process = process
        self.log = log
        self.mail_dir = mail_dir

    def wait_for(self, condition, *, what: str) -> None:
        _wait_for(condition, what=what, log=self.log, process=self.process)

    def ran(self, task_id: str) -> bool:
        return f"{task_id}] succeeded" in self.log.read_text()


@pytest.fixture
def worker(live_db, tmp_path: Path) -> Iterator[Worker]:
    """Start `celery worker` on every queue against this test database; stop it afterwards."""
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    app.control.purge()  # messages left by earlier runs are not this test's
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DJANGO_ENV": "test",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": _test_database_url(),
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "DJANGO_EMAIL_FILE_PATH": str(mail_dir),
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "portal",
        "worker",
        "--queues",
        "paging,default,jobs",
        "--pool",
        "solo",
        "--hostname",
        f"test-{uuid.uuid4().hex[:8]}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel",
        "INFO",
    ]
    with log.open("w") as output:
        process = subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    started = Worker(process, log, mail_dir)
    try:
        started.wait_for(lambda: " ready." in log.read_text(), what="worker start")
        yield started
    finally:
        app.conf.task_always_eager = eager
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.django_db(transaction=True)
def test_task_enqueued_after_commit_runs_once_in_a_separate_worker(worker, alice, payments):
    with transaction.atomic():
        incident = factories.declared(alice, "P1", services=[payments])
    declared = TimelineEvent.objects.get(incident=incident, kind=TimelineEvent.Kind.DECLARED)

    worker.wait_for(
        lambda: TeamNotification.objects.filter(event=declared).exists(),
        what="team notification written by the worker",
    )
    repeat = incident_notify_team_task.delay(declared.pk)
    worker.wait_for(lambda: worker.ran(repeat.id), what="second run of the task")

    notification = TeamNotification.objects.get(event=declared)
    assert notification.recipients == ["payments@example.com"]
    assert TeamNotification.objects.count() == 1
    emails = list(worker.mail_dir.iterdir())
    assert len(emails) == 1, [email.read_text() for email in emails]
    message = emails[0].read_text()
    assert f"{incident.reference} declared: Payments service returning 503" in message
    assert "To: payments@example.com" in message
