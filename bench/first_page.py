"""Firebreak first-page benchmark: how long from an alert's POST to the first page sent for it.

Runs the product as in service, with real processes: production settings (over plain HTTP on the
loopback), a throwaway PostgreSQL database `firebreak_bench_first_page_<pid>` (created, migrated
and dropped here; one a killed run left behind is dropped by the next), a Redis server of its own
on port 6391 (started and stopped here: never a shared one), gunicorn serving the portal, one
`celery worker` (queues paging,default,jobs, 4 threads, as in the Procfile) and one `celery beat`.
Mail goes to Django's local-memory backend: nothing leaves the machine. The world is the demo's:
the Payments team (members, engineering manager, escalation contact) with a weekly on-call
rotation of people reached by email, an Alertmanager source whose `severity=critical` alerts a
routing rule sends to the Payments API as P1.

Two scenarios, each posting 20 distinct firing alerts (one new incident each) one second apart:

- calm: everything up;
- broker unreachable from the web: gunicorn's CELERY_BROKER_URL names a closed port while the
  worker and beat use the real broker (a Redis restart or a network blip as the alerts arrive).

For each alert: latency = the earliest `Page.sent_at` of its incident (read from the database)
minus the wall-clock time just before its POST. An alert whose incident has no page sent within
`--wait` seconds of its POST counts as never paged. Prints numbers; asserts nothing. Everything it
started is stopped by process id, and the database dropped, on any exit but SIGKILL.

    .venv/bin/python bench/first_page.py [--alerts-per-scenario 20 --wait 60]
    .venv/bin/python bench/first_page.py --tree /tmp/baseline   # the code of another checkout

bench/run.py (`make bench`) runs it after bench/detection.py.
"""

import argparse
import http.client
import importlib.metadata
import json
import math
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import redis  # noqa: E402

from bench.detection import (  # noqa: E402
    DEFAULT_POSTGRES,
    QUEUES,
    SAMPLE,
    BenchError,
    Processes,
    alert_payload,
    create_database,
    drop_database,
    first_line,
    free_port,
    log_tail,
    percentile,
    postgres_version,
    start_gunicorn,
    terminate_cleanly,
    with_database,
)

DB_NAME_PREFIX = "firebreak_bench_first_page_"  # then the pid of the run
REDIS_PORT = 6391
SWEEP_SECONDS = 10.0
HTTP_TIMEOUT = 30.0


# --- Processes in another tree ------------------------------------------------------------------


class TreeProcesses(Processes):
    """detection.Processes, run in the tree under test, with per-process environment changes."""

    def __init__(self, env: dict[str, str], workdir: Path, tree: Path) -> None:
        super().__init__(env, workdir)
        self.tree = tree
        self.overrides: dict[str, str] = {}

    @contextmanager
    def overriding(self, **variables: str) -> Iterator[None]:
        """Start the processes started inside the block with these variables changed."""
        previous = self.overrides
        self.overrides = {**previous, **variables}
        try:
            yield
        finally:
            self.overrides = previous

    def start(self, name: str, command: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                command,
                cwd=self.tree,
                env={**self.env, **self.overrides},
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: its children are stopped with it
            )
        self.running.append((process, log))
        return process, log


def drop_stale_databases(admin_url: str) -> None:
    """Drop the databases of runs that were killed before they could clean up."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as connection:
        names = [
            row[0]
            for row in connection.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s", [DB_NAME_PREFIX + "%"]
            )
        ]
    for name in names:
        pid = name.removeprefix(DB_NAME_PREFIX)
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


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def start_redis(processes: TreeProcesses, executable: str, port: int) -> str:
    """Start a Redis server of our own in the foreground (stopped by its pid); return its URL."""
    server, log = processes.start(
        "redis",
        [
            executable,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(processes.workdir),
        ],
    )
    url = f"redis://127.0.0.1:{port}/0"

    def answers() -> bool:
        try:
            return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    processes.wait_for(server, log, answers, "redis-server")
    return url


def start_celery(processes: TreeProcesses, concurrency: int) -> None:
    """One worker on every queue with the Procfile's options, and beat; return once both run."""
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
            str(concurrency),
            "--hostname",
            f"bench-first-page-{os.getpid()}@%h",
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


# --- The world ----------------------------------------------------------------------------------


@dataclass
class World:
    source_id: int
    secret: str


def create_world() -> World:
    """The demo's Payments team, its on-call by email, and an Alertmanager source routing P1."""
    from datetime import date, time, timedelta

    from django.contrib.auth.models import Group, User

    from incidents.alerting.models import AlertSource, RoutingRule
    from incidents.models import Service, Severity, Team
    from incidents.oncall.models import ContactMethod, Rotation, RotationParticipant, Schedule
    from portal.auth import MANAGERS, RESPONDERS

    def person(username: str, first: str, group: str) -> User:
        user = User.objects.create_user(
            username,
            email=f"{username}@example.com",
            password=secrets.token_urlsafe(12),
            first_name=first,
        )
        user.groups.add(Group.objects.get(name=group))
        return user

    responders = [person(name, name.title(), RESPONDERS) for name in ("alice", "bob", "carol")]
    maria = person("maria", "Maria", MANAGERS)
    victor = person("victor", "Victor", MANAGERS)
    team = Team.objects.create(
        name="Payments",
        slug="payments",
        email="payments-team@example.com",
        time_zone="Europe/Berlin",
        escalation_contact=victor,
    )
    team.members.add(*responders)
    team.engineering_managers.add(maria)
    # Storm grouping off: every alert is its own incident, whose first page is measured.
    service = Service.objects.create(
        name="Payments API", slug="payments-api", team=team, storm_threshold=0
    )
    schedule = Schedule.objects.create(
        name="Payments primary", slug="payments-primary", team=team, time_zone=team.time_zone
    )
    rotation = Rotation.objects.create(
        schedule=schedule,
        name="Weekly",
        shift_length=timedelta(days=7),
        handoff_time=time(9, 0),
        start_date=date(2026, 1, 5),  # a Monday, as in the demo
    )
    for position, user in enumerate(responders):
        RotationParticipant.objects.create(rotation=rotation, user=user, position=position)
        ContactMethod.objects.create(
            user=user, kind=ContactMethod.Kind.EMAIL, address=user.email, label="Work email"
        )
    source = AlertSource(name="bench-alertmanager", kind=AlertSource.Kind.ALERTMANAGER)
    source.default_service = service
    secret = source.issue_secret()
    source.save()
    RoutingRule.objects.create(
        name="Critical alerts page",
        source=source,
        position=10,
        match_labels={"severity": "critical"},
        service=service,
        severity=Severity.objects.get(code="P1"),
    )
    return World(source.pk, secret)


# --- One scenario -------------------------------------------------------------------------------


@dataclass
class Sent:
    fingerprint: str
    posted_at: float  # wall clock (time.time()) just before the request
    status: int = 0  # 0: no answer (connection error or timeout)
    seconds: float = math.nan
    error: str = ""


@dataclass
class Scenario:
    name: str
    sent: list[Sent]
    wait: float
    # Per alert (by fingerprint), seconds after its POST; absent: not there.
    incident_at: dict[str, float] = field(default_factory=dict)
    engaged_at: dict[str, float] = field(default_factory=dict)
    page_row_at: dict[str, float] = field(default_factory=dict)
    first_page: dict[str, float] = field(default_factory=dict)
    oncall_page: dict[str, float] = field(default_factory=dict)
    incidents: int = 0
    pages: int = 0
    pages_sent: int = 0
    page_states: Counter[str] = field(default_factory=Counter)
    waited: float = 0.0

    def within(self, seconds: dict[str, float]) -> list[float]:
        """Every alert's figure, infinite when there is none within the wait."""
        return [
            seconds[s.fingerprint]
            if s.fingerprint in seconds and seconds[s.fingerprint] <= self.wait
            else math.inf
            for s in self.sent
        ]


def post_alerts(
    port: int, world: World, first_index: int, count: int, interval: float
) -> list[Sent]:
    """POST `count` new alerts `interval` seconds apart, each from its own thread; wait for all."""
    sample = json.loads(SAMPLE.read_text())
    hook = f"/hooks/alertmanager/{world.source_id}/"
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {world.secret}"}
    sent: list[Sent] = []
    threads = []

    def post(record: Sent, body: bytes) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT)
        started = time.perf_counter()
        try:
            connection.request("POST", hook, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            record.status = response.status
        except (OSError, http.client.HTTPException) as exc:
            record.error = first_line(exc)
        finally:
            record.seconds = time.perf_counter() - started
            connection.close()

    start = time.monotonic() + 0.2
    for n in range(count):
        payload = alert_payload(sample, first_index + n)
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        payload["alerts"][0]["startsAt"] = now
        body = json.dumps(payload).encode()
        delay = start + n * interval - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        record = Sent(payload["alerts"][0]["fingerprint"], time.time())
        sent.append(record)
        thread = threading.Thread(target=post, args=(record, body), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(HTTP_TIMEOUT + 5)
    return sent


def observe(scenario: Scenario, world: World, final: bool = False) -> int:
    """Read what the database says about the scenario's alerts; return how many are done."""
    from django.db.models import Min

    from incidents.alerting.models import Alert
    from incidents.models import Incident
    from incidents.oncall.models import IncidentEngagement, Page

    posted = {s.fingerprint: s.posted_at for s in scenario.sent}
    incident_of = dict(
        Alert.objects.filter(source_id=world.source_id, fingerprint__in=posted)
        .exclude(incident=None)
        .values_list("fingerprint", "incident_id")
    )
    ids = set(incident_of.values())
    first_sent = dict(
        Page.objects.filter(incident_id__in=ids, sent_at__isnull=False)
        .values("incident_id")
        .annotate(first=Min("sent_at"))
        .values_list("incident_id", "first")
    )
    after = {
        fp: first_sent[pk].timestamp() - posted[fp]
        for fp, pk in incident_of.items()
        if pk in first_sent
    }
    scenario.first_page = after
    if not final:
        # Done when every alert's incident has had its first page and its on-call's page sent.
        oncall_sent = (
            Page.objects.filter(
                incident_id__in=ids, sent_at__isnull=False, kind=Page.Kind.ESCALATION
            )
            .values("incident_id")
            .distinct()
            .count()
        )
        return min(len(after), oncall_sent if len(ids) == len(posted) else 0)

    def since(found: dict[int, datetime]) -> dict[str, float]:
        return {
            fp: found[pk].timestamp() - posted[fp] for fp, pk in incident_of.items() if pk in found
        }

    scenario.incidents = len(ids)
    scenario.incident_at = since(
        dict(Incident.objects.filter(pk__in=ids).values_list("pk", "created_at"))
    )
    scenario.engaged_at = since(
        dict(
            IncidentEngagement.objects.filter(incident_id__in=ids).values_list(
                "incident_id", "engaged_at"
            )
        )
    )
    pages = list(
        Page.objects.filter(incident_id__in=ids).values_list(
            "incident_id", "kind", "state", "created_at", "sent_at"
        )
    )
    scenario.pages = len(pages)
    scenario.pages_sent = sum(1 for page in pages if page[4] is not None)
    scenario.page_states = Counter(f"{page[1]} {page[2]}" for page in pages)
    first_row: dict[int, datetime] = {}
    oncall: dict[int, datetime] = {}
    for incident_id, kind, _, created_at, sent_at in pages:
        if sent_at is None:
            continue
        if sent_at == first_sent.get(incident_id):
            first_row.setdefault(incident_id, created_at)
        if kind == Page.Kind.ESCALATION and (
            incident_id not in oncall or sent_at < oncall[incident_id]
        ):
            oncall[incident_id] = sent_at
    scenario.page_row_at = since(first_row)
    scenario.oncall_page = since(oncall)
    return len(after)


def run_scenario(
    name: str,
    args: argparse.Namespace,
    processes: TreeProcesses,
    world: World,
    first_index: int,
    broker_override: str | None,
) -> Scenario:
    overrides = {"CELERY_BROKER_URL": broker_override} if broker_override else {}
    with processes.overriding(**overrides):
        port, server = start_gunicorn(args, processes)
    # Warm up every server thread (imports, URL resolver, a database connection each).
    for _ in range(4 * args.workers * args.threads):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        with suppress(OSError, http.client.HTTPException):
            connection.request("GET", "/healthz")
            connection.getresponse().read()
        connection.close()
    try:
        sent = post_alerts(port, world, first_index, args.alerts_per_scenario, args.interval)
        scenario = Scenario(name, sent, args.wait)
        deadline = max((s.posted_at for s in sent), default=time.time()) + args.wait
        waiting_since = time.monotonic()
        while time.time() < deadline:
            for process, log in processes.running:
                if process.poll() is not None:
                    raise BenchError(f"{log.stem} exited ({process.returncode}):\n{log_tail(log)}")
            if observe(scenario, world) == len(sent):
                break
            time.sleep(0.1)
        scenario.waited = time.monotonic() - waiting_since
        observe(scenario, world, final=True)
    finally:
        processes.stop(server)
    return scenario


# --- Printing -----------------------------------------------------------------------------------


def cell(seconds: float) -> str:
    if math.isnan(seconds):
        return "-"
    if math.isinf(seconds):
        return "never"
    return f"{seconds * 1000:.1f}"


def print_rows(scenarios: list[Scenario]) -> None:
    print(f"{'measured':<48} {'n':>4} {'paged':>6} {'p50 ms':>8} {'p90 ms':>8} {'max ms':>8}")
    for scenario in scenarios:
        for label, figures in (
            (f"{scenario.name}: first page sent", scenario.first_page),
            ("  the on-call's page (escalation step 0)", scenario.oncall_page),
        ):
            values = scenario.within(figures)
            paged = sum(1 for value in values if not math.isinf(value))
            print(
                f"{label:<48} {len(values):>4} {paged:>6} {cell(percentile(values, 0.5)):>8} "
                f"{cell(percentile(values, 0.9)):>8} {cell(max(values, default=math.nan)):>8}"
            )


def print_details(scenario: Scenario) -> None:
    answers = Counter(str(s.status) if s.status else "no answer" for s in scenario.sent)
    replies = ", ".join(f"{count} x {status}" for status, count in sorted(answers.items()))
    took = [s.seconds for s in scenario.sent]
    paged = sum(1 for value in scenario.within(scenario.first_page) if not math.isinf(value))
    print(
        f"\n{scenario.name}: {len(scenario.sent)} POSTs answered {replies} (p50 "
        f"{cell(percentile(took, 0.5))} ms, max {cell(max(took, default=math.nan))} ms); "
        f"{scenario.incidents} incidents, {scenario.pages} pages ({scenario.pages_sent} sent); "
        f"{paged} of {len(scenario.sent)} paged within {scenario.wait:g} s "
        f"(waited {scenario.waited:.0f} s after the last reply)"
    )
    for error in sorted({s.error for s in scenario.sent if s.error})[:3]:
        print(f"  error: {error}")
    if scenario.page_states:
        states = ", ".join(
            f"{count} {what}" for what, count in sorted(scenario.page_states.items())
        )
        print(f"  pages by kind and state: {states}")
    stages = [
        ("HTTP reply", {s.fingerprint: s.seconds for s in scenario.sent if s.status}),
        ("incident row", scenario.incident_at),
        ("engaged", scenario.engaged_at),
        ("first sent page's row", scenario.page_row_at),
        ("its sent_at", scenario.first_page),
    ]
    parts = []
    for label, figures in stages:
        values = list(figures.values())
        parts.append(f"{label} {cell(percentile(values, 0.5))} ms ({len(values)})")
    print("  p50 after the POST (of the alerts that got that far): " + ", ".join(parts))


# --- Main ---------------------------------------------------------------------------------------


def tree_revision(tree: Path) -> str:
    try:
        head = subprocess.run(  # noqa: S603 - a fixed git command
            ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(  # noqa: S603 - a fixed git command
            ["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return f"{head} with uncommitted changes" if dirty else head


def use_tree(tree: Path) -> None:
    """Import the project (settings, models) from the tree under test, not from this one."""
    keep = {str(ROOT), str(ROOT / "bench"), ""}
    sys.path[:] = [entry for entry in sys.path if entry not in keep]
    sys.path.insert(0, str(tree))


def main() -> int:
    # No abbreviations: bench/run.py hands on detection.py's --alerts and --redis too.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument(
        "--tree",
        type=Path,
        default=ROOT,
        help="the project tree whose code the processes run (default: this checkout)",
    )
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="a database to connect to")
    parser.add_argument(
        "--redis-port",
        type=int,
        default=REDIS_PORT,
        help="port of the Redis server this benchmark starts and stops",
    )
    parser.add_argument("--alerts-per-scenario", type=int, default=20, help="alerts per scenario")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between alerts")
    parser.add_argument(
        "--wait", type=float, default=60.0, help="seconds after a POST its page may take"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--worker-concurrency", type=int, default=4, help="celery worker threads")
    parser.add_argument(
        "--logs", type=Path, help="copy the servers' and workers' logs into this folder at the end"
    )
    # bench/run.py hands on the options of bench/detection.py too: ignore those.
    args, _ = parser.parse_known_args()
    tree = args.tree.resolve()

    python = sys.version.split()[0]
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\nFirebreak first-page benchmark (Python {python}, {os.cpu_count()} CPUs, load {load})")
    if not (tree / "portal" / "settings.py").is_file():
        print(f"The first-page benchmark cannot run: {tree} is not a Firebreak tree.")
        return 1
    try:
        version = postgres_version(args.postgres)
    except psycopg.Error as exc:
        print("Skipped the first-page latency: PostgreSQL is not reachable at")
        print(f"  {args.postgres} ({first_line(exc)}); start it or pass --postgres URL.")
        return 0
    redis_server = shutil.which("redis-server")
    if redis_server is None:
        print("Skipped the first-page latency: redis-server is not installed (it starts its own).")
        return 0
    if port_open(args.redis_port):
        print(
            f"Skipped the first-page latency: something already listens on port {args.redis_port},"
        )
        print("  where it starts a Redis server of its own (another run of this benchmark?);")
        print("  pass --redis-port PORT.")
        return 1

    workdir = Path(tempfile.mkdtemp(prefix="firebreak-bench-first-page-"))
    database = f"{DB_NAME_PREFIX}{os.getpid()}"
    broker = f"redis://127.0.0.1:{args.redis_port}/0"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        # Production settings, as in service, but over plain HTTP on the loopback.
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        # Pages are mail; the worker keeps them in memory, so nothing leaves the machine.
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "DJANGO_STATIC_ROOT": str(workdir / "static"),
        "FIREBREAK_VAR_DIR": str(workdir),
        "FIREBREAK_LOG_LEVEL": "WARNING",
        "FIREBREAK_TIMER_SWEEP_SECONDS": str(SWEEP_SECONDS),
        "DATABASE_URL": with_database(args.postgres, database),
        "REDIS_URL": broker,
        "CELERY_BROKER_URL": broker,
        "PYTHONPATH": str(tree),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    os.environ.clear()
    os.environ.update(env)
    use_tree(tree)
    processes = TreeProcesses(env, workdir, tree)
    created = False
    try:
        drop_stale_databases(args.postgres)
        create_database(args.postgres, database)
        created = True
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        world = create_world()
        start_redis(processes, redis_server, args.redis_port)
        start_celery(processes, args.worker_concurrency)
        print(f"Tree: {tree} ({tree_revision(tree)})")
        print(
            f"PostgreSQL {version}, throwaway database {database}; Redis "
            f"{redis.Redis.from_url(broker).info()['redis_version']} of its own on port "
            f"{args.redis_port}"
        )
        print(
            f"gunicorn {importlib.metadata.version('gunicorn')}, {args.workers} workers x "
            f"{args.threads} threads; celery worker (threads x {args.worker_concurrency}, queues "
            f"{','.join(QUEUES)}) + beat (timer sweep every {SWEEP_SECONDS:g} s)"
        )
        print(
            f"{args.alerts_per_scenario} new P1 Alertmanager alerts per scenario, "
            f"{args.interval:g} s apart; latency = first Page.sent_at of the alert's incident - "
            "time just before its POST"
        )
        scenarios = [
            run_scenario("calm", args, processes, world, 0, None),
            run_scenario(
                "broker unreachable from web",
                args,
                processes,
                world,
                1000,
                f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
            ),
        ]
        print()
        print_rows(scenarios)
        for scenario in scenarios:
            print_details(scenario)
    except (BenchError, psycopg.Error) as exc:
        print(f"\nThe first-page benchmark could not finish: {exc}")
        return 1
    finally:
        processes.stop_all()
        with suppress(ImportError):
            from django.db import connections

            connections.close_all()
        if created:
            with suppress(psycopg.Error):
                drop_database(args.postgres, database)
        if args.logs:
            args.logs.mkdir(parents=True, exist_ok=True)
            for log in workdir.glob("*.log"):
                shutil.copy(log, args.logs / log.name)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    with terminate_cleanly():
        try:
            sys.exit(main())
        except KeyboardInterrupt:
            print("\nInterrupted; the servers and the database are cleaned up.")
            sys.exit(130)
