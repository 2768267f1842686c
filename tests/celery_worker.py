"""Run a real `celery worker` process against this test run's database and broker."""

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

from portal.celery import app

WAIT_SECONDS = 30

needs_broker = pytest.mark.skipif(
    not os.environ.get("CELERY_BROKER_URL"),
    reason="needs a real broker: set CELERY_BROKER_URL (and DATABASE_URL to PostgreSQL)",
)


def worker_database_url() -> str:
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


class Worker:
    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process = process
        self.log = log

    def wait_for(self, condition: Callable[[], object], *, what: str) -> None:
        """Poll until the condition holds; fail with the worker's log if it never does."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            if condition():
                return
            if self.process.poll() is not None:
                pytest.fail(
                    f"the worker exited ({self.process.returncode}):\n{self.log.read_text()}"
                )
            time.sleep(0.2)
        pytest.fail(f"no {what} within {WAIT_SECONDS} s; worker log:\n{self.log.read_text()}")

    def ran(self, task_id: str) -> bool:
        return f"{task_id}] succeeded" in self.log.read_text()

    def kill(self) -> None:
        """Kill the worker outright, as an OOM kill or a lost machine would."""
        self.process.kill()
        self.process.wait()


@contextmanager
def running_worker(
    log: Path, *, env: dict[str, str] | None = None, include: tuple[str, ...] = ()
) -> Iterator[Worker]:
    """Start `celery worker` on every queue against the test database; stop it afterwards."""
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    full_env = {
        **os.environ,
        "DJANGO_ENV": "test",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": worker_database_url(),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    command = [sys.executable, "-m", "celery", "-A", "portal", "worker"]
    command += ["--queues", "paging,default,jobs", "--pool", "solo"]
    command += ["--hostname", f"test-{uuid.uuid4().hex[:8]}@%h"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "INFO"]
    if include:
        command += ["--include", ",".join(include)]
    with log.open("w") as output:
        process = subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=full_env, stdout=output, stderr=subprocess.STDOUT
        )
    worker = Worker(process, log)
    try:
        worker.wait_for(lambda: " ready." in log.read_text(), what="worker start")
        yield worker
    finally:
        app.conf.task_always_eager = eager
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
