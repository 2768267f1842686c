"""Firebreak storm benchmark: the first P1 page during an alert storm, and what the storm costs.

Issue 15, "On time in a storm". Runs the product as in service, with real processes: production
settings over plain HTTP on the loopback, a throwaway PostgreSQL database
`firebreak_bench_storm_<pid>` (created, migrated, dropped; one a killed run left behind is dropped
by the next), a Redis server of its own on port 6393 (started and stopped here, never a shared
one), gunicorn (2 workers x 4 threads, gthread), and the Celery workers and beat **as the tree's
own Procfile runs them** (each `worker*` line and `beat`, without bin/keep-running): a tree that
gives paging a worker of its own is measured with that layout. Mail goes to Django's file
backend, a folder per process, and is read back and counted; Slack is the test suite's fake Web
API (tests/fakes/slack.py), served from this process, which counts every call. The world is the
demo's (`manage.py demo_data`), with the teams' business hours pinned (`--hours`).

- calm: 20 P1 probes one second apart (distinct `severity=critical` alerts on Ingress and
  Identity, which the demo's rules route to the Platform team, P1), then everything drains;
- storm: 12 clients (`--clients`) post 1,000 distinct `severity=warning` alerts (`--storm-alerts`;
  P3 on the Payments API and Checkout, as the demo's rules route them) as fast as the server
  takes them, while 50 P1 probes (`--probes`) go out evenly over the storm, each on a connection
  of its own. The spacing follows the storm's measured pace; should the storm end first, it goes
  on with more alerts until the last probe is out (reported as overtime).

A probe's figure is the earliest `Page.sent_at` of its incident minus the wall-clock time just
before its POST; a probe not paged within the run counts as never. Prints numbers; asserts
nothing. Everything it started is stopped by process id, and the database dropped, on any exit
but SIGKILL.

    .venv/bin/python bench/storm.py [--storm-alerts 1000 --clients 12 --probes 50]
    .venv/bin/python bench/storm.py --tree /tmp/firebreak-baseline     # another checkout's code
    .venv/bin/python bench/storm.py --baseline /tmp/firebreak-baseline # before, then this tree

bench/run.py (`make bench`) runs it after bench/first_page.py (`--storm-baseline DIR` there).
"""

import argparse
import contextlib
import copy
import email.parser
import email.policy
import http.client
import importlib.metadata
import io
import json
import math
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import redis  # noqa: E402

from bench.detection import (  # noqa: E402
    DEFAULT_POSTGRES,
    SAMPLE,
    BenchError,
    Job,
    Load,
    create_database,
    drive,
    drop_database,
    first_line,
    log_tail,
    percentile,
    postgres_version,
    start_gunicorn,
    terminate_cleanly,
    with_database,
)
from bench.first_page import (  # noqa: E402
    TreeProcesses,
    port_open,
    start_redis,
    tree_revision,
    use_tree,
)
from tests.fakes.slack import FakeSlack  # noqa: E402 - the suite's fake Slack, run standalone

DB_NAME_PREFIX = "firebreak_bench_storm_"  # then the pid of the run
REDIS_PORT = 6393
HTTP_TIMEOUT = 30.0
STORM_LIMIT_SECONDS = 240.0  # the storm stops sending after this, and says so
OVERTIME_FACTOR = 5  # the storm never sends more than this many times --storm-alerts
QUIET_SECONDS = 2.0  # nothing queued or due and nothing sent for this long: drained
# Storm alerts take turns: Payments warnings of the demo's rules, routed by their `service` label.
STORM_RULES = (("PaymentsApiLatencyHigh", "payments-api"), ("CheckoutLatencyHigh", "checkout"))
# Probes take turns too: critical on the Platform team's services, P1 for its on-call.
PROBE_RULES = (("IngressDown", "ingress"), ("IdentityDown", "identity"))
STORM_FINGERPRINTS = 0x5701_0000
PROBE_FINGERPRINTS = 0x9B0B_0000
MAIL_SEPARATOR = b"\n" + b"-" * 79 + b"\n"  # what Django's file backend writes after each mail
PAGE_SUBJECT = re.compile(r"^\[P\d\] (PAGE|FYI) INC-(\d+)\b")
INCIDENT_REF = re.compile(r"\binc-(\d+)\b", re.IGNORECASE)
MAIL_KINDS = ("team", "page", "other")
SLACK_KINDS = ("posts", "edits", "channels")
SLACK_METHODS = {"chat.postMessage": "posts", "chat.update": "edits"}
SLACK_METHODS["conversations.create"] = "channels"


# --- The processes, as the tree's Procfile says ---------------------------------------------------


@dataclass
class Role:
    name: str
    command: list[str]

    def describe(self) -> str:
        if "beat" in self.command:
            return self.name
        queues, threads = "default", "?"
        for flag, value in zip(self.command, self.command[1:], strict=False):
            if flag in ("--queues", "-Q"):
                queues = value
            if flag in ("--concurrency", "-c"):
                threads = value
        return f"{self.name} ({queues}; x{threads})"


def expand(text: str, env: dict[str, str]) -> str:
    """Expand $VAR, ${VAR} and ${VAR:-default} as honcho's shell would."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        return env.get(name) or (match.group(2) or "")

    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)", value, text)


def procfile_roles(tree: Path, env: dict[str, str]) -> list[Role]:
    """The Procfile's worker* and beat processes, run with this interpreter; workers first."""
    roles = []
    for line in (tree / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        name = name.strip()
        if not (name.startswith("worker") or name == "beat"):
            continue
        words = shlex.split(expand(command, env))
        while words and Path(words[0]).name == "keep-running":
            words = words[1:]
        if not words or Path(words[0]).name != "celery":
            raise BenchError(f"Procfile line {name!r} does not run celery: {command.strip()}")
        words = [sys.executable, "-m", "celery", *words[1:]]
        if "worker" in words and not {"-n", "--hostname"} & set(words):
            words += ["--hostname", f"{name}-bench-storm-{os.getpid()}@%h"]
        roles.append(Role(name, words))
    if len(roles) < 2 or not any(role.name == "beat" for role in roles):
        raise BenchError(f"{tree / 'Procfile'} names no worker or no beat")
    return sorted(roles, key=lambda role: role.name == "beat")


def start_roles(processes: TreeProcesses, roles: list[Role], mail: Path) -> None:
    """Start each role with a mail folder of its own; return once each says it runs."""
    for role in roles:
        with processes.overriding(DJANGO_EMAIL_FILE_PATH=str(mail / role.name)):
            process, log = processes.start(role.name, role.command)
        ready = "beat: Starting" if role.name == "beat" else " ready."
        processes.wait_for(
            process, log, lambda log=log, ready=ready: ready in log.read_text(), role.name
        )


def check_alive(processes: TreeProcesses) -> None:
    for process, log in processes.running:
        if process.poll() is not None:
            raise BenchError(f"{log.stem} exited ({process.returncode}):\n{log_tail(log)}")


def drop_stale_databases(admin_url: str) -> None:
    """Drop the databases of runs that were killed before they could clean up."""
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as connection:
        rows = connection.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", [DB_NAME_PREFIX + "%"]
        ).fetchall()
    for (name,) in rows:
        pid = name.removeprefix(DB_NAME_PREFIX)
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # that run is still going
        except ProcessLookupError:
            drop_database(admin_url, name)
        except PermissionError:
            continue


# --- Mail and Slack, counted ----------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    subject: str
    to: str
    message_id: str


class Mailbox:
    """Every mail the processes wrote to their folders (Django's file backend), in order."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.parser = email.parser.BytesParser(policy=email.policy.default)

    def files(self) -> list[Path]:
        return sorted(path for path in self.folder.rglob("*") if path.is_file())

    def size(self) -> int:
        return sum(path.stat().st_size for path in self.files())

    def read(self) -> dict[Path, list[Mail]]:
        found: dict[Path, list[Mail]] = {}
        for path in self.files():
            found[path] = []
            for chunk in path.read_bytes().split(MAIL_SEPARATOR):
                if chunk.strip():
                    headers = self.parser.parsebytes(chunk, headersonly=True)
                    subject = " ".join(str(headers["Subject"] or "").split())
                    found[path].append(
                        Mail(subject, str(headers["To"] or ""), str(headers["Message-ID"] or ""))
                    )
        return found

    def mark(self) -> dict[Path, int]:
        return {path: len(mails) for path, mails in self.read().items()}

    def since(self, mark: dict[Path, int]) -> list[Mail]:
        return [mail for path, mails in self.read().items() for mail in mails[mark.get(path, 0) :]]


def whose(refs: list[int], probe_ids: set[int], before: int, probe_channel: bool = False) -> str:
    """Which incidents a mail or a Slack call is about: the probes', older ones, or the storm's."""
    if probe_channel or probe_ids & set(refs):
        return "probes"
    if refs and all(ref <= before for ref in refs):
        return "earlier"
    return "storm"


# --- The world ------------------------------------------------------------------------------------


def load_world(hours: str, fake: FakeSlack) -> tuple[int, str, set[str], str]:
    """Load the demo and pin business hours; return its Alertmanager source, secret, the team
    addresses, and what was changed for the probes."""
    from datetime import time as clock

    from django.contrib.auth.models import User
    from django.core.management import call_command

    from incidents.alerting.models import AlertSource
    from incidents.management.commands.demo_data import DEMO_ALERT_SECRET
    from incidents.models import Service, Team

    call_command("demo_data", stdout=io.StringIO())
    source = AlertSource.objects.filter(kind=AlertSource.Kind.ALERTMANAGER).order_by("pk").first()
    if source is None:
        raise BenchError("the demo data has no Alertmanager source")
    if hours == "off":
        # Nobody works today or tomorrow anywhere: P3 pages wait for business hours.
        Team.objects.update(business_days=[(datetime.now(UTC).weekday() + 3) % 7])
    elif hours == "business":
        Team.objects.update(
            business_days=list(range(7)),
            business_day_start=clock(0, 0),
            business_day_end=clock(23, 59, 59),
            holiday_country="",
        )
    # The Slack workspace has the demo's people (by email) and its teams' channels.
    for pk, username, address in User.objects.values_list("pk", "username", "email"):
        if address:
            fake.add_user(f"U{pk:08d}", email=address, name=username)
    for channel in Team.objects.exclude(chat_channel="").values_list("chat_channel", flat=True):
        if fake.channel_named(channel) is None:
            fake.add_channel(channel, members={fake.bot_user_id})
    teams = set(Team.objects.exclude(email="").values_list("email", flat=True))
    # Where alerts storms are grouped per service, 70 probes on two services are a storm of
    # their own: each probe is to be a P1 of its own, so those two services group none.
    note = "no storm grouping to turn off"
    if any(field.name == "storm_threshold" for field in Service._meta.get_fields()):
        slugs = [service for _, service in PROBE_RULES]
        Service.objects.filter(slug__in=slugs).update(storm_threshold=0)
        note = f"storm grouping off on the probes' services ({', '.join(slugs)})"
    return source.pk, DEMO_ALERT_SECRET, teams, note


def alert_body(index: int, rule: tuple[str, str], severity: str, prefix: int) -> bytes:
    """One Alertmanager group notification with one alert of its own fingerprint and group key."""
    alertname, service = rule
    payload = copy.deepcopy(json.loads(SAMPLE.read_text()))
    instance = f"{service}-{index:05d}"
    labels = {
        "alertname": alertname,
        "service": service,
        "severity": severity,
        "cluster": "prod-eu-west-1",
        "instance": instance,
    }
    alert = payload["alerts"][0]
    alert["labels"] = labels
    alert["annotations"] = {"summary": f"{alertname} on {instance}"}
    alert["fingerprint"] = f"{prefix + index:016x}"
    alert["startsAt"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    group = {key: labels[key] for key in ("alertname", "instance", "service")}
    payload["groupLabels"] = group
    payload["commonLabels"] = dict(labels)
    payload["commonAnnotations"] = dict(alert["annotations"])
    payload["groupKey"] = "{}:{" + ", ".join(f'{k}="{v}"' for k, v in group.items()) + "}"
    return json.dumps(payload).encode()


def probe_body(index: int) -> bytes:
    return alert_body(index, PROBE_RULES[index % 2], "critical", PROBE_FINGERPRINTS)


# --- Probes ---------------------------------------------------------------------------------------


@dataclass
class Probe:
    fingerprint: str
    posted_at: float = math.nan  # wall clock just before the POST
    status: int = 0  # 0: no answer (connection error or timeout)
    reply: float = math.nan
    error: str = ""


class Poster:
    """POSTs probe alerts, each on a new connection from a thread of its own."""

    def __init__(self, port: int, hook: str, headers: dict[str, str]) -> None:
        self.port, self.hook, self.headers = port, hook, headers
        self.threads: list[threading.Thread] = []

    def post(self, body: bytes) -> Probe:
        probe = Probe(str(json.loads(body)["alerts"][0]["fingerprint"]))

        def send() -> None:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT)
            started = time.perf_counter()
            try:
                connection.request("POST", self.hook, body=body, headers=self.headers)
                response = connection.getresponse()
                response.read()
                probe.status = response.status
            except (OSError, http.client.HTTPException) as exc:
                probe.error = first_line(exc)
            finally:
                probe.reply = time.perf_counter() - started
                connection.close()

        thread = threading.Thread(target=send, daemon=True)
        probe.posted_at = time.time()
        thread.start()
        self.threads.append(thread)
        return probe

    def join(self) -> None:
        for thread in self.threads:
            thread.join(HTTP_TIMEOUT + 5)


@dataclass
class Paging:
    """The probes' incidents and pages as the database has them."""

    incident_of: dict[str, int]  # fingerprint: incident id
    first: dict[str, float]  # fingerprint: seconds from the POST to the first page sent
    oncall: dict[str, float]  # the same for the first escalation page (the on-call's)
    sent_per_probe: Counter[int] = field(default_factory=Counter)  # pages sent: probes
    per_person: Counter[str] = field(default_factory=Counter)  # "username kind": pages sent
    duplicates: int = 0  # pages sent more than once to one person for one step of an incident
    shared: int = 0  # probes whose incident holds other alerts too (grouped)
    routed: Counter[str] = field(default_factory=Counter)  # "service severity": incidents


def observe(probes: list[Probe], source_id: int, brief: bool = False) -> Paging:
    from django.db.models import Count

    from incidents.alerting.models import Alert
    from incidents.models import Incident
    from incidents.oncall.models import Page

    posted = {p.fingerprint: p.posted_at for p in probes}
    incident_of = dict(
        Alert.objects.filter(source_id=source_id, fingerprint__in=posted)
        .exclude(incident=None)
        .values_list("fingerprint", "incident_id")
    )
    ids = set(incident_of.values())
    rows = list(
        Page.objects.filter(incident_id__in=ids, sent_at__isnull=False).values_list(
            "incident_id", "recipient__username", "kind", "step", "sent_at"
        )
    )
    first: dict[int, float] = {}
    oncall: dict[int, float] = {}
    for incident_id, _, kind, _, sent_at in rows:
        first[incident_id] = min(first.get(incident_id, math.inf), sent_at.timestamp())
        if kind == Page.Kind.ESCALATION:
            oncall[incident_id] = min(oncall.get(incident_id, math.inf), sent_at.timestamp())

    def after(found: dict[int, float]) -> dict[str, float]:
        return {fp: found[pk] - posted[fp] for fp, pk in incident_of.items() if pk in found}

    paging = Paging(incident_of, after(first), after(oncall))
    if brief:
        return paging
    per_incident = Counter(row[0] for row in rows)
    paging.sent_per_probe = Counter(per_incident.get(pk, 0) for pk in incident_of.values())
    paging.per_person = Counter(f"{row[1]} {row[2]}" for row in rows)
    steps = Counter(row[:4] for row in rows)
    paging.duplicates = sum(count - 1 for count in steps.values())
    alerts = dict(
        Alert.objects.filter(incident_id__in=ids)
        .values("incident_id")
        .annotate(n=Count("pk"))
        .values_list("incident_id", "n")
    )
    paging.shared = sum(1 for pk in incident_of.values() if alerts.get(pk, 0) > 1)
    paging.routed = Counter(
        f"{service} {severity}"
        for service, severity in Incident.objects.filter(pk__in=ids).values_list(
            "services__name", "severity__code"
        )
    )
    return paging


def wait_paged(processes: TreeProcesses, probes: list[Probe], source_id: int, wait: float) -> None:
    deadline = time.time() + wait
    while time.time() < deadline:
        check_alive(processes)
        if len(observe(probes, source_id, brief=True).first) == len(probes):
            return
        time.sleep(0.2)


# --- Draining -------------------------------------------------------------------------------------


def backlog(broker: redis.Redis) -> int:
    """Messages queued, taken by a worker and due (not ETA wake-ups for later), timers due."""
    from django.utils import timezone

    from portal.models import Timer

    keys = list(broker.scan_iter(count=1000))
    with broker.pipeline() as pipe:
        for key in keys:
            pipe.type(key)
        kinds = pipe.execute()
    waiting = sum(
        broker.llen(key) for key, kind in zip(keys, kinds, strict=True) if kind == b"list"
    )
    running = 0
    soon = time.time() + 1
    for raw in broker.hvals("unacked"):  # kombu's: taken by a worker, not acknowledged yet
        try:
            eta = (json.loads(raw)[0].get("headers") or {}).get("eta")
            running += not eta or datetime.fromisoformat(eta).timestamp() <= soon
        except (ValueError, LookupError, TypeError, AttributeError):
            running += 1
    due = Timer.objects.filter(
        state__in=(Timer.State.PENDING, Timer.State.CLAIMED), due_at__lte=timezone.now()
    ).count()
    return waiting + running + due


def wait_drained(
    processes: TreeProcesses, broker: redis.Redis, mailbox: Mailbox, fake: FakeSlack, limit: float
) -> float | None:
    """Wait until nothing is queued or due and no mail or Slack call came for QUIET_SECONDS.

    Return when (time.monotonic()) something was last left to do, or None after `limit` s.
    """
    started = busy_at = time.monotonic()
    last: tuple[int, int] | None = None
    while time.monotonic() - started < limit:
        check_alive(processes)
        outputs = (mailbox.size(), len(fake.calls))
        if backlog(broker) or outputs != last:
            busy_at = time.monotonic()
        elif time.monotonic() - busy_at >= QUIET_SECONDS:
            return busy_at
        last = outputs
        time.sleep(0.5)
    return None


def later(after_pk: int, probe_ids: set[int]) -> dict[str, tuple[int, float]]:
    """Timers scheduled since `after_pk`, still pending, not the probes' incidents' own.

    Return kind: (how many, seconds until the first is due).
    """
    from django.utils import timezone

    from portal.models import Timer

    found: dict[str, tuple[int, float]] = {}
    now = timezone.now()
    rows = Timer.objects.filter(pk__gt=after_pk, state=Timer.State.PENDING).values_list(
        "kind", "key", "due_at"
    )
    for kind, key, due_at in rows:
        incident = re.match(r"inc-(\d+)\b", key)
        if incident and int(incident.group(1)) in probe_ids:
            continue
        count, first = found.get(kind, (0, math.inf))
        found[kind] = (count + 1, min(first, (due_at - now).total_seconds()))
    return dict(sorted(found.items()))


def settle(
    args: argparse.Namespace,
    processes: TreeProcesses,
    broker: redis.Redis,
    mailbox: Mailbox,
    fake: FakeSlack,
    ended: float,
) -> int:
    """Wait for the timers due within --settle s of the storm's end too; return how many."""
    from django.db.models import Count, Max
    from django.utils import timezone

    from portal.models import Timer

    if args.settle <= 0:
        return 0
    horizon = timezone.now() + timedelta(seconds=args.settle - (time.monotonic() - ended))
    pending = Timer.objects.filter(state=Timer.State.PENDING, due_at__lte=horizon)
    found = pending.aggregate(n=Count("pk"), last=Max("due_at"))
    if found["n"]:
        time.sleep(max(0.0, (found["last"] - timezone.now()).total_seconds() + 1))
        wait_drained(processes, broker, mailbox, fake, args.drain)
    return int(found["n"])


# --- The storm ------------------------------------------------------------------------------------


@dataclass
class Storm:
    load: Load
    probes: list[Probe]
    fingerprints: list[str]
    began: float  # monotonic
    ended: float  # monotonic, when the last storm alert was answered


def run_storm(args: argparse.Namespace, port: int, poster: Poster) -> Storm:
    """Post the storm from `args.clients` clients while the probes go out evenly over it."""
    hook, headers = poster.hook, poster.headers
    fingerprints: list[str] = []
    probes: list[Probe] = []
    probes_out = threading.Event()
    began = time.monotonic()

    def storm_jobs() -> Iterator[Job]:  # taken one at a time, under drive's lock
        cap = args.storm_alerts * OVERTIME_FACTOR
        while len(fingerprints) < args.storm_alerts or (
            not probes_out.is_set() and len(fingerprints) < cap
        ):
            index = len(fingerprints)
            body = alert_body(index, STORM_RULES[index % 2], "warning", STORM_FINGERPRINTS)
            fingerprints.append(f"{STORM_FINGERPRINTS + index:016x}")
            yield Job("POST", hook, body, headers, tag=index)

    def send_probes() -> None:
        last = -math.inf
        for n in range(args.probes):
            while True:
                now, taken = time.monotonic(), len(fingerprints)
                if taken >= args.storm_alerts:  # overtime: the rest, close together
                    due = last + 0.1
                else:
                    # Evenly over the storm as long as its pace so far says it will last.
                    elapsed = now - began
                    length = (
                        args.storm_alerts * elapsed / taken
                        if elapsed >= 1 and taken
                        else args.probes * args.probe_interval
                    )
                    due = max(began + length * (n + 0.5) / args.probes, last + 0.05)
                if now >= due:
                    break
                time.sleep(min(0.02, due - now))
            probes.append(poster.post(probe_body(1000 + n)))
            last = time.monotonic()
        probes_out.set()

    sender = threading.Thread(target=send_probes, daemon=True)
    sender.start()
    load = drive(port, storm_jobs(), args.clients, STORM_LIMIT_SECONDS)  # type: ignore[arg-type]
    ended = time.monotonic()
    probes_out.set()  # should the storm have stopped at its time limit
    sender.join(HTTP_TIMEOUT)
    return Storm(load, probes, fingerprints, began, ended)


# --- One run --------------------------------------------------------------------------------------


def figures(values: list[float]) -> dict[str, float]:
    return {
        "p50": percentile(values, 0.5),
        "p90": percentile(values, 0.9),
        "p99": percentile(values, 0.99),
        "max": max(values, default=math.nan),
    }


def span(value: float) -> str:
    if value < 120:
        return f"{value:.0f} s"
    return f"{value / 60:.0f} min" if value < 7200 else f"{value / 3600:.0f} h"


def seconds(value: float) -> str:
    if math.isnan(value):
        return "-"
    return "never" if math.isinf(value) else f"{value:.2f}"


@dataclass
class Summary:
    """The figures of one run that --baseline compares, passed on as JSON."""

    tree: str = ""
    layout: str = ""
    calm: dict[str, float] = field(default_factory=dict)
    storm: dict[str, float] = field(default_factory=dict)
    probes: int = 0
    unsent_at_end: int = 0
    unsent_after: int = 0
    duplicates: int = 0
    mail_duplicates: int = 0
    storm_alerts: int = 0
    overtime: int = 0
    rate: float = math.nan
    incidents: int = 0
    mails: dict[str, int] = field(default_factory=dict)
    slack: dict[str, int] = field(default_factory=dict)
    drained: float = math.nan
    held: int = 0
    deferred: dict[str, tuple[int, float]] = field(default_factory=dict)


def print_paging(name: str, probes: list[Probe], paging: Paging) -> dict[str, float]:
    first = [paging.first.get(p.fingerprint, math.inf) for p in probes]
    oncall = [paging.oncall.get(p.fingerprint, math.inf) for p in probes]
    for label, values in ((f"{name}: first P1 page sent", first), ("  the on-call's page", oncall)):
        got = figures(values)
        paged = sum(1 for value in values if not math.isinf(value))
        print(
            f"{label:<34} {len(values):>4} {paged:>6} "
            + " ".join(f"{seconds(got[key]):>7}" for key in ("p50", "p90", "p99", "max"))
        )
    return figures(first)


def print_probes(name: str, probes: list[Probe], paging: Paging) -> None:
    answers = Counter(str(p.status) if p.status else "no answer" for p in probes)
    replies = ", ".join(f"{count} x {status}" for status, count in sorted(answers.items()))
    took = [p.reply for p in probes]
    routed = ", ".join(f"{n} {what}" for what, n in sorted(paging.routed.items())) or "none"
    per = ", ".join(f"{n} probes {k}" for k, n in sorted(paging.sent_per_probe.items())) or "-"
    people = ", ".join(f"{who} {n}" for who, n in sorted(paging.per_person.items())) or "-"
    print(
        f"  {name}: POSTs answered {replies} (p50 {seconds(percentile(took, 0.5))} s, max "
        f"{seconds(max(took, default=math.nan))} s); incidents: {routed}; "
        f"{paging.shared} holding other alerts too"
    )
    print(f"    pages sent per probe incident: {per}; per person and kind: {people}")
    for error in sorted({p.error for p in probes if p.error})[:3]:
        print(f"    error: {error}")


def run(args: argparse.Namespace, tree: Path, summary: Summary) -> None:
    """Everything about one tree: start, load the world, calm, storm, drain, count, print."""
    workdir = Path(tempfile.mkdtemp(prefix="firebreak-bench-storm-"))
    database = f"{DB_NAME_PREFIX}{os.getpid()}"
    broker_url = f"redis://127.0.0.1:{args.redis_port}/0"
    fake = FakeSlack()
    mail = workdir / "mail"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        # Production settings, as in service, but over plain HTTP on the loopback.
        "DJANGO_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        # Every process writes its mail to a folder of its own, read back and counted here.
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "DJANGO_EMAIL_FILE_PATH": str(mail / "bench"),
        "DJANGO_STATIC_ROOT": str(workdir / "static"),
        "FIREBREAK_VAR_DIR": str(workdir),
        "FIREBREAK_LOG_LEVEL": "WARNING",
        "FIREBREAK_SLACK_BOT_TOKEN": fake.token,
        "FIREBREAK_SLACK_SIGNING_SECRET": fake.signing_secret,
        "FIREBREAK_SLACK_API_URL": fake.base_url,
        "DATABASE_URL": with_database(args.postgres, database),
        "REDIS_URL": broker_url,
        "CELERY_BROKER_URL": broker_url,
        "PYTHONPATH": str(tree),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    os.environ.clear()
    os.environ.update(env)
    use_tree(tree)
    os.chdir(tree)  # Celery's Django fixup puts the working directory first on sys.path
    processes = TreeProcesses(env, workdir, tree)
    created = False
    try:
        roles = procfile_roles(tree, env)
        drop_stale_databases(args.postgres)
        create_database(args.postgres, database)
        created = True
        import django

        django.setup()
        for name in ("portal", "incidents"):
            if not Path(sys.modules[name].__file__ or "").is_relative_to(tree):
                raise BenchError(f"{name} was imported from outside {tree}")
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        start_redis(processes, args.redis_server, args.redis_port)
        loading = time.monotonic()
        source_id, secret, team_addresses, note = load_world(args.hours, fake)
        loading = time.monotonic() - loading
        start_roles(processes, roles, mail)
        port, _ = start_gunicorn(args, processes)
        broker = redis.Redis.from_url(broker_url, socket_timeout=10)
        mailbox = Mailbox(mail)
        summary.tree = f"{tree.name} ({tree_revision(tree)})"
        summary.layout = ", ".join(role.describe() for role in roles)
        print(f"Tree: {tree} ({tree_revision(tree)})")
        print(
            f"PostgreSQL {postgres_version(args.postgres)}, throwaway database {database}; "
            f"Redis {broker.info()['redis_version']} of its own on port {args.redis_port}"
        )
        print(
            f"gunicorn {importlib.metadata.version('gunicorn')} {args.workers} workers x "
            f"{args.threads} threads; Procfile: {summary.layout}"
        )
        print(
            f"World: demo_data ({loading:.0f} s), business hours {args.hours}, {note}; mail: "
            "Django's file backend; Slack: tests/fakes/slack.py"
        )
        hook = f"/hooks/alertmanager/{source_id}/"
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"}
        # Warm up every server thread: imports, URL resolver, a database connection each. The
        # wrong secret is refused (401) before anything is stored.
        wrong = {**headers, "Authorization": "Bearer not-the-secret"}
        drive(port, [Job("GET", "/healthz") for _ in range(100)], args.clients, 30)
        drive(port, [Job("POST", hook, b"{}", wrong) for _ in range(50)], args.clients, 30)
        # The demo's own work (its open incidents' pages and channels) is not measured.
        wait_drained(processes, broker, mailbox, fake, args.drain)

        # Calm: P1 probes one second apart, nothing else going on.
        poster = Poster(port, hook, headers)
        calm: list[Probe] = []
        start = time.monotonic()
        for n in range(args.calm_probes):
            time.sleep(max(0.0, start + n * args.calm_interval - time.monotonic()))
            calm.append(poster.post(probe_body(n)))
        poster.join()
        wait_paged(processes, calm, source_id, args.wait)
        wait_drained(processes, broker, mailbox, fake, args.drain)
        calm_paging = observe(calm, source_id)

        # The storm, with the probes spread over it.
        from incidents.alerting.models import Alert
        from incidents.chat.models import IncidentChannel
        from incidents.models import Incident, TeamNotification
        from portal.models import Timer

        before = Incident.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        timers_before = Timer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        mail_mark = mailbox.mark()
        slack_mark = len(fake.calls)
        storm = run_storm(args, port, Poster(port, hook, headers))
        at_end = observe(storm.probes, source_id, brief=True)
        unsent_at_end = len(storm.probes) - len(at_end.first)
        drained_at = wait_drained(processes, broker, mailbox, fake, args.drain)
        settled = settle(args, processes, broker, mailbox, fake, storm.ended)
        paging = observe(storm.probes, source_id)
        deferred = later(timers_before, set(paging.incident_of.values()))

        # What it cost, told apart from the probes' own.
        probe_ids = set(paging.incident_of.values())
        opened = Incident.objects.filter(pk__gt=before).exclude(pk__in=probe_ids)
        routed = Counter(
            f"{service} {severity}"
            for service, severity in opened.values_list("services__name", "severity__code")
        )
        alerts = Alert.objects.filter(source_id=source_id, fingerprint__in=storm.fingerprints)
        holding = alerts.exclude(incident=None).values("incident").distinct().count()
        triage = alerts.filter(incident=None).count()
        news = TeamNotification.objects.filter(event__incident__in=opened)
        held = news.filter(sent_at__isnull=True).count()
        mails: Counter[str] = Counter()
        page_mails: Counter[tuple[str, ...]] = Counter()
        for item in mailbox.since(mail_mark):
            owner = whose([int(r) for r in INCIDENT_REF.findall(item.subject)], probe_ids, before)
            page = PAGE_SUBJECT.match(item.subject)
            kind = "page" if page else "team" if item.to in team_addresses else "other"
            mails[f"{owner} {kind}"] += 1
            if page and owner == "probes":
                page_mails[(page.group(2), item.to, page.group(1))] += 1
                page_mails[("id", item.message_id)] += 1
        mail_duplicates = sum(n - 1 for n in page_mails.values())
        probe_channels = set(
            IncidentChannel.objects.filter(incident_id__in=probe_ids).values_list(
                "channel_id", flat=True
            )
        ) - {""}
        slack: Counter[str] = Counter()
        for method, call in fake.calls[slack_mark:]:
            if method in SLACK_METHODS:
                text = json.dumps([call.get("text"), call.get("blocks"), call.get("name")])
                refs = [int(ref) for ref in INCIDENT_REF.findall(text)]
                in_probe_channel = call.get("channel") in probe_channels
                slack[
                    f"{whose(refs, probe_ids, before, in_probe_channel)} {SLACK_METHODS[method]}"
                ] += 1

        # Printing.
        load = storm.load
        taken = len(storm.fingerprints)
        elapsed = storm.ended - storm.began
        print(
            f"\nCalm: {len(calm)} P1 probes {args.calm_interval:g} s apart. Storm: {taken} "
            f"warning alerts ({args.storm_alerts} + {taken - args.storm_alerts} overtime) from "
            f"{args.clients} clients in {elapsed:.1f} s ({taken / elapsed:.1f} alerts/s), "
            f"{len(storm.probes)} P1 probes spread over it"
        )
        print(
            f"{'first page, s after the POST':<34} {'n':>4} {'paged':>6} "
            f"{'p50':>7} {'p90':>7} {'p99':>7} {'max':>7}"
        )
        summary.calm = print_paging("calm", calm, calm_paging)
        summary.storm = print_paging("storm", storm.probes, paging)
        print_probes("calm", calm, calm_paging)
        print_probes("storm", storm.probes, paging)
        unsent_after = len(storm.probes) - len(paging.first)
        print(
            f"  storm probes unsent when the storm's last alert was answered: {unsent_at_end}; "
            f"after the drain: {unsent_after}; pages sent twice: {paging.duplicates} (rows), "
            f"{mail_duplicates} (mails)"
        )
        answered = ", ".join(
            f"{n} x {status}"
            for status, n in sorted(Counter(r.status for r in load.replies).items())
        )
        latencies = load.latencies()
        print(
            f"\nStorm: POSTs answered {answered} (p50 {seconds(percentile(latencies, 0.5))} s, "
            f"p99 {seconds(percentile(latencies, 0.99))} s); {len(load.errors)} errors"
            + ("; STOPPED at the time limit" if load.stopped_early else "")
        )
        for error in sorted(set(load.errors))[:3]:
            print(f"  error: {error}")
        kinds = ", ".join(f"{n} {what}" for what, n in sorted(routed.items())) or "none"
        print(
            f"  incidents opened: {opened.count()} ({kinds}); the storm's alerts are in "
            f"{holding} incidents, {triage} in triage"
        )
        print(
            f"  team news of the storm's incidents recorded {news.count()}, held unsent {held}"
            + (f"; waited for {settled} timers due within {args.settle:g} s" if settled else "")
        )
        print(
            "  mails: "
            + ", ".join(f"{kind} {mails['storm ' + kind]}" for kind in MAIL_KINDS)
            + "; Slack: "
            + ", ".join(f"{what} {slack['storm ' + what]}" for what in SLACK_KINDS)
        )
        earlier_mails = sum(n for key, n in mails.items() if key.startswith("earlier"))
        earlier_slack = sum(n for key, n in slack.items() if key.startswith("earlier"))
        print(
            "  besides, the storm probes': mails "
            + ", ".join(f"{kind} {mails['probes ' + kind]}" for kind in MAIL_KINDS)
            + "; Slack "
            + ", ".join(f"{what} {slack['probes ' + what]}" for what in SLACK_KINDS)
            + f"; about earlier incidents: mails {earlier_mails}, Slack {earlier_slack}"
        )
        drained = math.nan if drained_at is None else max(0.0, drained_at - storm.ended)
        print(
            f"  side effects drained {drained:.0f} s after the storm's last reply"
            if drained_at is not None
            else f"  side effects NOT drained {args.drain:g} s after the storm"
        )
        summary.probes = len(storm.probes)
        summary.unsent_at_end = unsent_at_end
        summary.unsent_after = unsent_after
        summary.duplicates = paging.duplicates
        summary.mail_duplicates = mail_duplicates
        summary.storm_alerts = taken
        summary.overtime = taken - args.storm_alerts
        summary.rate = taken / elapsed
        summary.incidents = opened.count()
        summary.mails = {kind: mails["storm " + kind] for kind in MAIL_KINDS}
        summary.slack = {what: slack["storm " + what] for what in SLACK_KINDS}
        summary.drained = drained
        summary.held = held
        summary.deferred = deferred
        if deferred:
            print(
                "  timers scheduled since the storm began, not the probes', still pending: "
                + ", ".join(
                    f"{n} {kind} (first in {span(due)})" for kind, (n, due) in deferred.items()
                )
            )
    finally:
        processes.stop_all()
        fake.close()
        with contextlib.suppress(ImportError):
            from django.db import connections

            connections.close_all()
        if created:
            with contextlib.suppress(psycopg.Error):
                drop_database(args.postgres, database)
        if args.logs:
            args.logs.mkdir(parents=True, exist_ok=True)
            for log in workdir.glob("*.log"):
                shutil.copy(log, args.logs / log.name)
        shutil.rmtree(workdir, ignore_errors=True)


# --- Before and after -----------------------------------------------------------------------------


def compare(args: argparse.Namespace, passed: list[str]) -> int:
    """Run this script on the baseline tree, then on --tree, each in its own process; compare."""
    summaries: list[Summary] = []
    returncodes = []
    for label, tree in (("before", args.baseline), ("after", args.tree)):
        with tempfile.NamedTemporaryFile(suffix=".json") as output:
            command = [sys.executable, __file__, *passed, "--tree", str(tree)]
            command += ["--summary", output.name]
            if args.logs:
                command += ["--logs", str(args.logs / label)]
            print(f"\n=== {label}: {tree}", flush=True)
            child = subprocess.Popen(command)  # noqa: S603 - our own interpreter and script
            try:
                returncodes.append(child.wait())
            finally:
                if child.poll() is None:
                    child.terminate()
                    child.wait()
            text = Path(output.name).read_text()
            summaries.append(Summary(**json.loads(text)) if text else Summary())
    print_comparison(args, *summaries)
    return max(returncodes)


def print_comparison(args: argparse.Namespace, before: Summary, after: Summary) -> None:
    def row(label: str, value: Any) -> None:
        print(f"{label:<46} {value(before):>20} {value(after):>20}")

    def timing(which: str, key: str) -> Any:
        return lambda s: seconds(getattr(s, which).get(key, math.nan))

    print(
        f"\nStorm benchmark, before and after ({args.storm_alerts} storm alerts, {args.clients} "
        f"clients, {args.probes} probes, business hours {args.hours})"
    )
    row("", lambda s: "before" if s is before else "after")
    row("tree", lambda s: s.tree.split(" (")[-1].rstrip(")") or "-")
    for name in ("calm", "storm"):
        for key in ("p50", "p90", "p99", "max"):
            row(f"{name}: first P1 page {key}, s", timing(name, key))
    row("storm probes unsent at the storm's end", lambda s: f"{s.unsent_at_end} of {s.probes}")
    row("storm probes unsent after the drain", lambda s: s.unsent_after)
    row("P1 pages sent twice (rows / mails)", lambda s: f"{s.duplicates} / {s.mail_duplicates}")
    row("storm alerts (overtime)", lambda s: f"{s.storm_alerts} ({s.overtime})")
    row("storm ingestion, alerts/s", lambda s: f"{s.rate:.1f}")
    row("incidents opened by the storm", lambda s: s.incidents)
    row(
        "mails: team / page / other",
        lambda s: " / ".join(str(s.mails.get(k, "-")) for k in MAIL_KINDS),
    )
    row(
        "Slack: posts / edits / channels",
        lambda s: " / ".join(str(s.slack.get(k, "-")) for k in SLACK_KINDS),
    )
    row("team news held unsent (for a digest)", lambda s: s.held)
    row("side effects drained after the storm, s", lambda s: f"{s.drained:.0f}")
    kinds = sorted(set(before.deferred) | set(after.deferred))
    for kind in kinds:
        row(f"later: {kind}", lambda s, k=kind: s.deferred.get(k, [0])[0])
    for label, summary in (("before", before), ("after", after)):
        print(f"{label} processes: {summary.layout or '-'}")


# --- Main -----------------------------------------------------------------------------------------


def main() -> int:
    # No abbreviations: bench/run.py hands on detection.py's options (--alerts, --redis) too.
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument(
        "--tree", type=Path, default=ROOT, help="the tree whose code runs (default: this one)"
    )
    parser.add_argument(
        "--baseline", type=Path, help="run this tree first, then --tree, and compare the two"
    )
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="a database to connect to")
    parser.add_argument(
        "--redis-port", type=int, default=REDIS_PORT, help="port of the Redis it starts and stops"
    )
    parser.add_argument("--storm-alerts", type=int, default=1000, help="distinct storm alerts")
    parser.add_argument("--clients", type=int, default=12, help="clients posting the storm")
    parser.add_argument("--probes", type=int, default=50, help="P1 probes during the storm")
    parser.add_argument(
        "--probe-interval",
        type=float,
        default=0.2,
        help="seconds between probes until the storm's pace is known (then evenly over it)",
    )
    parser.add_argument("--calm-probes", type=int, default=20, help="P1 probes before the storm")
    parser.add_argument("--calm-interval", type=float, default=1.0, help="seconds between them")
    parser.add_argument(
        "--wait", type=float, default=60.0, help="seconds the calm probes' pages may take"
    )
    parser.add_argument(
        "--drain", type=float, default=150.0, help="seconds to wait for the side effects"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="then also wait for the timers due within this many seconds of the storm's end "
        "(a digest, say) and count what they send",
    )
    parser.add_argument(
        "--hours",
        choices=("off", "business", "as-is"),
        default="off",
        help="the teams' business hours: off (P3 pages nobody, a night storm), business (P3 "
        "pages the on-call) or as-is (the demo's, so the result depends on the clock)",
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--logs", type=Path, help="copy the processes' logs into this folder")
    parser.add_argument("--summary", type=Path, help=argparse.SUPPRESS)
    # bench/run.py hands on the options of bench/detection.py too: ignore those.
    args, _ = parser.parse_known_args()
    args.tree = args.tree.resolve()
    args.baseline = args.baseline and args.baseline.resolve()

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"\nFirebreak storm benchmark (Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load {load})"
    )
    for tree in filter(None, (args.baseline, args.tree)):
        if not (tree / "portal" / "settings.py").is_file() or not (tree / "Procfile").is_file():
            print(f"The storm benchmark cannot run: {tree} is not a Firebreak tree.")
            return 1
    if args.baseline:
        passed = [
            f"--postgres={args.postgres}",
            f"--redis-port={args.redis_port}",
            f"--storm-alerts={args.storm_alerts}",
            f"--clients={args.clients}",
            f"--probes={args.probes}",
            f"--probe-interval={args.probe_interval}",
            f"--calm-probes={args.calm_probes}",
            f"--calm-interval={args.calm_interval}",
            f"--wait={args.wait}",
            f"--drain={args.drain}",
            f"--settle={args.settle}",
            f"--hours={args.hours}",
            f"--workers={args.workers}",
            f"--threads={args.threads}",
        ]
        return compare(args, passed)
    try:
        postgres_version(args.postgres)
    except psycopg.Error as exc:
        print("Skipped the storm benchmark: PostgreSQL is not reachable at")
        print(f"  {args.postgres} ({first_line(exc)}); start it or pass --postgres URL.")
        return 0
    args.redis_server = shutil.which("redis-server")
    if args.redis_server is None:
        print("Skipped the storm benchmark: redis-server is not installed (it starts its own).")
        return 0
    if port_open(args.redis_port):
        print(f"Skipped the storm benchmark: something already listens on port {args.redis_port}")
        print("  (another run of this benchmark?); pass --redis-port PORT.")
        return 1
    summary = Summary()
    try:
        run(args, args.tree, summary)
    except (BenchError, psycopg.Error, redis.RedisError) as exc:
        print(f"\nThe storm benchmark could not finish: {exc}")
        return 1
    finally:
        if args.summary:
            args.summary.write_text(json.dumps(asdict(summary)))
    return 0


if __name__ == "__main__":
    with terminate_cleanly():
        try:
            sys.exit(main())
        except KeyboardInterrupt:
            print("\nInterrupted; the servers and the database are cleaned up.")
            sys.exit(130)
