"""Run a real `celery worker` process against this test run's database and broker.

Two ways to give it a broker:

- the shared one named by CELERY_BROKER_URL (`needs_broker`), which this process publishes to
  as well;
- a private `redis-server` started for one test (`redis_server`, `needs_private_broker`),
  which the worker (and its embedded beat, `running_worker(..., beat=True)`) talks to, while
  this process, the web server of the test, either finds its broker unreachable
  (`broker_unreachable`) or publishes to the same private Redis (`publishing_to`).
"""

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import quote

import kombu.pools
import pytest
from django.conf import settings
from kombu.exceptions import OperationalError

import portal.celery
from portal.celery import QUEUES, app

WAIT_SECONDS = 30

needs_broker = pytest.mark.skipif(
    not os.environ.get("CELERY_BROKER_URL"),
    reason="needs a real broker: set CELERY_BROKER_URL (and DATABASE_URL to PostgreSQL)",
)

REDIS_SERVER = shutil.which("redis-server")

needs_private_broker = pytest.mark.skipif(
    REDIS_SERVER is None
    or settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
    reason="needs `redis-server` on PATH (a private broker is started) and a test database "
    "another process can open (set DATABASE_URL to PostgreSQL)",
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


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- A private Redis ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PrivateRedis:
    port: int

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server(log: Path) -> Iterator[PrivateRedis]:
    """Run `redis-server` on a free port of 127.0.0.1, without persistence; stop it after."""
    if REDIS_SERVER is None:
        pytest.skip("`redis-server` is not on PATH")
    port = free_port()
    command = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1"]
    command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while not _redis_ping(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield PrivateRedis(port=port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- This process's broker, made unreachable ----------------------------------------------------


BROKER_ENV = ("CELERY_BROKER_URL", "CELERY_BROKER_WRITE_URL")


def _publishing_pools_forget() -> None:
    """Drop the broker connection and producer pools Celery cached for this process."""
    app._pool = None
    app.amqp._producer_pool = None


def _pools_reset() -> None:
    """Close and forget kombu's pools, which it keeps process-wide, one per broker address.

    Otherwise a pool that another test closed is handed out again for a broker on its port.
    """
    kombu.pools.reset()


def _reset_broker_backoff() -> None:
    """Forget a failed send: `enqueue` skips sends for a few seconds after one."""
    portal.celery._broker_down_until = 0.0


@contextmanager
def publishing_to(url: str) -> Iterator[str]:
    """Make this process publish its tasks to the broker at `url`, never running them eagerly.

    Yields the URL; restores the broker, the eager setting and `enqueue`'s back-off after.
    """
    conf = app.conf
    saved_conf = (conf.broker_url, conf.task_always_eager)
    # Celery reads these variables before its configuration: they must name the URL too.
    saved_env = {name: os.environ.get(name) for name in BROKER_ENV}
    for name in BROKER_ENV:
        os.environ.pop(name, None)
    os.environ["CELERY_BROKER_URL"] = url
    conf.broker_url, conf.task_always_eager = url, False
    _publishing_pools_forget()
    _pools_reset()
    _reset_broker_backoff()
    try:
        assert conf.broker_write_url == url, conf.broker_write_url
        yield url
    finally:
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        conf.broker_url, conf.task_always_eager = saved_conf
        _publishing_pools_forget()
        _pools_reset()
        _reset_broker_backoff()


@contextmanager
def broker_unreachable() -> Iterator[str]:
    """Make this process publish to a closed port, as a web server whose broker is down.

    Tasks are not run eagerly meanwhile: every send goes to the broker and fails. Yields the
    URL publishing now uses; restores the broker, the eager setting and `enqueue`'s back-off.
    """
    # A port bound and never listened on: connections are refused, and nothing else takes it.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    try:
        with publishing_to(f"redis://127.0.0.1:{closed_port}/0") as dead:
            # The producers a publish would use now point at the closed port, and fail fast.
            with app.producer_or_acquire() as producer:
                connection = producer.connection
                assert (connection.hostname, connection.port) == ("127.0.0.1", closed_port), (
                    connection.as_uri()
                )
                started = time.monotonic()
                with pytest.raises(OperationalError, match=r"(?i)refused"):
                    connection.ensure_connection(max_retries=1)
                assert time.monotonic() - started < 5, "connecting to a closed port: fail fast"
            yield dead
    finally:
        closed.close()


# --- Mail written by a worker's file-based email backend ----------------------------------------

MAIL_SEPARATOR = b"\n" + b"-" * 79 + b"\n"


def mail_env(mail_dir: Path) -> dict[str, str]:
    """Return the worker environment that writes its emails to files in mail_dir."""
    return {
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "DJANGO_EMAIL_FILE_PATH": str(mail_dir),
    }


def mails_in(mail_dir: Path) -> list[Message]:
    """Return every message the file-based backend wrote in mail_dir (a file may hold several)."""
    messages = []
    for path in sorted(mail_dir.glob("*.log")):
        for chunk in path.read_bytes().split(MAIL_SEPARATOR):
            if chunk.strip():
                messages.append(message_from_bytes(chunk))
    return messages


# --- The worker ---------------------------------------------------------------------------------


SWEEP_DONE = re.compile(r"portal\.tasks\.timers_sweep_task\[[0-9a-f-]+\] succeeded")


class Worker:
    def __init__(
        self, process: subprocess.Popen, log: Path, queues: Sequence[str] = QUEUES
    ) -> None:
        self.process = process
        self.log = log
        self.queues = tuple(queues)

    def wait_for(
        self, condition: Callable[[], object], *, what: str, timeout: float = WAIT_SECONDS
    ) -> None:
        """Poll until the condition holds; fail with the worker's log if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return
            if self.process.poll() is not None:
                pytest.fail(
                    f"the worker exited ({self.process.returncode}):\n{self.log.read_text()}"
                )
            time.sleep(0.2)
        pytest.fail(f"no {what} within {timeout:.0f} s; worker log:\n{self.log.read_text()}")

    def ran(self, task_id: str) -> bool:
        return f"{task_id}] succeeded" in self.log.read_text()

    def sweeps(self) -> int:
        """Return how many timer sweeps this worker has finished (one per queue and beat tick)."""
        return len(SWEEP_DONE.findall(self.log.read_text()))

    def wait_for_sweeps(self, count: int = 3, *, timeout: float = WAIT_SECONDS) -> None:
        """Wait for `count` more sweeps of each of the worker's queues (its beat sends them)."""
        target = self.sweeps() + count * len(self.queues)
        self.wait_for(
            lambda: self.sweeps() >= target, what=f"{count} more timer sweeps", timeout=timeout
        )

    def kill(self) -> None:
        """Kill the worker outright (and its embedded beat), as an OOM kill or a lost machine."""
        _kill_group(self.process)


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the worker's process group (its own session): the worker and its beat child."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)


@contextmanager
def running_worker(
    log: Path,
    *,
    env: dict[str, str] | None = None,
    include: tuple[str, ...] = (),
    beat: bool = False,
    broker_url: str | None = None,
    production_pool: bool = False,
    queues: Sequence[str] = QUEUES,
    threads: int | None = None,
) -> Iterator[Worker]:
    """Start `celery worker` on `queues` (every queue) against the test database; stop it after.

    `beat=True` embeds a beat (`-B`, schedule file beside the log) that sends the timer sweeps
    every second. `broker_url` gives the worker a broker of its own (CELERY_BROKER_URL; the
    cache goes to the same Redis, database 1); otherwise it inherits this process's.
    `production_pool=True` runs it as in production (prefork, two processes, with gossip,
    mingle and heartbeats), and `threads=N` as the Procfile's workers (the thread pool, N
    threads), instead of the quick single-process test worker.
    """
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = False
    full_env = {
        **os.environ,
        "DJANGO_ENV": "test",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DATABASE_URL": worker_database_url(),
        "PYTHONUNBUFFERED": "1",
    }
    if broker_url is not None:
        full_env["CELERY_BROKER_URL"] = broker_url
        full_env["REDIS_URL"] = broker_url.rsplit("/", 1)[0] + "/1"
    if beat:
        full_env["FIREBREAK_TIMER_SWEEP_SECONDS"] = "1"
    full_env.update(env or {})
    command = [sys.executable, "-m", "celery", "-A", "portal", "worker"]
    command += ["--queues", ",".join(queues)]
    command += ["--hostname", f"test-{uuid.uuid4().hex[:8]}@%h", "-l", "INFO"]
    if production_pool:
        command += ["--pool", "prefork", "--concurrency", "2"]
    elif threads is not None:
        command += ["--pool", "threads", "--concurrency", str(threads)]
    else:
        command += ["--pool", "solo", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    if include:
        command += ["--include", ",".join(include)]
    if beat:
        command += ["-B", "-s", str(log.with_name(log.stem + "-beat-schedule"))]
    with log.open("w") as output:
        process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=full_env,
            stdout=output,
            stderr=subprocess.STDOUT,
            # A session of its own: killing its group takes the embedded beat's process too.
            start_new_session=True,
        )
    worker = Worker(process, log, queues)
    try:
        worker.wait_for(lambda: " ready." in log.read_text(), what="worker start")
        yield worker
    finally:
        app.conf.task_always_eager = eager
        if process.poll() is None:
            process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
        _kill_group(process)  # whatever is left of it (a beat child outliving the worker)


class MailingWorkers:
    """Starts workers on a private Redis, each mailing into one shared folder, and reads it."""

    def __init__(self, tmp_path: Path, redis: PrivateRedis) -> None:
        self.tmp_path = tmp_path
        self.redis = redis
        self.mail_dir = tmp_path / "mail"
        self.mail_dir.mkdir()

    def worker(
        self, name: str, *, env: dict[str, str] | None = None, **options: Any
    ) -> contextlib.AbstractContextManager[Worker]:
        """`running_worker` on the private Redis, logging to `<name>.log` (options passed on)."""
        return running_worker(
            self.tmp_path / f"{name}.log",
            env={**mail_env(self.mail_dir), **(env or {})},
            broker_url=self.redis.url(),
            **options,
        )

    def mails(self) -> Counter[tuple[str, str]]:
        """Return what the workers mailed: (recipient, subject) → how often."""
        return Counter(
            (message["To"], " ".join(str(message["Subject"]).split()))
            for message in mails_in(self.mail_dir)
        )
