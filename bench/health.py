"""Firebreak on-call health benchmark: the 90-day dashboard over a large history, on PostgreSQL.

Seeds a throwaway PostgreSQL database with a few hundred incidents first, renders the
dashboard and counts its queries; then grows it to 100,000 incidents, 1,000,000 alert episodes
and 200,000 pages spread over three years (in SQL, with generate_series: a few seconds per
million rows) and measures again: render time p50/p90/max of `GET /health/?days=90` (and the
7- and 30-day and team-filtered views) beside `GET /healthz` in the same process, and the query
count at both sizes, which must not grow with the data. The issue's target: under 1 s.

Renders in process through Django's test client with production settings, so the time is the
view's own (no HTTP, no cache: the dashboard is not cached). Prints numbers; asserts nothing.
The database is dropped on any exit but SIGKILL.

    .venv/bin/python bench/health.py [--incidents 100000 --alerts 1000000 --pages 300000]

bench/run.py (`make bench`) runs it after the status page benchmark.
"""

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bench.detection import (  # noqa: E402
    DB_PREFIX,
    DEFAULT_POSTGRES,
    create_database,
    drop_database,
    drop_stale_databases,
    first_line,
    postgres_version,
    terminate_cleanly,
    with_database,
)

TARGET_SECONDS = 1.0
YEARS = 3
SMALL_INCIDENTS = 300


@dataclass
class Timing:
    label: str
    path: str
    seconds: list[float]
    queries: int
    status: int
    statements: list[tuple[float, str]]  # the last render's queries: (seconds, SQL)

    def p(self, fraction: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# --- Data ---------------------------------------------------------------------------------------


def seed_reference() -> dict[str, list[int]]:
    """Create teams, services, people, schedules and alert sources; return their ids."""
    from django.contrib.auth.models import Group, User

    from incidents.alerting.models import AlertSource, secret_digest
    from incidents.models import Service, Team
    from incidents.oncall.models import Schedule

    responders = Group.objects.get(name="responders")
    managers = Group.objects.get(name="managers")
    manager = User.objects.create_user("bench-manager", password=secrets.token_urlsafe(12))
    manager.groups.add(managers)
    people = []
    for index in range(20):
        user = User.objects.create_user(f"oncall{index}", first_name=f"On-call {index}")
        user.groups.add(responders)
        people.append(user.pk)
    zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC"]
    teams, services, schedules = [], [], []
    for index, zone in enumerate(zones):
        team = Team.objects.create(name=f"Team {index}", slug=f"team-{index}", time_zone=zone)
        teams.append(team.pk)
        for part in ("api", "web"):
            services.append(
                Service.objects.create(
                    name=f"Team {index} {part}", slug=f"team-{index}-{part}", team=team
                ).pk
            )
        schedules.append(
            Schedule.objects.create(name=f"Team {index} primary", slug=f"t{index}", team=team).pk
        )
    sources = [
        AlertSource.objects.create(
            name=f"Alertmanager {index}",
            kind="alertmanager",
            secret_digest=secret_digest(f"s{index}"),
        ).pk
        for index in range(3)
    ]
    return {
        "manager": [manager.pk],
        "people": people,
        "teams": teams,
        "services": services,
        "schedules": schedules,
        "sources": sources,
    }


def seed_history(
    ids: dict[str, list[int]], *, incidents: int, alerts: int, pages: int, prefix: str
) -> float:
    """Insert the history in SQL (keys made unique by `prefix`); return the seconds it took."""
    from django.db import connection

    from incidents.models import Severity

    severities = list(Severity.objects.order_by("rank").values_list("pk", flat=True))
    span = f"{YEARS * 365} days"
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute("SELECT coalesce(max(id), 0) FROM incidents_incident")
        (before,) = cursor.fetchone()
        # Incidents: a third opened by alerts; most acknowledged and resolved; detection to
        # acknowledgement minutes, to resolution hours; a few never acknowledged.
        cursor.execute(
            """
            INSERT INTO incidents_incident (created_at, updated_at, title, summary, severity_id,
              peak_severity_id, team_id, impact, regions, customer_facing, bridge_url, source,
              status, impact_started_at, detected_at, acknowledged_at, resolved_at, closed_at)
            SELECT d, d, 'Incident ' || i, '', sev, sev, team, '', '[]', true, '',
              CASE WHEN i %% 3 = 0 THEN 'web' ELSE 'alert' END,
              CASE WHEN i %% 50 = 0 THEN 'triggered' ELSE 'closed' END,
              d - (random() * interval '20 minutes'), d,
              CASE WHEN i %% 50 = 0 THEN NULL ELSE d + random() * interval '15 minutes' END,
              CASE WHEN i %% 50 = 0 THEN NULL ELSE d + random() * interval '6 hours' END,
              CASE WHEN i %% 50 = 0 THEN NULL ELSE d + interval '7 hours' END
            FROM (
              SELECT i, now() - random() * %s::interval AS d,
                (%s::int[])[1 + (i %% %s)] AS sev, (%s::int[])[1 + (i %% %s)] AS team
              FROM generate_series(1, %s) AS i
            ) AS rows
            """,
            [span, severities, len(severities), ids["teams"], len(ids["teams"]), incidents],
        )
        cursor.execute(
            """
            INSERT INTO incidents_incident_services (incident_id, service_id)
            SELECT id, (%s::int[])[1 + (id %% %s)] FROM incidents_incident WHERE id > %s
            """,
            [ids["services"], len(ids["services"]), before],
        )
        cursor.execute(
            """
            INSERT INTO alerting_alertgroup (source_id, key, key_digest, created_at)
            SELECT (%s::int[])[1 + (g %% %s)], %s || 'group-' || g, md5(%s || 'group-' || g),
              now()
            FROM generate_series(1, 1000) AS g
            """,
            [ids["sources"], len(ids["sources"]), prefix, prefix],
        )
        cursor.execute("SELECT min(id), max(id) FROM incidents_incident WHERE id > %s", [before])
        first_incident, last_incident = cursor.fetchone()
        cursor.execute(
            "SELECT min(id) FROM alerting_alertgroup WHERE key LIKE %s", [prefix + "group-%"]
        )
        (first_group,) = cursor.fetchone()
        # Alert episodes: 200 alert names; one in three opened (or joined) an incident; a
        # verdict on half of them, one in ten of those a false positive.
        cursor.execute(
            """
            INSERT INTO alerting_alert (source_id, group_id, fingerprint, starts_at, ends_at,
              status, title, summary, severity_id, severity_label, severity_note, service_id,
              labels, annotations, details, generator_url, dashboard_url, panel_url,
              silence_url, first_seen_at, last_seen_at, receive_count, incident_id, actionable)
            SELECT (%s::int[])[1 + (i %% %s)], %s + (i %% 1000), %s || 'fp-' || i, d,
              d + interval '30 minutes', 'resolved', 'Alert' || (i %% 200), '',
              (%s::int[])[1 + (i %% %s)], '', '', (%s::int[])[1 + (i %% %s)],
              '{}', '{}', '{}', '', '', '', '', d, d + interval '30 minutes', 1,
              CASE WHEN i %% 3 = 0 THEN %s + (i %% (%s - %s + 1)) END,
              CASE WHEN i %% 2 = 0 THEN (i %% 10 <> 0) END
            FROM (SELECT i, now() - random() * %s::interval AS d
                  FROM generate_series(1, %s) AS i) AS rows
            """,
            [
                ids["sources"],
                len(ids["sources"]),
                first_group,
                prefix,
                severities,
                len(severities),
                ids["services"],
                len(ids["services"]),
                first_incident,
                last_incident,
                first_incident,
                span,
                alerts,
            ],
        )
        # Pages: to the on-call of a rotation, sent; half with the responder's verdicts.
        cursor.execute(
            """
            INSERT INTO oncall_page (incident_id, kind, step, step_number, recipient_id,
              schedule_id, channel, address, state, created_at, sent_at, provider_message_id,
              attempts, last_error, nonce, acknowledged_at, actionable, needed_manual_action)
            SELECT incident.id, 'escalation', 'esc-0.0-' || n, n,
              (%s::int[])[1 + ((incident.id + n) %% %s)],
              (%s::int[])[1 + (incident.id %% %s)], 'email', 'oncall@example.com', 'sent',
              incident.detected_at, incident.detected_at, '', 1, '', md5(incident.id || '-' || n),
              incident.acknowledged_at,
              CASE WHEN incident.id %% 2 = 0 THEN (incident.id %% 7 <> 0) END,
              CASE WHEN incident.id %% 2 = 0 THEN (incident.id %% 4 = 0) END
            FROM incidents_incident AS incident
            CROSS JOIN generate_series(0, 2) AS n
            WHERE incident.source = 'alert' AND incident.id > %s
            ORDER BY incident.id, n
            LIMIT %s
            """,
            [
                ids["people"],
                len(ids["people"]),
                ids["schedules"],
                len(ids["schedules"]),
                before,
                pages,
            ],
        )
        # What autovacuum does in service: visibility maps (index-only scans) and statistics.
        cursor.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def seed_small(ids: dict[str, list[int]]) -> None:
    """A few hundred incidents (with their alerts and pages), for the query count to compare."""
    seed_history(
        ids, incidents=SMALL_INCIDENTS, alerts=SMALL_INCIDENTS * 10, pages=300, prefix="small-"
    )


def counts() -> dict[str, int]:
    from incidents.alerting.models import Alert
    from incidents.models import Incident
    from incidents.oncall.models import Page

    return {
        "incidents": Incident.objects.count(),
        "alert episodes": Alert.objects.count(),
        "pages": Page.objects.count(),
    }


# --- Measuring ----------------------------------------------------------------------------------


def measure(client: object, label: str, path: str, repeat: int) -> Timing:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    seconds: list[float] = []
    queries = status = 0
    statements: list[tuple[float, str]] = []
    for attempt in range(repeat + 1):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = client.get(path)  # type: ignore[attr-defined]
            elapsed = time.perf_counter() - started
        status = response.status_code
        queries = len(captured)
        statements = [(float(query["time"]), query["sql"]) for query in captured.captured_queries]
        if attempt:  # the first render warms the process (imports, templates)
            seconds.append(elapsed)
    return Timing(label, path, seconds, queries, status, statements)


def views(team_slug: str) -> list[tuple[str, str]]:
    return [
        ("dashboard, 90 days", "/health/?days=90"),
        ("dashboard, 30 days", "/health/?days=30"),
        ("dashboard, 7 days", "/health/?days=7"),
        ("dashboard, 90 days, one team", f"/health/?days=90&team={team_slug}"),
    ]


def run(args: argparse.Namespace) -> None:
    from django.contrib.auth.models import User
    from django.test import Client

    ids = seed_reference()
    client = Client()
    client.force_login(User.objects.get(pk=ids["manager"][0]))
    seed_small(ids)
    small_counts = counts()
    small = {label: measure(client, label, path, 3) for label, path in views("team-0")}

    seconds = seed_history(
        ids, incidents=args.incidents, alerts=args.alerts, pages=args.pages, prefix="large-"
    )
    large_counts = counts()
    print(
        "Seeded in {:.1f} s: {}".format(
            seconds, ", ".join(f"{value:,} {name}" for name, value in large_counts.items())
        )
    )
    baseline = measure(client, "GET /healthz (baseline)", "/healthz", args.repeat)
    large = {label: measure(client, label, path, args.repeat) for label, path in views("team-0")}

    print(
        f"\n{'measured':36} {'n':>4} {'p50 ms':>8} {'p90 ms':>8} {'max ms':>8} "
        f"{'queries':>8} {'at ' + format(small_counts['incidents'], ',') + ' incidents':>20}"
    )
    for label, timing in large.items():
        flag = "" if timing.status == 200 else f"  HTTP {timing.status}"
        print(
            f"{label:36} {len(timing.seconds):>4} {timing.p(0.5) * 1000:>8.1f} "
            f"{timing.p(0.9) * 1000:>8.1f} {max(timing.seconds) * 1000:>8.1f} "
            f"{timing.queries:>8} {small[label].queries:>20}{flag}"
        )
    print(
        f"{baseline.label:36} {len(baseline.seconds):>4} {baseline.p(0.5) * 1000:>8.2f} "
        f"{baseline.p(0.9) * 1000:>8.2f} {max(baseline.seconds) * 1000:>8.2f} "
        f"{baseline.queries:>8}"
    )
    main_view = large["dashboard, 90 days"]
    ratio = statistics.median(main_view.seconds) / statistics.median(baseline.seconds)
    constant = all(large[label].queries == small[label].queries for label in large)
    print(
        f"\n90-day dashboard p50 {main_view.p(0.5) * 1000:.0f} ms "
        f"({ratio:.0f}x a /healthz render); target < {TARGET_SECONDS * 1000:.0f} ms: "
        f"{'met' if max(main_view.seconds) < TARGET_SECONDS else 'NOT met'} (max "
        f"{max(main_view.seconds) * 1000:.0f} ms)"
    )
    if args.slowest:
        print(f"\nThe {args.slowest} slowest queries of the 90-day dashboard's last render:")
        for took, sql in sorted(main_view.statements, reverse=True)[: args.slowest]:
            print(f"  {took * 1000:7.1f} ms  {' '.join(sql.split())[:240]}")
    if not constant:
        for label in large:
            extra = {" ".join(sql.split())[:120] for _, sql in large[label].statements} - {
                " ".join(sql.split())[:120] for _, sql in small[label].statements
            }
            for sql in sorted(extra):
                print(f"  only with more data ({label}): {sql}")
    print(
        "Query counts at {:,} and at {:,} incidents: {}".format(
            small_counts["incidents"],
            large_counts["incidents"],
            "the same for every view" if constant else "they GROW with the data",
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="a database to connect to")
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--pages", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=10, help="renders measured per view")
    parser.add_argument(
        "--slowest", type=int, default=0, help="print the N slowest queries of the 90-day view"
    )
    # bench/run.py hands on the options of the other benchmarks too: ignore those.
    args, _ = parser.parse_known_args()

    python = sys.version.split()[0]
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"\nFirebreak on-call health benchmark (Python {python}, {os.cpu_count()} CPUs, "
        f"load {load})"
    )
    try:
        version = postgres_version(args.postgres)
    except psycopg.Error as exc:
        print("Skipped on-call health: PostgreSQL is not reachable at")
        print(f"  {args.postgres} ({first_line(exc)}); start it or pass --postgres URL.")
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="firebreak-bench-"))
    name = f"{DB_PREFIX}{os.getpid()}"
    env = {
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "testserver",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "FIREBREAK_VAR_DIR": str(workdir),
        "FIREBREAK_LOG_LEVEL": "WARNING",
        "FIREBREAK_STATUS_SNAPSHOT_DIR": "",
        "DATABASE_URL": with_database(args.postgres, name),
        "CELERY_BROKER_URL": "memory://localhost/",
        "CELERY_TASK_ALWAYS_EAGER": "true",
    }
    for variable in ("REDIS_URL",):
        os.environ.pop(variable, None)
    os.environ.update(env)
    created = False
    try:
        drop_stale_databases(args.postgres)
        create_database(args.postgres, name)
        created = True
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        print(f"PostgreSQL {version}, throwaway database {name}")
        run(args)
    except psycopg.Error as exc:
        print(f"\nThe on-call health benchmark could not finish: {first_line(exc)}")
        return 1
    finally:
        if created:
            from django.db import connections

            connections.close_all()
            drop_database(args.postgres, name)
    return 0


if __name__ == "__main__":
    with terminate_cleanly():
        try:
            sys.exit(main())
        except KeyboardInterrupt:
            print("\nInterrupted; the database is dropped.")
            sys.exit(130)
