"""Broker faults for tests: a Redis of the test's own that can be paused, killed and restarted.

- `FaultyRedis`: a `redis-server` on a free port that a test pauses (SIGSTOP: connections are
  accepted, nothing answers, as a hung or swapped-out Redis), resumes, kills (SIGKILL, losing
  everything, as an OOM kill) and starts again on the same port.
- `served_by(redis)`: this process, the web, publishes to that Redis and caches in it, with the
  timeouts and transport of the settings.
- `prefork_worker(...)`: a `celery worker` with the prefork pool (as in production) and its beat.
- `nap_task`: a task that runs for a while, so that the broker can go away under it.
"""

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings

import portal.celery
from portal.celery import app
from tests.celery_worker import (
    REDIS_SERVER,
    WAIT_SECONDS,
    Worker,
    free_port,
    running_worker,
)

# --- A Redis to pause and kill --------------------------------------------------------------------


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.settimeout(0.5)
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class FaultyRedis:
    """A `redis-server` without persistence on a port of its own, and the faults to inflict."""

    def __init__(self, log: Path) -> None:
        if REDIS_SERVER is None:
            pytest.skip("`redis-server` is not on PATH")
        self.log = log
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.paused = False

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        """Start the server on its port (again, after a kill) and wait until it answers."""
        assert REDIS_SERVER is not None
        command = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        with self.log.open("a") as output:
            self.process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while not _ping(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        if self.process is not None and self.paused:
            self.process.send_signal(signal.SIGCONT)
        self.paused = False

    def kill(self) -> None:
        """SIGKILL the server: every connection drops and every key is gone."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()
        self.paused = False

    def stop(self) -> None:
        self.resume()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def faulty_redis(log: Path) -> Iterator[FaultyRedis]:
    redis = FaultyRedis(log)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


# --- This process on that Redis -------------------------------------------------------------------


@contextmanager
def served_by(redis: FaultyRedis) -> Iterator[None]:
    """Publish to and cache in `redis` from this process, as the production settings do."""
    conf = app.conf
    saved = (conf.broker_url, conf.broker_transport, conf.task_always_eager)
    saved_env = {
        name: os.environ.get(name) for name in ("CELERY_BROKER_URL", "CELERY_BROKER_WRITE_URL")
    }
    os.environ.pop("CELERY_BROKER_WRITE_URL", None)
    os.environ["CELERY_BROKER_URL"] = redis.url(0)
    conf.broker_url, conf.task_always_eager = redis.url(0), False
    conf.broker_transport = "portal.celery:RedisTransport"
    app._pool = None
    app.amqp._producer_pool = None
    portal.celery._broker_down_until = 0.0
    cache = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": redis.url(1),
        "KEY_PREFIX": "firebreak",
        "OPTIONS": settings.REDIS_CACHE_OPTIONS,
    }
    try:
        # The transport options (socket timeouts) are the settings' own, as in production.
        assert conf.broker_transport_options.get("socket_timeout")
        with override_settings(CACHES={"default": cache}):
            yield
            caches["default"].close()
    finally:
        pool = app._pool
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        conf.broker_url, conf.broker_transport, conf.task_always_eager = saved
        app._pool = None
        app.amqp._producer_pool = None
        if pool is not None:
            with contextlib.suppress(Exception):
                pool.force_close_all()
        portal.celery._broker_down_until = 0.0


def answered(call: Callable[[], Any], *, what: str, within: float = 60) -> Any:
    """Run `call` in a thread and return its result; fail if it has not returned `within` s.

    A bound on a hang, not a measurement: a request that hangs on the broker never returns.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = call()
        except BaseException as exc:  # re-raised in the test's thread
            outcome["error"] = exc
        finally:
            from django.db import connection

            connection.close()

    thread = threading.Thread(target=run, name=f"request {what}", daemon=True)
    thread.start()
    thread.join(within)
    if thread.is_alive():
        pytest.fail(f"{what}: no answer within {within:.0f} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


# --- A worker as in production ----------------------------------------------------------------


@app.task(name="tests.broker_faults.nap_task", acks_late=True)
def nap_task(marker: str, seconds: float) -> str:
    """Write `marker` (so the test knows it runs), then take `seconds`."""
    Path(marker).write_text("started")
    time.sleep(seconds)
    Path(marker).write_text("finished")
    return "rested"


@contextmanager
def prefork_worker(log: Path, *, broker: FaultyRedis, env: dict[str, str]) -> Iterator[Worker]:
    """Start `celery worker` as in production (prefork), with a beat sweeping every second."""
    with running_worker(
        log,
        env={"REDIS_URL": broker.url(1), **env},
        include=("tests.broker_faults",),
        beat=True,
        broker_url=broker.url(0),
        production_pool=True,
    ) as worker:
        yield worker


__all__ = [
    "WAIT_SECONDS",
    "FaultyRedis",
    "answered",
    "faulty_redis",
    "nap_task",
    "prefork_worker",
    "served_by",
]
