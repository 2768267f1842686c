"""Firebreak status page benchmark: the public page and its JSON through gunicorn, from the cache.

With 10,000 historical public incidents (each with three updates, affected components and
component status history), measures requests/s and p50/p99 latency of `GET /status/`,
`GET /status/api/v2/summary.json` and a conditional `GET /status/` answered 304, each as a ratio
to `GET /healthz` in the same server and run; then how long a page takes right after a change
(not cached yet); with --snapshot, how long the static snapshot of everything public takes to
write, in full and after a change.

Runs the product as in service, with the infrastructure of bench/detection.py: production
settings, a throwaway PostgreSQL database (created, migrated and dropped here), gunicorn on a
free port of 127.0.0.1, Redis as cache (a database of its own, flushed before and after).
Prints numbers; asserts nothing. Cleaned up on any exit but SIGKILL.

    .venv/bin/python bench/statuspage.py [--history 10000 --requests 5000]

bench/run.py (`make bench`) runs it after bench/detection.py.
"""

import argparse
import http.client
import importlib.metadata
import importlib.util
import json
import os
import random
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import redis  # noqa: E402

from bench.detection import (  # noqa: E402
    DB_PREFIX,
    DEFAULT_POSTGRES,
    DEFAULT_REDIS,
    BenchError,
    Job,
    Load,
    Processes,
    clean_up,
    create_database,
    drive,
    drop_stale_databases,
    first_line,
    ms,
    percentile,
    postgres_version,
    redis_client,
    start_gunicorn,
    terminate_cleanly,
    with_database,
)

LOAD_LIMIT_SECONDS = 30  # each load phase stops sending after this, and says so
TARGET_RATIO = 0.8  # the target: cached pages at least 0.8x the trivial view
CHANGES = 20  # uncached renders measured, one after each change
ROUNDS = 3  # the URLs are measured in turn, this many times each


# --- Data ---------------------------------------------------------------------------------------


@dataclass
class History:
    incidents: int
    updates: int
    status_changes: int
    seconds: float


def create_history(count: int) -> History:
    """Create `count` resolved public incidents over five years, plus one open and a maintenance."""
    from django.db import transaction
    from django.utils import timezone

    from incidents.statuspage.models import (
        AffectedComponent,
        Component,
        ComponentGroup,
        ComponentStatusChange,
        PublicIncident,
        PublicUpdate,
    )
    from incidents.statuspage.version import status_version_bump

    started = time.perf_counter()
    rng = random.Random(11)
    now = timezone.now()
    batch = 2000
    with transaction.atomic():
        groups = ComponentGroup.objects.bulk_create(
            ComponentGroup(name=name, position=index)
            for index, name in enumerate(("Payments", "Dashboard", "API"))
        )
        components = Component.objects.bulk_create(
            Component(
                name=f"{group.name} {part}",
                group=group,
                position=position,
                start_date=(now - timedelta(days=5 * 365)).date(),
            )
            for group in groups
            for position, part in enumerate(("web", "workers", "database", "webhooks"))
        )
        records = []
        for index in range(count):
            begin = now - timedelta(seconds=rng.uniform(86400, 5 * 365 * 86400))
            records.append(
                PublicIncident(
                    name=f"Elevated error rates #{index}",
                    status="resolved",
                    impact=rng.choice(("minor", "major", "critical")),
                    started_at=begin,
                    monitoring_at=begin + timedelta(minutes=30),
                    resolved_at=begin + timedelta(minutes=rng.randint(45, 240)),
                )
            )
        records = PublicIncident.objects.bulk_create(records, batch_size=batch)
        links, updates, affected, changes = [], [], [], []
        through = PublicIncident.components.through
        for record in records:
            component = rng.choice(components)
            bad = rng.choice(("degraded_performance", "partial_outage", "major_outage"))
            assert record.resolved_at is not None
            links.append(through(publicincident_id=record.pk, component_id=component.pk))
            steps = (
                ("investigating", record.started_at, "We are investigating elevated errors."),
                ("monitoring", record.monitoring_at, "A fix is in place; we are monitoring."),
                ("resolved", record.resolved_at, "Error rates are back to normal."),
            )
            for status, at, body in steps:
                updates.append(
                    PublicUpdate(public_incident=record, status=status, body=body, display_at=at)
                )
            changes.append(
                ComponentStatusChange(
                    component=component,
                    old_status="operational",
                    new_status=bad,
                    changed_at=record.started_at,
                    public_incident=record,
                )
            )
            changes.append(
                ComponentStatusChange(
                    component=component,
                    old_status=bad,
                    new_status="operational",
                    changed_at=record.resolved_at,
                    public_incident=record,
                )
            )
        through.objects.bulk_create(links, batch_size=batch)
        updates = PublicUpdate.objects.bulk_create(updates, batch_size=batch)
        for link, first, last in zip(links, updates[::3], updates[2::3], strict=True):
            component_id = link.component_id
            affected.append(
                AffectedComponent(
                    update=first,
                    component_id=component_id,
                    old_status="operational",
                    new_status="partial_outage",
                )
            )
            affected.append(
                AffectedComponent(
                    update=last,
                    component_id=component_id,
                    old_status="partial_outage",
                    new_status="operational",
                )
            )
        AffectedComponent.objects.bulk_create(affected, batch_size=batch)
        ComponentStatusChange.objects.bulk_create(changes, batch_size=batch)

        # What the page shows now: one open incident and a maintenance to come.
        broken = components[0]
        open_incident = PublicIncident.objects.create(
            name="Card payments are failing",
            status="identified",
            impact="major",
            started_at=now - timedelta(minutes=20),
        )
        open_incident.components.add(broken)
        PublicUpdate.objects.create(
            public_incident=open_incident,
            status="identified",
            body="Some card payments fail; we have found the cause and are fixing it.",
            display_at=now - timedelta(minutes=20),
        )
        ComponentStatusChange.objects.create(
            component=broken,
            old_status="operational",
            new_status="partial_outage",
            changed_at=now - timedelta(minutes=20),
        )
        Component.objects.filter(pk=broken.pk).update(status="partial_outage")
        maintenance = PublicIncident.objects.create(
            kind="maintenance",
            name="Database upgrade",
            status="scheduled",
            started_at=now + timedelta(days=3),
            scheduled_for=now + timedelta(days=3),
            scheduled_until=now + timedelta(days=3, hours=1),
        )
        PublicUpdate.objects.create(
            public_incident=maintenance,
            status="scheduled",
            body="We will upgrade the primary database.",
            display_at=now,
        )
        status_version_bump()
    return History(
        incidents=len(records),
        updates=len(updates) + 2,
        status_changes=len(changes) + 1,
        seconds=time.perf_counter() - started,
    )


# --- Measuring ----------------------------------------------------------------------------------


def fetch(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


@dataclass
class Row:
    name: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    expected: int = 200
    load: Load = field(default_factory=lambda: Load([], 0.0, [], False))

    def add(self, load: Load) -> None:
        self.load = Load(
            self.load.replies + load.replies,
            self.load.elapsed + load.elapsed,
            self.load.errors + load.errors,
            self.load.stopped_early or load.stopped_early,
        )

    def failures(self) -> int:
        return len(self.load.errors) + sum(
            1 for reply in self.load.replies if reply.status != self.expected
        )


def uncached_latencies(port: int, path: str) -> list[float]:
    """Time `path` right after each of a few changes (a version bump: nothing cached yet)."""
    from django.db import transaction

    from incidents.statuspage.version import LOCAL_SECONDS, status_version_bump

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies = []
    try:
        for _ in range(CHANGES):
            with transaction.atomic():
                status_version_bump()
            # The server's processes keep the version they read for LOCAL_SECONDS: wait until
            # they must have seen this change, so the request below renders it.
            time.sleep(LOCAL_SECONDS + 0.1)
            sent = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise BenchError(f"GET {path} answered {response.status} after a change")
            latencies.append(time.perf_counter() - sent)
    finally:
        connection.close()
    return latencies


def run(args: argparse.Namespace, processes: Processes, workdir: Path) -> None:
    history = create_history(args.history)
    print(
        f"History: {history.incidents} resolved public incidents over 5 years, "
        f"{history.updates} updates, {history.status_changes} component status changes "
        f"(bulk_create in {history.seconds:.1f} s)"
    )
    port, _ = start_gunicorn(args, processes)

    status, headers, page = fetch(port, "/status/")
    if status != 200:
        raise BenchError(f"GET /status/ answered {status}")
    etag = headers.get("ETag", "")
    _, _, summary = fetch(port, "/status/api/v2/summary.json")
    paths = ("/healthz", "/status/", "/status/api/v2/summary.json")
    for path in paths:  # warm up every worker thread: imports, connections, the cache entries
        drive(port, [Job("GET", path) for _ in range(200)], args.clients, LOAD_LIMIT_SECONDS)
    conditional = {"If-None-Match": etag}

    rows = [
        Row("GET /healthz (baseline)", "/healthz"),
        Row("GET /status/", "/status/"),
        Row("GET /status/api/v2/summary.json", "/status/api/v2/summary.json"),
        Row("GET /status/ If-None-Match: 304", "/status/", conditional, expected=304),
    ]
    # In rounds, each URL in turn: whatever else the machine does weighs on all of them alike.
    per_round = max(1, args.requests // ROUNDS)
    for _ in range(ROUNDS):
        # The page's ETag also changes every quarter of an hour (its uptime bars): take it anew.
        conditional["If-None-Match"] = fetch(port, "/status/")[1].get("ETag", "")
        for row in rows:
            jobs = [Job("GET", row.path, headers=row.headers) for _ in range(per_round)]
            row.add(drive(port, jobs, args.clients, LOAD_LIMIT_SECONDS))
    after_change = [
        ("GET /status/ after a change", uncached_latencies(port, "/status/")),
        (
            "GET summary.json after a change",
            uncached_latencies(port, "/status/api/v2/summary.json"),
        ),
    ]
    processes.stop_all()

    print(
        f"\nPublic pages: gunicorn {importlib.metadata.version('gunicorn')}, {args.workers} "
        f"workers x {args.threads} threads (gthread), {args.clients} concurrent keep-alive "
        f"clients; /status/ is {len(page) / 1000:.0f} kB, summary.json {len(summary) / 1000:.1f} kB"
    )
    header = ("measured", "n", "per second", "p50 ms", "p99 ms", "failed", "ratio")
    print("{:<36} {:>6} {:>11} {:>8} {:>8} {:>7} {:>7}".format(*header))
    baseline = rows[0].load.rate
    for row in rows:
        latencies = row.load.latencies()
        print(
            f"{row.name:<36} {len(latencies):>6} {row.load.rate:>11.1f} "
            f"{ms(percentile(latencies, 0.5)):>8} {ms(percentile(latencies, 0.99)):>8} "
            f"{row.failures():>7} {row.load.rate / baseline:>6.2f}x"
        )
        if row.load.stopped_early:
            print(f"  stopped at the {LOAD_LIMIT_SECONDS} s limit, {len(latencies)} answered")
    for name, latencies in after_change:
        print(
            f"{name:<36} {len(latencies):>6} {'':>11} {ms(percentile(latencies, 0.5)):>8} "
            f"{ms(percentile(latencies, 0.99)):>8}"
        )
    ratios = [row.load.rate / baseline for row in rows[1:]]
    failed = sum(row.failures() for row in rows)
    verdict = "met" if min(ratios) >= TARGET_RATIO and not failed else "NOT met"
    print(
        f"Target (cached pages >= {TARGET_RATIO}x GET /healthz): {verdict}"
        + (f"; {failed} requests failed" if failed else "")
    )

    if args.snapshot:
        time_snapshots(workdir / "status-snapshot")


def time_snapshots(directory: Path) -> None:
    """Time the full static snapshot, then the refresh after one change (unchanged pages kept)."""
    from django.db import transaction
    from django.utils import timezone

    from incidents.statuspage.models import PublicIncident, PublicUpdate
    from incidents.statuspage.snapshot import snapshot_refresh, snapshot_write
    from incidents.statuspage.version import status_version_bump

    started = time.perf_counter()
    written = snapshot_write(directory=directory)
    full = time.perf_counter() - started
    size = sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
    print(
        f"Static snapshot, everything (statuspage_export): {len(written)} files, "
        f"{size / 1e6:.1f} MB, in {full:.1f} s"
    )
    with transaction.atomic():  # a new update on the open incident, as a publish writes it
        record = PublicIncident.objects.get(name="Card payments are failing")
        PublicUpdate.objects.create(
            public_incident=record,
            status="monitoring",
            body="A fix is deployed; we are monitoring.",
            display_at=timezone.now(),
        )
        status_version_bump()
    started = time.perf_counter()
    refreshed = snapshot_refresh(directory=directory) or []
    seconds = time.perf_counter() - started
    manifest = json.loads((directory / "snapshot.json").read_text())
    print(
        f"Static snapshot after a change (the task on every change): {len(refreshed)} files, "
        f"{manifest['incident_pages_kept']} unchanged incident pages kept, in {seconds:.1f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="a database to connect to")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="a Redis database to flush and use")
    parser.add_argument("--history", type=int, default=10_000, help="historical incidents")
    parser.add_argument("--requests", type=int, default=2_400, help="requests per URL measured")
    parser.add_argument("--clients", type=int, default=16, help="concurrent HTTP clients")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument(
        "--snapshot",
        action="store_true",
        help="also time the static snapshot: everything, then after a change (minutes)",
    )
    # bench/run.py hands on the options of bench/detection.py too: ignore those.
    args, _ = parser.parse_known_args()

    python = sys.version.split()[0]
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"\nFirebreak status page benchmark (Python {python}, {os.cpu_count()} CPUs, load {load})"
    )
    try:
        version = postgres_version(args.postgres)
    except psycopg.Error as exc:
        print("Skipped the status page: PostgreSQL is not reachable at")
        print(f"  {args.postgres} ({first_line(exc)}); start it or pass --postgres URL.")
        return 0
    if importlib.util.find_spec("gunicorn") is None:
        print("Skipped the status page: gunicorn is missing; run .venv/bin/pip install -e .")
        return 0
    redis_problem = ""
    try:
        redis_client(args.redis).ping()
    except redis.RedisError as exc:
        redis_problem = first_line(exc)
    redis_ok = not redis_problem

    workdir = Path(tempfile.mkdtemp(prefix="firebreak-bench-"))
    name = f"{DB_PREFIX}{os.getpid()}"
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
        "FIREBREAK_STATUS_SNAPSHOT_DIR": "",  # no snapshot on every change while measuring
        "DATABASE_URL": with_database(args.postgres, name),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "PYTHONUNBUFFERED": "1",
    }
    for variable in ("REDIS_URL", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER"):
        env.pop(variable, None)
    if redis_ok:
        env["REDIS_URL"] = env["CELERY_BROKER_URL"] = args.redis
    else:
        (workdir / "broker").mkdir()
    os.environ.clear()
    os.environ.update(env)
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
        cache = f"Redis {args.redis}" if redis_ok else "the file cache (Redis unreachable)"
        print(f"PostgreSQL {version}, throwaway database {name}; cache: {cache}")
        if redis_ok:
            redis_client(args.redis).flushdb()
        run(args, processes, workdir)
    except (BenchError, psycopg.Error) as exc:
        print(f"\nThe status page benchmark could not finish: {exc}")
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
            print("\nInterrupted; the server, the database and the Redis keys are cleaned up.")
            sys.exit(130)
