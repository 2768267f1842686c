"""Firebreak benchmark: throughput of the hot paths, each against a baseline from the same run.

Prints numbers and ratios; asserts nothing. The hot paths use a throwaway SQLite database in a
temporary folder, eager tasks and a local-memory cache, so they need no services and leave nothing
behind. Then bench/detection.py, in its own process, measures alert ingestion through gunicorn
and escalation timers fired by a real Celery worker, on PostgreSQL and Redis (each section is
skipped with a message when what it needs is not running). Then bench/first_page.py measures how
long an alert takes to page someone, through gunicorn, a Celery worker and beat on a Redis server
of its own, calm and with the broker unreachable from the web. Then bench/storm.py measures the
first P1 page during an alert storm and what the storm costs (mails, Slack), with the workers the
tree's Procfile runs; `--storm-baseline DIR` measures a checkout of the code before a change first
and prints both side by side. Then bench/statuspage.py measures
the public status page and its JSON from the cache through gunicorn, on the same services, and
last bench/health.py the on-call health dashboard over 100,000 incidents and a million alert
episodes.

    make bench                       # or: .venv/bin/python bench/run.py [--incidents 200]
    .venv/bin/python bench/run.py --skip-detection          # the hot paths only
    .venv/bin/python bench/run.py --alerts 2000 --timers 200  # options go on to detection.py
    .venv/bin/python bench/run.py --storm-baseline /tmp/firebreak-baseline  # storm before/after
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORKDIR = Path(tempfile.mkdtemp(prefix="firebreak-bench-"))
# The detection benchmark chooses its own settings: it starts from the environment as it was.
CALLER_ENV = dict(os.environ)
os.environ.update(
    {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DJANGO_ENV": "test",
        "FIREBREAK_VAR_DIR": str(WORKDIR),
        "DATABASE_URL": f"sqlite:///{WORKDIR / 'bench.sqlite3'}",
        "FIREBREAK_LOG_LEVEL": "WARNING",
    }
)
for name in ("CELERY_BROKER_URL", "REDIS_URL"):
    os.environ.pop(name, None)
sys.path.insert(0, str(ROOT))

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from incidents.models import Incident, Service, Severity, Source, Team  # noqa: E402
from incidents.services import incident_declare  # noqa: E402

Row = tuple[str, int, float, str, float]


def rate(count: int, action: Callable[[int], object]) -> float:
    """Return how many times per second `action(i)` runs, over `count` runs."""
    started = time.perf_counter()
    for i in range(count):
        action(i)
    return count / (time.perf_counter() - started)


def setup_world() -> tuple[User, Service, Severity]:
    call_command("migrate", verbosity=0)
    responder = User.objects.create_user("bench", password="bench-password-1")
    responder.groups.add(Group.objects.get(name="responders"))
    team = Team.objects.create(name="Payments", slug="payments")  # no address: no email sent
    service = Service.objects.create(name="Payments API", slug="payments-api", team=team)
    return responder, service, Severity.objects.get(code="P2")


def declare_rates(
    count: int, responder: User, service: Service, severity: Severity
) -> tuple[float, float]:
    """Return (service declares/s, plain ORM inserts/s) for the same incidents."""

    def declare(i: int) -> None:
        incident_declare(
            actor=responder,
            title=f"Checkout errors #{i}",
            severity=severity,
            services=[service],
            impact="Some payments fail.",
        )

    def insert(i: int) -> None:
        now = timezone.now()
        with transaction.atomic():
            incident = Incident.objects.create(
                title=f"Baseline #{i}",
                severity=severity,
                peak_severity=severity,
                team=service.team,
                impact="Some payments fail.",
                source=Source.WEB,
                declared_by=responder,
                status="investigating",
                impact_started_at=now,
                detected_at=now,
                acknowledged_at=now,
            )
            incident.services.add(service)

    service_rate = rate(count, declare)
    baseline_rate = rate(count, insert)
    Incident.objects.filter(title__startswith="Baseline #").delete()
    return service_rate, baseline_rate


def page_rate(client: Client, url: str, count: int) -> float:
    def get(_: int) -> None:
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}")

    get(0)  # warm up: templates, URL resolver
    return rate(count, get)


def queries_for(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return len(queries)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog="Other options go on to bench/detection.py (see its --help).",
    )
    parser.add_argument("--incidents", type=int, default=200, help="incidents to declare")
    parser.add_argument("--requests", type=int, default=100, help="requests per page measured")
    parser.add_argument(
        "--skip-detection",
        action="store_true",
        help="skip everything on PostgreSQL: detection, first page, status page, health",
    )
    parser.add_argument(
        "--skip-first-page", action="store_true", help="skip the alert-to-first-page latency"
    )
    parser.add_argument(
        "--skip-storm", action="store_true", help="skip the first P1 page during an alert storm"
    )
    parser.add_argument(
        "--storm-baseline",
        metavar="DIR",
        help="a checkout of the code before the change: bench/storm.py runs it, then this tree",
    )
    parser.add_argument(
        "--skip-statuspage", action="store_true", help="skip the status page benchmark"
    )
    parser.add_argument(
        "--skip-health", action="store_true", help="skip the on-call health benchmark"
    )
    args, detection_args = parser.parse_known_args()

    responder, service, severity = setup_world()
    client = Client()
    client.force_login(responder)
    list_url = reverse("incidents:list")
    api_url = "/api/v1/incidents/"
    health_url = reverse("healthz")

    declare_rates(10, responder, service, severity)  # a few incidents, and a warm-up
    queries_small = queries_for(client, list_url), queries_for(client, api_url)
    service_rate, baseline_rate = declare_rates(args.incidents, responder, service, severity)
    total = Incident.objects.count()
    queries_large = queries_for(client, list_url), queries_for(client, api_url)

    health = page_rate(client, health_url, args.requests)
    rows: list[Row] = [
        (
            "declare: services.incident_declare",
            args.incidents,
            service_rate,
            "ORM insert of the same rows",
            baseline_rate,
        ),
        (
            f"incident list page ({total} incidents)",
            args.requests,
            page_rate(client, list_url, args.requests),
            "GET /healthz",
            health,
        ),
        (
            f"API incident list ({total} incidents)",
            args.requests,
            page_rate(client, api_url, args.requests),
            "GET /healthz",
            health,
        ),
    ]

    python = sys.version.split()[0]
    print(f"\nFirebreak benchmark: SQLite in {WORKDIR}, eager tasks, Python {python}")
    header = ("measured", "n", "per second", "baseline", "per second", "ratio")
    print("{:<40} {:>5} {:>11}   {:<28} {:>11} {:>7}".format(*header))
    for name, n, value, baseline_name, baseline in rows:
        print(
            f"{name:<40} {n:>5} {value:>11.1f}   {baseline_name:<28} {baseline:>11.1f} "
            f"{value / baseline:>6.2f}x"
        )
    print("\nSQL queries per request (the same count at any size means no N+1):")
    labels = ("incident list page", "API incident list")
    for label, small, large in zip(labels, queries_small, queries_large, strict=True):
        verdict = "constant" if small == large else "GROWS with the number of incidents"
        print(f"  {label:<22} 10 incidents: {small:>3}   {total} incidents: {large:>3}   {verdict}")
    if args.skip_detection:
        return 0
    sys.stdout.flush()
    detection = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(ROOT / "bench" / "detection.py"), *detection_args],
        env=CALLER_ENV,
        check=False,
    )
    returncodes = [detection.returncode]
    # The same options for each: it takes the connection and server ones and ignores the others.
    storm_args = ["--baseline", args.storm_baseline] if args.storm_baseline else []
    for skip, script, extra in (
        (args.skip_first_page, "first_page.py", []),
        (args.skip_storm, "storm.py", storm_args),
        (args.skip_statuspage, "statuspage.py", []),
        (args.skip_health, "health.py", []),
    ):
        if skip:
            continue
        sys.stdout.flush()
        finished = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, str(ROOT / "bench" / script), *extra, *detection_args],
            env=CALLER_ENV,
            check=False,
        )
        returncodes.append(finished.returncode)
    return max(returncodes)


if __name__ == "__main__":
    try:
        status = main()
    finally:
        shutil.rmtree(WORKDIR, ignore_errors=True)
    sys.exit(status)
