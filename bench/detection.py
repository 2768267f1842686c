"""Firebreak detection benchmark: alert ingestion over HTTP, and how late escalation timers fire.

Runs the product as it runs in service: production settings, a throwaway PostgreSQL database
(created, migrated and dropped here), gunicorn serving the portal on 127.0.0.1, Redis as broker
and cache (a database of its own, flushed before and after), a real `celery worker` and `celery
beat`. Prints numbers; asserts nothing. A missing PostgreSQL or Redis skips the sections that
need it, with a message. Servers, database and Redis keys are cleaned up on any exit but SIGKILL;
a database a killed run left behind is dropped by the next run.

    .venv/bin/python bench/detection.py [--alerts 10000 --fingerprints 1000 --timers 1000]

bench/run.py (`make bench`) runs it after the hot paths.
"""

import argparse
import copy
import http.client
import importlib.metadata
import importlib.util
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import redis
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "incidents" / "alerting" / "samples" / "alertmanager-v4-firing.json"
DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/12"
DB_PREFIX = "firebreak_bench_"
QUEUES = ("paging", "default", "jobs")
START_SECONDS = 30  # how long a server or worker may take to come up
# Bounds of the load phases: the benchmark stops sending after these, and says so.
BASELINE_LIMIT_SECONDS = 30
ALERTS_LIMIT_SECONDS = 100


# --- Small helpers ------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    """Return the nearest-rank percentile of `values` (0 < fraction <= 1)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f}"


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def with_database(url: str, name: str) -> str:
    return urlsplit(url)._replace(path=f"/{name}").geturl()


def log_tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class BenchError(Exception):
    """A part of the benchmark could not run (a server did not start, a database failed)."""


# --- Processes ----------------------------------------------------------------------------------


class Processes:
    """The processes this benchmark started; each is stopped by its own id, its group with it."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.running: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, name: str, command: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                command,
                cwd=ROOT,
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: its children are stopped with it
            )
        self.running.append((process, log))
        return process, log

    def wait_for(
        self, process: subprocess.Popen[bytes], log: Path, ready: Callable[[], bool], what: str
    ) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if ready():
                return
            if process.poll() is not None:
                raise BenchError(f"{what} exited ({process.returncode}):\n{log_tail(log)}")
            time.sleep(0.2)
        raise BenchError(f"{what} not ready within {START_SECONDS} s:\n{log_tail(log)}")

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        """Stop one process gracefully, then its whole group by force if it lingers."""
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        # Children left behind (gunicorn's workers) are in the group the process led.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        self.running = [entry for entry in self.running if entry[0] is not process]

    def stop_all(self) -> None:
        for process, _ in reversed(list(self.running)):
            self.stop(process)


# --- HTTP load ----------------------------------------------------------------------------------


@dataclass
class Job:
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    tag: int = -1


@dataclass
class Reply:
    job: Job
    status: int
    latency: float
    body: bytes


@dataclass
class Load:
    replies: list[Reply]
    elapsed: float
    errors: list[str]
    stopped_early: bool

    @property
    def rate(self) -> float:
        return len(self.replies) / self.elapsed if self.elapsed else math.nan

    def latencies(self, keep: Callable[[Reply], bool] = lambda reply: True) -> list[float]:
        return [reply.latency for reply in self.replies if keep(reply)]

    def failures(self) -> int:
        return len(self.errors) + sum(1 for reply in self.replies if reply.status >= 300)


def drive(port: int, jobs: list[Job], clients: int, time_limit: float) -> Load:
    """Send the jobs from `clients` threads, each on its own keep-alive connection."""
    pending: Iterator[Job] = iter(jobs)
    lock = threading.Lock()
    replies: list[Reply] = []
    errors: list[str] = []
    started = time.perf_counter()
    deadline = time.monotonic() + time_limit
    stopped_early = threading.Event()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        own: list[Reply] = []
        try:
            while True:
                with lock:
                    job = next(pending, None)
                if job is None:
                    return
                if time.monotonic() > deadline:
                    stopped_early.set()
                    return
                sent = time.perf_counter()
                try:
                    connection.request(job.method, job.path, body=job.body, headers=job.headers)
                    response = connection.getresponse()
                    body = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    connection.close()
                    with lock:
                        errors.append(f"{job.method} {job.path}: {first_line(exc)}")
                    continue
                own.append(Reply(job, response.status, time.perf_counter() - sent, body))
        finally:
            connection.close()
            with lock:
                replies.extend(own)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(time_limit + 60)
    return Load(replies, time.perf_counter() - started, errors, stopped_early.is_set())


# --- Alert ingestion ----------------------------------------------------------------------------


def alert_payload(sample: dict[str, Any], index: int) -> dict[str, Any]:
    """Return one Alertmanager group notification with one alert, the sample's shape."""
    payload = copy.deepcopy(sample)
    name = f"BenchAlert{index:04d}"
    alert = payload["alerts"][0]
    alert["labels"] = {
        "alertname": name,
        "service": "payments",
        "severity": "critical",
        "instance": f"payments-{index:04d}:9100",
    }
    alert["annotations"] = {"summary": f"payments instance {index:04d} returning 503"}
    alert["fingerprint"] = f"{0xBE0C0000 + index:016x}"
    alert["startsAt"] = "2026-11-27T09:21:14.639674242Z"
    payload["groupLabels"] = {"alertname": name, "service": "payments"}
    payload["commonLabels"] = dict(alert["labels"])
    payload["commonAnnotations"] = dict(alert["annotations"])
    payload["groupKey"] = f'{{}}:{{alertname="{name}", service="payments"}}'
    return payload


@dataclass
class Ingestion:
    workers: int
    threads: int
    clients: int
    health: Load
    alerts: Load
    checks: list[tuple[str, bool]]
    summary: str


def start_gunicorn(
    args: argparse.Namespace, processes: Processes
) -> tuple[int, "subprocess.Popen[bytes]"]:
    """Serve the portal with gunicorn (gthread) on a free port; return it once it answers."""
    port = free_port()
    server, log = processes.start(
        "gunicorn",
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(args.threads),
            "--keep-alive",
            "5",
            "--log-level",
            "warning",
        ],
    )

    def answers() -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    processes.wait_for(server, log, answers, "gunicorn")
    return port, server


def run_ingestion(args: argparse.Namespace, processes: Processes) -> Ingestion:
    """Serve the portal with gunicorn and post the alerts; then count what was stored."""
    from django.db.models import Count, Sum

    from incidents.alerting.models import Alert, AlertGroup, AlertSource
    from incidents.models import Incident, Service, Team

    team = Team.objects.create(name="Payments", slug="payments")  # no address: no email
    # Storm grouping off by default: the checks expect one incident per group key (bench/storm.py
    # storms). `--storm-threshold` above the number of groups keeps it on without ever grouping,
    # to measure what the storm check costs every new group.
    service = Service.objects.create(
        name="Payments API", slug="payments-api", team=team, storm_threshold=args.storm_threshold
    )
    # No routing rule: every alert goes to the source's default service and opens an incident.
    source = AlertSource(name="bench-alertmanager", kind=AlertSource.Kind.ALERTMANAGER)
    source.default_service = service
    secret = source.issue_secret()
    source.save()

    port, server = start_gunicorn(args, processes)

    sample = json.loads(SAMPLE.read_text())
    hook = f"/hooks/alertmanager/{source.pk}/"
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"}
    bodies = [json.dumps(alert_payload(sample, i)).encode() for i in range(args.fingerprints)]
    order = [i % args.fingerprints for i in range(args.alerts)]
    random.Random(3).shuffle(order)
    alert_jobs = [Job("POST", hook, bodies[i], headers, tag=i) for i in order]
    health_jobs = [Job("GET", "/healthz") for _ in range(args.alerts)]

    # Warm up every worker thread: imports, URL resolver, a database connection each. The wrong
    # secret is refused (401) before anything is stored.
    wrong = {**headers, "Authorization": "Bearer not-the-secret"}
    drive(port, [Job("GET", "/healthz") for _ in range(200)], args.clients, 30)
    drive(port, [Job("POST", hook, bodies[0], wrong) for _ in range(100)], args.clients, 30)

    health = drive(port, health_jobs, args.clients, BASELINE_LIMIT_SECONDS)
    alerts = drive(port, alert_jobs, args.clients, ALERTS_LIMIT_SECONDS)
    processes.stop(server)

    accepted = [reply for reply in alerts.replies if reply.status == 200]
    decoded = [json.loads(reply.body) for reply in accepted]
    opened_in_replies = sum(len(data.get("incidents_opened", [])) for data in decoded)
    groups_sent = len({reply.job.tag for reply in accepted})

    episodes = Alert.objects.filter(source=source)
    received = episodes.aggregate(total=Sum("receive_count"))["total"] or 0
    incidents = Incident.objects.count()
    groups = AlertGroup.objects.filter(source=source)
    followed = groups.exclude(incident=None).values("incident").distinct().count()
    not_one = Incident.objects.annotate(n=Count("alerts")).exclude(n=1).count()
    in_triage = episodes.filter(incident=None).count()
    checks = [
        (f"{incidents} incidents for {groups_sent} group keys", incidents == groups_sent),
        (
            f"{groups.count()} alert groups, {followed} following distinct incidents",
            groups.count() == followed == groups_sent,
        ),
        (f"{episodes.count()} alert episodes", episodes.count() == groups_sent),
        (
            f"receive counts sum to {received} for {len(accepted)} accepted requests",
            received == len(accepted),
        ),
        (f"{not_one} incidents without exactly one episode", not_one == 0),
        (f"{in_triage} episodes in triage", in_triage == 0),
        (
            f"{opened_in_replies} incidents reported opened in replies",
            opened_in_replies == incidents,
        ),
    ]
    if args.storm_threshold is None:
        # Storm grouping as configured: groups join one storm incident past the threshold, so
        # one incident per group no longer holds; what must is that every episode is on one.
        checks = [
            check
            for check in checks
            if not check[0].endswith(("group keys", "distinct incidents", "exactly one episode"))
        ]
    ok = all(passed for _, passed in checks)
    summary = (
        "nothing lost or duplicated"
        if ok and alerts.failures() == 0 and not alerts.stopped_early
        else "MISMATCH: "
        + "; ".join(text for text, passed in checks if not passed)
        + (f"; {alerts.failures()} requests failed" if alerts.failures() else "")
        + ("; stopped at the time limit" if alerts.stopped_early else "")
    )
    return Ingestion(args.workers, args.threads, args.clients, health, alerts, checks, summary)


def print_ingestion(result: Ingestion, alerts_wanted: int) -> None:
    health, alerts = result.health, result.alerts

    def created(reply: Reply) -> bool:
        return reply.status == 200 and json.loads(reply.body).get("created", 0) > 0

    def repeated(reply: Reply) -> bool:
        return reply.status == 200 and not created(reply)

    rows = [
        ("Alertmanager webhook, 90% repeats", alerts, lambda reply: True, True),
        ("  first delivery: opens an incident", alerts, created, False),
        ("  repeat: counts on the episode", alerts, repeated, False),
        ("GET /healthz (baseline)", health, lambda reply: True, True),
    ]
    print(
        f"\nAlert ingestion: gunicorn {importlib.metadata.version('gunicorn')}, "
        f"{result.workers} workers x {result.threads} threads (gthread), "
        f"{result.clients} concurrent keep-alive clients"
    )
    header = ("measured", "n", "per second", "p50 ms", "p99 ms", "failed")
    print("{:<40} {:>6} {:>11} {:>8} {:>8} {:>7}".format(*header))
    for name, load, keep, with_rate in rows:
        latencies = load.latencies(keep)
        per_second = f"{load.rate:>11.1f}" if with_rate else " " * 11
        failed = f"{load.failures():>7}" if with_rate else ""
        line = (
            f"{name:<40} {len(latencies):>6} {per_second} {ms(percentile(latencies, 0.5)):>8} "
            f"{ms(percentile(latencies, 0.99)):>8} {failed}"
        )
        print(line.rstrip())
    ratio = alerts.rate / health.rate
    print(f"{'ratio: alerts/s to /healthz requests/s':<47} {ratio:>11.2f}x")
    for name, load, limit in (
        ("alerts", alerts, ALERTS_LIMIT_SECONDS),
        ("baseline", health, BASELINE_LIMIT_SECONDS),
    ):
        if load.stopped_early:
            print(f"  {name}: stopped at the {limit} s limit, {len(load.replies)} answered")
    if len(health.replies) and health.failures():
        print(f"  baseline: {health.failures()} requests failed")
    for error in sorted(set(alerts.errors))[:3]:
        print(f"  alerts: {error}")
    for status, count in Counter(r.status for r in alerts.replies if r.status != 200).items():
        print(f"  alerts: {count} answered {status}")
    stored = textwrap.wrap(
        "; ".join(text for text, _ in result.checks), width=92, subsequent_indent="  "
    )
    print("Stored: " + "\n".join(stored))
    print(f"Verdict: {result.summary}")


# --- Escalation timers --------------------------------------------------------------------------


@dataclass
class Timers:
    count: int
    spread: float
    concurrency: int
    scheduled_in: float
    lateness: list[float]
    done: int
    missing: int
    twice: int
    reclaimed: int
    by_sweep: int
    waited: float


SWEEP_LINE = re.compile(r"timers_sweep_task\[[^\]]+\] succeeded in [\d.]+s: (\d+)")


def run_timers(args: argparse.Namespace, processes: Processes) -> Timers:
    """Schedule timers due over the next seconds; let a real worker and beat fire them."""
    from datetime import timedelta

    from django.db import connection
    from django.utils import timezone

    from bench.timer_effect import CREATE_TABLE, EFFECT_TABLE, KIND
    from portal.models import Timer
    from portal.timers import timer_schedule

    with connection.cursor() as cursor:
        cursor.execute(CREATE_TABLE)

    worker, worker_log = processes.start(
        "worker",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--queues",
            ",".join(QUEUES),
            "--pool",
            "threads",
            "--concurrency",
            str(args.worker_concurrency),
            "--include",
            "bench.timer_effect",
            "--hostname",
            f"bench-{os.getpid()}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            "INFO",
        ],
    )
    processes.wait_for(
        worker, worker_log, lambda: " ready." in worker_log.read_text(), "celery worker"
    )
    beat, beat_log = processes.start(
        "beat",
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "beat",
            "--loglevel",
            "INFO",
            "--schedule",
            str(processes.workdir / "celerybeat-schedule"),
        ],
    )
    processes.wait_for(
        beat, beat_log, lambda: "beat: Starting" in beat_log.read_text(), "celery beat"
    )

    rng = random.Random(5)
    lead = timedelta(seconds=3)  # scheduling 1,000 timers takes a moment; none is due before
    base = timezone.now() + lead
    offsets = [rng.uniform(0, args.spread) for _ in range(args.timers)]
    started = time.perf_counter()
    for index, offset in enumerate(offsets):
        timer_schedule(kind=KIND, key=f"bench-{index}", due_at=base + timedelta(seconds=offset))
    scheduled_in = time.perf_counter() - started

    timers = Timer.objects.filter(kind=KIND)
    open_states = (Timer.State.PENDING, Timer.State.CLAIMED)
    last_due = base + timedelta(seconds=max(offsets, default=0))
    # Wait for the last timer, plus one and a half sweep periods for any a wake-up missed.
    deadline = time.monotonic() + (last_due - timezone.now()).total_seconds() + 20
    waiting_since = time.monotonic()
    while timers.filter(state__in=open_states).exists() and time.monotonic() < deadline:
        if worker.poll() is not None:
            raise BenchError(f"celery worker exited ({worker.returncode}):\n{log_tail(worker_log)}")
        time.sleep(0.25)
    waited = time.monotonic() - waiting_since
    processes.stop(beat)
    processes.stop(worker)

    rows = list(timers.values_list("pk", "state", "due_at", "finished_at", "attempts"))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT timer_id, count(*) FROM {EFFECT_TABLE} GROUP BY timer_id")  # noqa: S608 - constant table name
        effects = dict(cursor.fetchall())
    done = [row for row in rows if row[1] == Timer.State.DONE]
    by_sweep = sum(int(found) for found in SWEEP_LINE.findall(worker_log.read_text()))
    return Timers(
        count=len(rows),
        spread=args.spread,
        concurrency=args.worker_concurrency,
        scheduled_in=scheduled_in,
        lateness=[(finished - due).total_seconds() for _, _, due, finished, _ in done if finished],
        done=len(done),
        missing=sum(1 for row in rows if effects.get(row[0], 0) == 0),
        twice=sum(1 for row in rows if effects.get(row[0], 0) > 1),
        reclaimed=sum(1 for row in rows if row[4] > 1),
        by_sweep=by_sweep,
        waited=waited,
    )


def print_timers(result: Timers, sweep_seconds: float) -> None:
    late = result.lateness
    print(
        f"\nEscalation timers: {result.count} due over {result.spread:g} s, scheduled in "
        f"{result.scheduled_in:.1f} s; celery worker (threads x {result.concurrency}) + beat "
        f"(sweep every {sweep_seconds:g} s)"
    )
    print(
        f"lateness after due_at (finished_at - due_at): p50 {ms(percentile(late, 0.5))} ms, "
        f"p99 {ms(percentile(late, 0.99))} ms, max {ms(max(late, default=math.nan))} ms"
    )
    print(
        f"fired by the ETA wake-up: {result.done - result.by_sweep}, by the beat sweep: "
        f"{result.by_sweep}; claimed more than once: {result.reclaimed}"
    )
    exact = result.count - result.missing - result.twice
    verdict = "every timer fired exactly once" if exact == result.count else "MISMATCH"
    print(
        f"Verdict: {verdict} ({exact} of {result.count} once, {result.missing} never, "
        f"{result.twice} twice; {result.count - result.done} not done after "
        f"{result.waited:.0f} s)"
    )


# --- Setup and teardown -------------------------------------------------------------------------


def postgres_version(url: str) -> str:
    with psycopg.connect(url, connect_timeout=3) as connection:
        number = connection.info.server_version
    return f"{number // 10000}.{number % 10000}"


def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def drop_stale_databases(admin_url: str) -> None:
    """Drop databases left by benchmark runs that were killed before they could clean up."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as connection:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", [DB_PREFIX + "%"]
            )
        ]
        for name in names:
            pid = name.removeprefix(DB_PREFIX)
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                os.kill(int(pid), 0)
                continue  # that run is still going
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
            drop_database(admin_url, name)


def create_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextmanager
def terminate_cleanly() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so the cleanup in `finally` blocks runs."""

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, leave)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def clean_up(
    processes: "Processes",
    *,
    args: argparse.Namespace,
    redis_ok: bool,
    database: str | None,
    workdir: Path,
) -> None:
    """Stop what a benchmark started, flush its Redis database, drop its throwaway database."""
    processes.stop_all()
    if redis_ok:
        with suppress(redis.RedisError):
            redis_client(args.redis).flushdb()
    if database is not None:
        with suppress(ImportError):
            from django.db import connections

            connections.close_all()
        drop_database(args.postgres, database)
    shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="a database to connect to")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="a Redis database to flush and use")
    parser.add_argument("--alerts", type=int, default=10_000, help="alert requests to post")
    parser.add_argument("--fingerprints", type=int, default=1_000, help="distinct alerts")
    parser.add_argument(
        "--storm-threshold",
        type=lambda text: None if text == "default" else int(text),
        default=0,
        help="the service's storm threshold (0: storm grouping off; default: the setting's)",
    )
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--timers", type=int, default=1_000, help="escalation timers")
    parser.add_argument(
        "--spread", type=float, default=10.0, help="seconds the timers are due over"
    )
    parser.add_argument("--worker-concurrency", type=int, default=8, help="celery worker threads")
    args = parser.parse_args()

    python = sys.version.split()[0]
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\nFirebreak detection benchmark (Python {python}, {os.cpu_count()} CPUs, load {load})")
    try:
        version = postgres_version(args.postgres)
    except psycopg.Error as exc:
        print("Skipped alert ingestion and escalation timers: PostgreSQL is not reachable at")
        print(f"  {args.postgres} ({first_line(exc)}); start it or pass --postgres URL.")
        return 0
    redis_problem = ""
    try:
        redis_client(args.redis).ping()
    except redis.RedisError as exc:
        redis_problem = first_line(exc)
    redis_ok = not redis_problem
    has_gunicorn = importlib.util.find_spec("gunicorn") is not None

    workdir = Path(tempfile.mkdtemp(prefix="firebreak-bench-"))
    name = f"{DB_PREFIX}{os.getpid()}"
    database_url = with_database(args.postgres, name)
    sweep_seconds = 10.0
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        # Production settings, as in service, but over plain HTTP on the loopback.
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "DJANGO_STATIC_ROOT": str(workdir / "static"),
        "FIREBREAK_VAR_DIR": str(workdir),
        "FIREBREAK_LOG_LEVEL": "WARNING",
        "FIREBREAK_TIMER_SWEEP_SECONDS": str(sweep_seconds),
        "DATABASE_URL": database_url,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
    }
    for variable in ("REDIS_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER"):
        env.pop(variable, None)
    if redis_ok:
        env["REDIS_URL"] = env["CELERY_BROKER_URL"] = args.redis
    else:
        # Without Redis the paging tasks queue in the filesystem broker under the workdir.
        (workdir / "broker").mkdir()
    os.environ.clear()
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    processes = Processes(env, workdir)
    created = False
    try:
        drop_stale_databases(args.postgres)
        create_database(args.postgres, name)
        created = True
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        broker = f"Redis {args.redis}" if redis_ok else "filesystem broker (Redis unreachable)"
        print(f"PostgreSQL {version}, throwaway database {name}; {broker}")
        if redis_ok:
            redis_client(args.redis).flushdb()

        if args.alerts <= 0:
            print("\nSkipped alert ingestion: --alerts 0.")
        elif has_gunicorn:
            ingestion = run_ingestion(args, processes)
            print_ingestion(ingestion, args.alerts)
            if redis_ok:
                queued = sum(redis_client(args.redis).llen(queue) for queue in QUEUES)
                print(f"Tasks the ingestion queued on Redis after commit (not run here): {queued}")
        else:
            print("\nSkipped alert ingestion: gunicorn is missing; run .venv/bin/pip install -e .")

        if args.timers <= 0:
            print("\nSkipped escalation timers: --timers 0.")
        elif redis_ok:
            # The paging tasks the ingestion queued are not this section's work.
            redis_client(args.redis).flushdb()
            timers = run_timers(args, processes)
            print_timers(timers, sweep_seconds)
        else:
            print(f"\nSkipped escalation timers: Redis is not reachable at {args.redis}")
            print(f"  ({redis_problem}); the worker and beat need a broker they share.")
    except (BenchError, psycopg.Error) as exc:
        print(f"\nThe detection benchmark could not finish: {exc}")
        return 1
    finally:
        clean_up(
            processes,
            args=args,
            redis_ok=redis_ok,
            database=name if created else None,
            workdir=workdir,
        )
    return 0


if __name__ == "__main__":
    with terminate_cleanly():
        try:
            sys.exit(main())
        except KeyboardInterrupt:
            print("\nInterrupted; the servers, the database and the Redis keys are cleaned up.")
            sys.exit(130)
