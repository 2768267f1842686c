"""Load demo teams, services, people, incidents and eight weeks of on-call (idempotent)."""

import hashlib
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from incidents import services
from incidents.alerting.formats import ALERTMANAGER_VERSIONS
from incidents.alerting.models import Alert, AlertGroup, AlertSource, RoutingRule, secret_digest
from incidents.alerting.routing import SEVERITY_FOR_LABEL, Router
from incidents.alerting.services import ACTIONABLE_WORDS
from incidents.health.metrics import month_window
from incidents.heartbeats.models import Heartbeat
from incidents.heartbeats.selectors import heartbeat_ping_url
from incidents.heartbeats.services import heartbeat_record_ping
from incidents.models import (
    Incident,
    IncidentRole,
    Service,
    ServiceLink,
    Severity,
    Source,
    Team,
    TimelineEvent,
    UpdateStatus,
)
from incidents.oncall.business_hours import is_business_day, is_business_time, next_business_start
from incidents.oncall.escalation import (
    escalation_plan,
    notify_targets,
    recipients,
    recipients_with_schedules,
)
from incidents.oncall.models import (
    ContactMethod,
    IncidentEngagement,
    Page,
    Rotation,
    RotationParticipant,
    Schedule,
)
from incidents.oncall.paging import page_mark
from incidents.runbooks.models import Runbook
from incidents.statuspage.models import Component, ComponentGroup
from incidents.statuspage.services import maintenance_schedule, public_update_publish
from portal.auth import MANAGERS, RESPONDERS, VIEWERS
from portal.integrations.page_delivery import email_message_id
from portal.links import absolute_url
from portal.models import UserProfile

DEFAULT_PASSWORD = "firebreak-demo"  # noqa: S105 - a published demo login, overridable by env

# username, first name, last name, group (None: superuser), time zone, what they are for
PEOPLE = [
    ("admin", "Ada", "Admin", None, "UTC", "superuser: everything, incl. /admin/"),
    ("maria", "Maria", "Manager", MANAGERS, "Europe/Berlin", "engineering manager: back-office"),
    ("victor", "Victor", "VP", MANAGERS, "America/New_York", "VP / escalation contact"),
    ("alice", "Alice", "Adams", RESPONDERS, "Europe/Berlin", "responder, Payments on-call"),
    ("bob", "Bob", "Baker", RESPONDERS, "Europe/Berlin", "responder, Payments"),
    ("carol", "Carol", "Chen", RESPONDERS, "Europe/London", "responder, Payments"),
    ("dave", "Dave", "Diaz", RESPONDERS, "America/New_York", "responder, Platform on-call"),
    ("erin", "Erin", "Evans", RESPONDERS, "America/Chicago", "responder, Platform"),
    ("vera", "Vera", "Viewer", VIEWERS, "Europe/Paris", "viewer: reads incidents"),
]

# The public status page's components (groups of name, description, internal services).
COMPONENTS = [
    (
        "Payments",
        [
            ("Checkout", "Buying from the shop, in the browser and the apps.", ["checkout"]),
            ("Card payments", "Paying by card, and refunds.", ["payments-api"]),
        ],
    ),
    (
        "Platform",
        [
            ("Website and apps", "Reaching the shop at all.", ["ingress"]),
            ("Sign-in", "Logging in and accounts.", ["identity"]),
        ],
    ),
]

TEAMS: list[dict[str, Any]] = [
    {
        "slug": "payments",
        "name": "Payments",
        "description": "Card payments, refunds and the checkout flow.",
        "chat_channel": "#payments",
        "email": "payments-team@example.com",
        "time_zone": "Europe/Berlin",
        "business_day_start": time(9, 0),
        "business_day_end": time(17, 30),
        "holiday_country": "DE",
        "holiday_subdivision": "BE",
        "members": ["alice", "bob", "carol"],
        "engineering_managers": ["maria"],
        "escalation_contact": "victor",
    },
    {
        "slug": "platform",
        "name": "Platform",
        "description": "Kubernetes clusters, ingress, identity and the deploy pipeline.",
        "chat_channel": "#platform",
        "email": "platform-team@example.com",
        "time_zone": "America/New_York",
        "business_day_start": time(9, 0),
        "business_day_end": time(17, 0),
        "holiday_country": "US",
        "holiday_subdivision": "NY",
        "members": ["dave", "erin"],
        "engineering_managers": ["maria"],
        "escalation_contact": "victor",
    },
]

GRAFANA = "https://grafana.example.com/d"
RUNBOOKS = "https://runbooks.example.com"


def _dashboards(slug: str) -> list[tuple[str, str, str]]:
    """Return the runbook's four bookmarked dashboards for one service."""
    boards = [
        ("API p99 latency", "api-latency"),
        ("Error rate", "error-rate"),
        ("Pod restart count", "pod-restarts"),
        ("Node CPU/memory", "nodes"),
    ]
    return [
        (ServiceLink.Kind.DASHBOARD, title, f"{GRAFANA}/{board}?var-service={slug}")
        for title, board in boards
    ]


SERVICES: list[dict[str, Any]] = [
    {
        "slug": "payments-api",
        "name": "Payments API",
        "team": "payments",
        "description": "Authorises and captures card payments (deployment payments-api).",
        "links": [
            (ServiceLink.Kind.RUNBOOK, "All pods crashing", f"{RUNBOOKS}/k8s/pods-crashing"),
            (ServiceLink.Kind.RUNBOOK, "Rollback procedures", f"{RUNBOOKS}/k8s/rollback"),
            *_dashboards("payments-api"),
        ],
    },
    {
        "slug": "checkout",
        "name": "Checkout",
        "team": "payments",
        "description": "The web checkout that calls the Payments API.",
        "links": [
            (ServiceLink.Kind.RUNBOOK, "Checkout runbook", f"{RUNBOOKS}/checkout"),
            *_dashboards("checkout"),
        ],
    },
    {
        "slug": "ingress",
        "name": "Ingress",
        "team": "platform",
        "description": "The cluster's ingress controllers and load balancers.",
        "links": [
            (ServiceLink.Kind.RUNBOOK, "Traffic dropped to zero", f"{RUNBOOKS}/k8s/no-traffic"),
            *_dashboards("ingress"),
        ],
    },
    {
        "slug": "identity",
        "name": "Identity",
        "team": "platform",
        "description": "Sign-in, sessions and single sign-on.",
        "links": [
            (ServiceLink.Kind.RUNBOOK, "Identity runbook", f"{RUNBOOKS}/identity"),
            *_dashboards("identity"),
        ],
    },
]

# The runbook's playbooks (seeded by a migration) suggested on each service's incidents.
RUNBOOKS_OF_SERVICES = {
    "payments-api": ["all-pods-crashing", "rollback-procedures"],
    "checkout": ["rollback-procedures"],
    "ingress": ["service-traffic-dropped-to-zero", "node-group-failure", "etcd-api-server-issues"],
}


SCHEDULES = [
    ("payments-primary", "Payments primary", "payments", ["alice", "bob", "carol"]),
    ("platform-primary", "Platform primary", "platform", ["dave", "erin"]),
]

# The demo Alertmanager source's secret, printed by the command. Demo only.
DEMO_ALERT_SECRET = "demo-alertmanager-secret"  # noqa: S105
# The demo heartbeat's secret (its ping address is printed). Demo only.
DEMO_HEARTBEAT_SECRET = "demo-heartbeat-secret"  # noqa: S105


class Demo:
    """The demo world: people, services and severities by name, and a fixed 'now'."""

    def __init__(self, people: dict[str, User], now: datetime) -> None:
        self.people = people
        self.now = now
        self.services = {service.slug: service for service in Service.objects.all()}
        self.severities = {severity.code: severity for severity in Severity.objects.all()}

    def ago(self, **delta: float) -> datetime:
        """Return the moment that long before now."""
        return self.now - timedelta(**delta)


def runbook_example(demo: Demo) -> None:
    """The runbook's P1: the payments service returns 503 after a bad deploy; rolled back.

    Its clock times (the 13:57 deploy, the alert at 14:00, "since 14:18") are the Payments
    team's, so the incident happens at 14:00 in the team's zone, two days ago.
    """
    p = demo.people
    payments_api = demo.services["payments-api"]
    zone = ZoneInfo(payments_api.team.time_zone)
    day = (demo.now.astimezone(zone) - timedelta(days=2)).date()
    start = datetime.combine(day, time(14, 0), tzinfo=zone)

    def at(minutes: int) -> datetime:
        return start + timedelta(minutes=minutes)

    incident = services.incident_trigger(
        title="Payments service returning 503",
        severity=demo.severities["P1"],
        services=[payments_api, demo.services["checkout"]],
        summary="Alertmanager: error rate > 5% on payments-api for 2 minutes.",
        impact_started_at=at(-3),
        at=at(0),
    )
    services.incident_acknowledge(incident=incident, actor=p["alice"], at=at(2))
    services.incident_role_assign(
        incident=incident, actor=p["alice"], role=IncidentRole.COMMANDER, at=at(3)
    )
    for minute, role, who in [
        (3, IncidentRole.INVESTIGATOR, "bob"),
        (3, IncidentRole.COMMUNICATOR, "carol"),
        (4, IncidentRole.SCRIBE, "dave"),
    ]:
        services.incident_role_assign(
            incident=incident, actor=p["alice"], role=role, user=p[who], at=at(minute)
        )
    services.incident_start_investigating(incident=incident, actor=p["alice"], at=at(4))
    impact = "Card payments fail with HTTP 503 for all customers; checkout is down."
    services.status_update_post(
        incident=incident,
        actor=p["alice"],
        status=UpdateStatus.INVESTIGATING,
        impact=impact,
        last_action="Paged the Payments on-call, opened #inc-payments-503 and the bridge.",
        next_action="Checking pods and recent events in production.",
        at=at(5),
    )
    services.timeline_note_add(
        incident=incident,
        actor=p["dave"],
        body="payments-api pods in CrashLoopBackOff since the 13:57 deploy (image sha-f00dbad).",
        occurred_at=at(6),
    )
    services.timeline_note_add(
        incident=incident, actor=p["dave"], body="Identified bad deploy", occurred_at=at(8)
    )
    services.incident_mitigate(
        incident=incident,
        actor=p["alice"],
        message="Rolled back deployment payments-api to the previous revision.",
        at=at(15),
    )
    services.status_update_post(
        incident=incident,
        actor=p["alice"],
        status=UpdateStatus.MITIGATING,
        impact="Payments recovering; error rate back under 1%.",
        last_action="Rolled back deployment payments-api (kubectl rollout undo).",
        next_action="Watching error rate and p99 latency; Argo CD auto-sync paused.",
        eta="15 minutes",
        at=at(20),
    )
    services.timeline_note_add(
        incident=incident, actor=p["dave"], body="Service restored", occurred_at=at(20)
    )
    services.status_update_post(
        incident=incident,
        actor=p["alice"],
        status=UpdateStatus.MITIGATING,
        impact="No customer impact since 14:18.",
        last_action="Confirmed error rate and latency are at baseline.",
        next_action="Monitoring for another 15 minutes before resolving.",
        eta="15 minutes",
        at=at(35),
    )
    services.status_update_post(
        incident=incident,
        actor=p["alice"],
        status=UpdateStatus.RESOLVED,
        impact="None; all payments succeed.",
        last_action="Monitored 30 minutes after the rollback with no errors.",
        next_action="Postmortem within 5 business days; bad image blocked in CI.",
        eta="resolved",
        resolve=True,
        at=at(50),
    )
    # An alert opens the incident with none of the impact fields; the IC completes them once the
    # service is back.
    services.incident_update_details(
        incident=incident,
        actor=p["alice"],
        at=at(52),
        summary=(
            "The 13:57 deploy of payments-api shipped a broken image (sha-f00dbad); its pods "
            "crash-looped until the deployment was rolled back at 14:15."
        ),
        impact=(
            "Every card payment failed with HTTP 503 from 13:57 to 14:18; checkout was down "
            "for all customers."
        ),
        users_affected_pct=100,
        regions=["eu-west-1", "us-east-1"],
        customer_facing=True,
        bridge_url="https://meet.example.com/inc-payments-503",
    )


def checkout_latency(demo: Demo) -> None:
    """A P2 being investigated: checkout is slow for EU customers."""
    p = demo.people
    incident = services.incident_declare(
        actor=p["bob"],
        title="Checkout latency above 2 s for EU customers",
        severity=demo.severities["P2"],
        services=[demo.services["checkout"]],
        summary="p99 latency of checkout jumped from 300 ms to 2.4 s in eu-west-1.",
        impact="Checkout is slow and some payments time out for EU customers.",
        users_affected_pct=25,
        regions=["eu-west-1"],
        impact_started_at=demo.ago(minutes=50),
        at=demo.ago(minutes=40),
    )
    services.incident_role_assign(
        incident=incident,
        actor=p["bob"],
        role=IncidentRole.INVESTIGATOR,
        user=p["carol"],
        at=demo.ago(minutes=38),
    )
    services.status_update_post(
        incident=incident,
        actor=p["bob"],
        status=UpdateStatus.INVESTIGATING,
        impact="EU checkout p99 at 2.4 s; about a quarter of EU payments time out.",
        last_action="Ruled out the Payments API: its latency is normal.",
        next_action="Checking the database connection pool of checkout.",
        at=demo.ago(minutes=35),
    )
    # Bob, its IC, told customers too: the incident shows on /status/.
    checkout = Component.objects.filter(services=demo.services["checkout"]).first()
    public_update_publish(
        incident=incident,
        actor=p["bob"],
        name="Slow checkout in Europe",
        status="investigating",
        impact="minor",
        body=(
            "We are currently investigating reports of slow checkout for customers in Europe.\n"
            "Our team has been alerted and is actively working on a resolution.\n"
            "We will provide an update in 30 minutes or sooner."
        ),
        component_statuses={checkout: "degraded_performance"} if checkout else None,
    )


def ingress_restarts(demo: Demo) -> None:
    """A P3 fresh from an alert, waiting for someone to acknowledge it."""
    services.incident_trigger(
        title="HighPodRestartCount: ingress-nginx in production",
        severity=demo.severities["P3"],
        services=[demo.services["ingress"]],
        summary="Alertmanager: more than 5 restarts of ingress-nginx pods in 15 minutes.",
        at=demo.ago(minutes=4),
    )


def export_slow(demo: Demo) -> None:
    """A P4 acknowledged by the Payments on-call, to be looked at next business day."""
    incident = services.incident_trigger(
        title="Refund CSV export takes minutes",
        severity=demo.severities["P4"],
        services=[demo.services["payments-api"]],
        summary="Support reports the refund export is slow; a filtered export works.",
        at=demo.ago(hours=5),
    )
    services.incident_acknowledge(
        incident=incident, actor=demo.people["alice"], at=demo.ago(hours=4, minutes=50)
    )


def login_failures(demo: Demo) -> None:
    """A P2 mitigated by a workaround and being monitored."""
    p = demo.people
    incident = services.incident_declare(
        actor=p["dave"],
        title="Sign-in failures after certificate rotation",
        severity=demo.severities["P2"],
        services=[demo.services["identity"]],
        summary="SSO logins fail with an invalid signature since the signing key rotated.",
        impact="About 30% of sign-ins fail; signed-in users are not affected.",
        users_affected_pct=30,
        regions=["us-east-1", "eu-west-1"],
        at=demo.ago(hours=3),
    )
    services.incident_role_assign(
        incident=incident,
        actor=p["dave"],
        role=IncidentRole.SCRIBE,
        user=p["erin"],
        at=demo.ago(hours=2, minutes=55),
    )
    services.timeline_note_add(
        incident=incident,
        actor=p["erin"],
        body="Two identity pods still serve the old signing key.",
        occurred_at=demo.ago(hours=2, minutes=30),
    )
    services.incident_mitigate(
        incident=incident,
        actor=p["dave"],
        message="Restarted the identity deployment; all pods serve the new key.",
        at=demo.ago(hours=2),
    )
    services.status_update_post(
        incident=incident,
        actor=p["dave"],
        status=UpdateStatus.MITIGATING,
        impact="Sign-ins succeed again.",
        last_action="Restarted the identity deployment (kubectl rollout restart).",
        next_action="Watching sign-in error rate; then fix the key reload.",
        eta="unknown",
        at=demo.ago(hours=1, minutes=55),
    )


def webhook_errors(demo: Demo) -> None:
    """A P3 from last week: resolved and closed (no postmortem required)."""
    p = demo.people
    start = demo.ago(days=6)
    incident = services.incident_declare(
        actor=p["erin"],
        title="Elevated error rate on webhook deliveries",
        severity=demo.severities["P3"],
        services=[demo.services["ingress"]],
        summary="5% of outbound webhooks failed with connection resets.",
        impact="Some partners received webhooks late; retries delivered them all.",
        users_affected_pct=5,
        customer_facing=False,
        at=start,
    )
    services.incident_mitigate(
        incident=incident,
        actor=p["erin"],
        message="Raised the ingress keep-alive timeout.",
        at=start + timedelta(minutes=40),
    )
    services.incident_resolve(
        incident=incident,
        actor=p["erin"],
        message="No resets for an hour.",
        at=start + timedelta(hours=1, minutes=40),
    )
    services.incident_close(incident=incident, actor=p["erin"], at=start + timedelta(days=1))


INCIDENTS: list[tuple[str, Callable[[Demo], None]]] = [
    ("Elevated error rate on webhook deliveries", webhook_errors),
    ("Payments service returning 503", runbook_example),
    ("Refund CSV export takes minutes", export_slow),
    ("Sign-in failures after certificate rotation", login_failures),
    ("Checkout latency above 2 s for EU customers", checkout_latency),
    ("HighPodRestartCount: ingress-nginx in production", ingress_restarts),
]


# --- The last eight weeks of on-call, for /health/ ------------------------------------------------
#
# About thirty alert-opened incidents of the Payments and Platform teams from the demo
# Alertmanager source, their alert episodes and the pages that reached the rotations' on-call.
# Incidents go through the lifecycle services with past times. Alert ingestion and paging stamp
# their rows with `timezone.now()` and take no time, so alert groups, episodes, engagements and
# pages are written here with the ORM, field for field as `incidents.alerting.services` and
# `incidents.oncall.paging` write them, at past times; whom a step paged is asked of the real
# escalation plan and schedules at that past instant, and page verdicts go through `page_mark`.

HISTORY_SEED = 20261130
HISTORY_DAYS = 56
PROMETHEUS = "https://prometheus.example.com"
# Alertmanager re-sends a group that still fires this often (its repeat_interval).
REPEAT_INTERVAL = timedelta(hours=4)
CLUSTERS = {"payments": "prod-eu-west-1", "platform": "prod-us-east-1"}
NODES = [f"ip-10-0-{n}-{n * 7 % 250}.ec2.internal" for n in range(11, 31)]


@dataclass(frozen=True)
class AlertRule:
    """A Prometheus alerting rule of the demo, and how its incidents usually went."""

    name: str
    service: str  # the `service` label; the demo's routing rules route by it
    severity: str  # Alertmanager's word: "error" opens a P2, "warning" a P3
    summary: str
    fix: str  # what the on-call said when resolving
    minutes: tuple[int, int]  # how long its incidents took to resolve
    actionable: bool = True  # whether its page called for a person at all
    manual_action: bool = True  # whether that person had to do something by hand (toil)
    per_node: bool = False  # fires per node: a later episode may be another node's


ALERT_RULES = {
    rule.name: rule
    for rule in [
        AlertRule(
            "PaymentsApiHighErrorRate",
            "payments-api",
            "error",
            "5xx responses of payments-api above 2% for 5 minutes",
            "Rolled back the payments-api deploy; the error rate is back under 0.1%.",
            (35, 150),
        ),
        AlertRule(
            "PaymentsApiLatencyHigh",
            "payments-api",
            "warning",
            "p99 latency of payments-api above 800 ms for 10 minutes",
            "Scaled payments-api from 6 to 9 replicas; p99 back at 300 ms.",
            (25, 120),
        ),
        AlertRule(
            "CardAuthDeclineSpike",
            "payments-api",
            "error",
            "card authorisation declines at 3x their baseline",
            "The card processor fixed a bad BIN table after our ticket; declines are normal.",
            (60, 240),
        ),
        AlertRule(
            "RefundQueueBacklog",
            "payments-api",
            "warning",
            "oldest refund in the queue waits for more than 15 minutes",
            "Restarted the stuck refund worker; the queue drained in 10 minutes.",
            (20, 75),
        ),
        AlertRule(
            "CheckoutLatencyHigh",
            "checkout",
            "warning",
            "checkout p99 latency above 1.5 s in eu-west-1",
            "Latency fell back under 1.5 s by itself, as the last times.",
            (40, 100),
            manual_action=False,
        ),
        AlertRule(
            "IngressHigh5xx",
            "ingress",
            "error",
            "ingress 5xx responses above 1% for 5 minutes",
            "Drained and replaced the ingress node that dropped connections.",
            (30, 150),
        ),
        AlertRule(
            "KubeNodeNotReady",
            "ingress",
            "warning",
            "a node of the production cluster is NotReady for 10 minutes",
            "Cordoned the node and let the node group replace it.",
            (40, 200),
            per_node=True,
        ),
        AlertRule(
            "NodeDiskFillingUp",
            "ingress",
            "warning",
            "a node's root disk fills up within 24 hours at the current rate",
            "Pruned old container images; the disk is at 45%.",
            (20, 90),
            per_node=True,
        ),
        AlertRule(
            "CertificateExpiringSoon",
            "ingress",
            "warning",
            "TLS certificate of shop.example.com expires in 13 days",
            "False alarm: cert-manager had renewed it; the exporter read the old secret.",
            (20, 30),
            actionable=False,
            manual_action=False,
        ),
        AlertRule(
            "IdentityLoginErrorRate",
            "identity",
            "error",
            "sign-in errors above 5% for 5 minutes",
            "Restarted the identity pods that had lost their database connections.",
            (30, 120),
        ),
        AlertRule(
            "IdentitySessionStoreLatency",
            "identity",
            "warning",
            "session store p99 latency above 200 ms",
            "Failed the session Redis over to its replica.",
            (45, 360),
        ),
    ]
}
NOISY_ALERT = "CheckoutLatencyHigh"

# Alertmanager labels each alert with its service; these route the demo source's checkout and
# Platform alerts (anything else goes to the source's default, the Payments API).
ROUTING_RULES = [
    ("Checkout alerts", "checkout"),
    ("Ingress alerts", "ingress"),
    ("Identity alerts", "identity"),
]


class Row(NamedTuple):
    """One incident of a team's history: when, which alert, and the episodes that joined it."""

    days_ago: int
    alert: str
    clock: str  # the team's local time
    later: tuple[bool | None, ...] = ()  # verdicts of later episodes (None: not reviewed)
    reviewed: bool = True  # whether the on-call gave verdicts on the episode and the page


PAYMENTS_HISTORY = [
    Row(52, "PaymentsApiLatencyHigh", "10:40"),
    Row(45, "RefundQueueBacklog", "14:15", (True,)),
    Row(38, "PaymentsApiHighErrorRate", "02:35"),  # at night: acknowledged late, the EM paged
    Row(24, "PaymentsApiLatencyHigh", "11:05", (True,)),
    Row(9, "RefundQueueBacklog", "15:10"),
    Row(3, "CardAuthDeclineSpike", "19:20"),
]
PLATFORM_HISTORY = [
    Row(54, "KubeNodeNotReady", "11:20", (True,)),
    Row(50, "NodeDiskFillingUp", "09:45"),
    Row(47, "IngressHigh5xx", "01:50", (True,)),  # at night
    Row(43, "IdentitySessionStoreLatency", "13:30"),
    Row(36, "NodeDiskFillingUp", "15:20", (True,)),
    Row(33, "KubeNodeNotReady", "10:50", (False, None)),  # nodes drained for an upgrade
    Row(29, "IdentityLoginErrorRate", "08:10", (True,)),
    Row(26, "IdentitySessionStoreLatency", "14:40"),
    Row(21, "NodeDiskFillingUp", "11:30"),
    Row(19, "CertificateExpiringSoon", "10:05"),  # a false alarm
    Row(17, "KubeNodeNotReady", "16:00"),
    Row(12, "IdentitySessionStoreLatency", "10:15", (True,)),
    Row(6, "NodeDiskFillingUp", "13:05"),
    Row(2, "KubeNodeNotReady", "11:35", reviewed=False),
]
# The Payments rotation's bad week, the ISO week two weeks before this one: two broken deploys
# and their fallout page the on-call more than 5 times (`days_ago`: days after its Monday).
BUSY_WEEK = [
    Row(1, "PaymentsApiHighErrorRate", "10:20", (True,)),
    Row(1, "PaymentsApiLatencyHigh", "14:05"),
    Row(2, "RefundQueueBacklog", "11:40"),
    Row(2, "PaymentsApiLatencyHigh", "16:10"),
    Row(3, "PaymentsApiHighErrorRate", "09:50", (True,)),
    Row(4, "RefundQueueBacklog", "10:30"),
]
# The noisy alert flaps: each calendar month its incidents hold this many episodes (the later
# ones join the open incident), and this month it fires once more, right now.
NOISY_EPISODES_PER_MONTH = 7
NOISY_LATER_VERDICTS = {0: (True, False, None, True, True, True), 1: (True, True, False, True)}
NOISY_CLOCKS = ("11:15", "14:30", "10:45")


@dataclass(frozen=True)
class Occurrence:
    """One alert-opened incident of the history."""

    rule: AlertRule
    team: Team
    detected_at: datetime  # when the first episode's first notification arrived
    later: tuple[bool | None, ...] = ()
    reviewed: bool = True
    firing: bool = False  # fired just now: only triggered; the real engagement pages it


def history_incidents() -> Q:
    """Match the incidents the history opened: alert-opened, titled "<alert name>: …"."""
    titles = Q()
    for name in ALERT_RULES:
        titles |= Q(title__startswith=f"{name}: ")
    return Q(source=Source.ALERT) & titles


def _local(team: Team, day: date, clock: str) -> datetime:
    hour, minute = (int(part) for part in clock.split(":"))
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(team.time_zone))


def _occurrence(demo: Demo, team: Team, day: date, row: Row) -> Occurrence:
    """Place a row on the team's clock; a P3 (paged in business hours only) on a business day."""
    rule = ALERT_RULES[row.alert]
    severity = demo.severities[SEVERITY_FOR_LABEL[rule.severity]]
    while True:
        while severity.business_hours_only and not is_business_day(team=team, day=day):
            day -= timedelta(days=1)
        at = _local(team, day, row.clock)
        # Over, verdicts and all, well before now.
        if at + timedelta(minutes=rule.minutes[1] + 60) < demo.now:
            return Occurrence(rule, team, at, row.later, row.reviewed)
        day -= timedelta(days=7)


def _noisy_moments(demo: Demo, team: Team, months_back: int) -> list[datetime]:
    """Return up to three business-day moments of a calendar month for the noisy alert.

    The month as the dashboard reads it both unfiltered (the portal's zone) and for the team (its
    zone), so the episodes count in that month either way; early in a month there may be none.
    """
    zone = ZoneInfo(team.time_zone)
    today = demo.now.astimezone(zone).date()
    index = today.year * 12 + today.month - 1 - months_back
    month = date(index // 12, index % 12 + 1, 1)
    windows = [month_window(month=month), month_window(month=month, team=team)]
    start = max([demo.ago(days=HISTORY_DAYS - 1)] + [window.start for window in windows])
    end = min([demo.ago(minutes=10)] + [window.end for window in windows])
    moments: list[datetime] = []
    day = start.astimezone(zone).date()
    while _local(team, day, "00:00") < end:
        if is_business_day(team=team, day=day):
            at = _local(team, day, NOISY_CLOCKS[len(moments) % len(NOISY_CLOCKS)])
            if at >= start and at + timedelta(hours=3) < end:
                moments.append(at)
        day += timedelta(days=1)
    if len(moments) <= 3:
        return moments
    last = len(moments) - 1
    return [moments[round(i * last / 2)] for i in range(3)]


def _noisy(demo: Demo, team: Team) -> list[Occurrence]:
    """Return the noisy alert's incidents of last month and this month, and the one firing now."""
    rule = ALERT_RULES[NOISY_ALERT]
    found = []
    for months_back in (1, 0):
        moments = _noisy_moments(demo, team, months_back)
        verdicts = list(NOISY_LATER_VERDICTS[months_back])
        for index, at in enumerate(moments):
            # The month's episodes shared out over its incidents, the first ones one more.
            size = NOISY_EPISODES_PER_MONTH // len(moments)
            size += index < NOISY_EPISODES_PER_MONTH % len(moments)
            later = tuple(verdicts.pop(0) if verdicts else True for _ in range(size - 1))
            found.append(Occurrence(rule, team, at, later))
    found.append(Occurrence(rule, team, demo.ago(minutes=2), reviewed=False, firing=True))
    return found


def history_plan(demo: Demo) -> list[Occurrence]:
    """Return the history's incidents in the order they were opened."""
    teams = {team.slug: team for team in Team.objects.all()}
    payments, platform = teams["payments"], teams["platform"]
    plan = []
    for team, rows in ((payments, PAYMENTS_HISTORY), (platform, PLATFORM_HISTORY)):
        today = demo.now.astimezone(ZoneInfo(team.time_zone)).date()
        for row in rows:
            plan.append(_occurrence(demo, team, today - timedelta(days=row.days_ago), row))
    today = demo.now.astimezone(ZoneInfo(payments.time_zone)).date()
    monday = today - timedelta(days=today.weekday() + 14)
    for row in BUSY_WEEK:
        plan.append(_occurrence(demo, payments, monday + timedelta(days=row.days_ago), row))
    plan += _noisy(demo, payments)
    return sorted(plan, key=lambda occurrence: occurrence.detected_at)


def _fingerprint(labels: dict[str, str]) -> str:
    """Return a stable 16-hex-digit fingerprint of the label set, as Alertmanager's is."""
    text = "\xff".join(f"{key}\xff{value}" for key, value in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _headline(alert: Alert) -> str:
    # As ingestion titles incidents and notes (incidents.alerting.services._headline).
    return f"{alert.title}: {alert.summary}" if alert.summary else alert.title


@dataclass
class HistoryCounts:
    incidents: int = 0
    episodes: int = 0
    pages: int = 0


class OnCallHistory:
    """Write the history: incidents through the lifecycle, episodes and pages as services would."""

    def __init__(self, demo: Demo, source: AlertSource) -> None:
        self.demo = demo
        self.source = source
        self.router = Router(source)
        self.rng = random.Random(HISTORY_SEED)
        self.groups: dict[str, AlertGroup] = {}
        self.sender = f"{source.name} ({ALERTMANAGER_VERSIONS['4']})"
        self.counts = HistoryCounts()

    def build(self, plan: list[Occurrence]) -> HistoryCounts:
        for occurrence in plan:
            self._incident(occurrence)
        return self.counts

    # --- Alert ingestion (incidents.alerting.services), at past times ----------------------------

    def _labels(self, occurrence: Occurrence) -> dict[str, str]:
        rule = occurrence.rule
        labels = {
            "alertname": rule.name,
            "service": rule.service,
            "severity": rule.severity,
            "cluster": CLUSTERS[occurrence.team.slug],
            "namespace": rule.service,
        }
        if rule.per_node:
            labels["node"] = self.rng.choice(NODES)
        return labels

    def _group(self, rule: AlertRule, at: datetime) -> AlertGroup:
        """Return the group of `group_by: [alertname, service]`, made when first seen."""
        key = f'{{}}:{{alertname="{rule.name}", service="{rule.service}"}}'
        group = self.groups.get(key)
        if group is None:
            group = AlertGroup.objects.create(
                source=self.source, key=key, key_digest=secret_digest(key)
            )
            AlertGroup.objects.filter(pk=group.pk).update(created_at=at)  # past auto_now_add
            self.groups[key] = group
        return group

    def _episode(
        self,
        group: AlertGroup,
        rule: AlertRule,
        labels: dict[str, str],
        *,
        seen_at: datetime,
        incident: Incident | None,
    ) -> Alert:
        """Store a new firing episode as ingestion does: routed, first and last seen on arrival."""
        route = self.router.route(labels=labels, severity_label=rule.severity)
        alert = Alert.objects.create(
            source=self.source,
            group=group,
            fingerprint=_fingerprint(labels),
            # Alertmanager sends it after the rule's evaluation and its group_wait.
            starts_at=seen_at - timedelta(seconds=self.rng.randint(20, 75)),
            status=Alert.Status.FIRING,
            title=rule.name,
            summary=rule.summary,
            labels=labels,
            annotations={"summary": rule.summary, "runbook_url": f"{RUNBOOKS}/alerts/{rule.name}"},
            generator_url=f"{PROMETHEUS}/graph?g0.expr=ALERTS%7Balertname%3D%22{rule.name}%22%7D",
            first_seen_at=seen_at,
            last_seen_at=seen_at,
            severity=route.severity,
            severity_label=rule.severity,
            severity_note=route.severity_note,
            service=route.service,
            routing_rule=route.rule,
            incident=incident,
        )
        self.counts.episodes += 1
        return alert

    def _end(self, incident: Incident, alert: Alert, ends_at: datetime) -> None:
        """Resolve an episode as its resolved notification does, noting it on the incident."""
        # Re-sent every repeat_interval while it fired, then once resolved.
        repeats = (ends_at - alert.first_seen_at) // REPEAT_INTERVAL
        Alert.objects.filter(pk=alert.pk).update(
            status=Alert.Status.RESOLVED,
            ends_at=ends_at,
            last_seen_at=min(ends_at + timedelta(seconds=self.rng.randint(5, 60)), self.demo.now),
            receive_count=alert.receive_count + repeats + 1,
        )
        alert.status, alert.ends_at = Alert.Status.RESOLVED, ends_at
        self._note(
            incident,
            f"Alert resolved at the source: {_headline(alert)}",
            alert,
            max(ends_at, incident.detected_at),
        )

    def _note(
        self,
        incident: Incident,
        message: str,
        alert: Alert,
        at: datetime,
        *,
        actor: User | None = None,
    ) -> None:
        # Ingestion's and alert_mark_actionable's timeline note (incidents.alerting.services).
        services.timeline_record(
            incident=incident,
            kind=TimelineEvent.Kind.ALERT,
            actor=actor,
            source=Source.ALERT if actor is None else Source.WEB,
            occurred_at=at,
            message=message,
            data={"alerts": [alert.pk], "alert_status": alert.status},
        )

    def _verdict(
        self, incident: Incident, alert: Alert, actionable: bool | None, actor: User, at: datetime
    ) -> None:
        """Record a responder's verdict on an episode as alert_mark_actionable does, at `at`."""
        if actionable is None:
            return
        Alert.objects.filter(pk=alert.pk).update(
            actionable=actionable, actionable_set_by=actor, actionable_set_at=at
        )
        self._note(
            incident,
            f"Alert marked {ACTIONABLE_WORDS[actionable]}: {_headline(alert)}",
            alert,
            at,
            actor=actor,
        )

    # --- Paging (incidents.oncall.paging), at past times ------------------------------------------

    def _page(
        self,
        incident: Incident,
        *,
        kind: str,
        step: str,
        user: User,
        at: datetime,
        step_number: int | None = None,
        schedule_id: int | None = None,
    ) -> Page:
        """Write a page sent by email at `at` (the demo's people have no other contact method)."""
        page = Page.objects.create(
            incident=incident,
            kind=kind,
            step=step,
            step_number=step_number,
            recipient=user,
            schedule_id=schedule_id,
            channel=ContactMethod.Kind.EMAIL,
            address=user.email,
            state=Page.State.SENT,
            created_at=at,
            sent_at=at + timedelta(seconds=self.rng.randint(1, 4)),
            attempts=1,
        )
        page.provider_message_id = email_message_id(page.delivery_id)
        page.save(update_fields=["provider_message_id"])
        self.counts.pages += 1
        return page

    def _escalate(self, incident: Incident) -> tuple[Page, datetime]:
        """Engage and page as incident_engage and its escalation steps did, until acknowledged.

        Return the first escalation page and when its recipient acknowledged it.
        """
        team, severity = incident.team, incident.severity
        assert team is not None
        engaged_at = incident.detected_at + timedelta(seconds=2)  # its task, after the commit
        targets = notify_targets(severity=severity)
        for user in recipients(incident=incident, targets=targets, at=engaged_at):
            self._page(incident, kind=Page.Kind.NOTIFY, step="notify-0", user=user, at=engaged_at)
        start = engaged_at
        if severity.business_hours_only and not is_business_time(team=team, at=start):
            start = next_business_start(team=team, at=start)
        plan = escalation_plan(team=team, severity=severity)
        # Woken at night, people take longer.
        if is_business_time(team=team, at=start):
            minutes = self.rng.triangular(1, 10, 2)
        else:
            minutes = self.rng.uniform(6, 11.5)
        acknowledged_at = start + timedelta(minutes=minutes, seconds=1)
        first: Page | None = None
        last_step = None
        for planned in plan.steps:
            due = start + planned.offset
            if due >= acknowledged_at:
                break  # acknowledging cancelled the steps still pending
            found = recipients_with_schedules(incident=incident, targets=planned.targets, at=due)
            for user, schedule_id in found:
                page = self._page(
                    incident,
                    kind=Page.Kind.ESCALATION,
                    step=f"esc-0.0-{planned.number}",
                    step_number=planned.number,
                    user=user,
                    schedule_id=schedule_id,
                    at=due + timedelta(seconds=1),
                )
                first = first or page
            last_step = planned.number
        if first is None:
            raise CommandError(f"Nobody to page for {incident.reference}: check the schedules.")
        IncidentEngagement.objects.create(
            incident=incident,
            policy_name=plan.name,
            escalation_started_at=start,
            last_step_fired=last_step,
            engaged_at=engaged_at,
        )
        return first, acknowledged_at

    # --- One incident ----------------------------------------------------------------------------

    def _incident(self, occurrence: Occurrence) -> None:
        rng, rule = self.rng, occurrence.rule
        detected = occurrence.detected_at
        if not occurrence.firing:
            detected += timedelta(seconds=rng.randint(0, 240))
        group = self._group(rule, detected)
        labels = self._labels(occurrence)
        first = self._episode(group, rule, labels, seen_at=detected, incident=None)
        incident = services.incident_trigger(
            title=_headline(first),
            severity=first.severity,
            services=[first.service] if first.service else [],
            summary=first.summary,
            source=Source.ALERT,
            at=detected,
            impact_started_at=first.starts_at,
        )
        # The group follows its new incident (ingestion's _attach_group).
        Alert.objects.filter(pk=first.pk).update(incident=incident)
        AlertGroup.objects.filter(pk=group.pk).update(incident=incident)
        self._note(
            incident,
            f"Opened by 1 alert from {self.sender}:\n• {_headline(first)}",
            first,
            detected,
        )
        self.counts.incidents += 1
        if occurrence.firing:
            return  # incident_trigger's engagement (on commit) pages whoever is on call now

        page, acknowledged_at = self._escalate(incident)
        oncall = page.recipient
        # With the page's acknowledge link (page_acknowledge), which spends the link.
        services.incident_acknowledge(
            incident=incident, actor=oncall, source=Source.WEB, at=acknowledged_at
        )
        Page.objects.filter(pk=page.pk).update(
            used_at=acknowledged_at, acknowledged_at=acknowledged_at
        )

        took = timedelta(minutes=rng.uniform(*rule.minutes))
        watched = min(max(took / 5, timedelta(minutes=5)), timedelta(minutes=20))
        alerts_end = max(detected + took - watched, acknowledged_at + timedelta(minutes=4))
        resolved_at = alerts_end + watched
        # The first episode outlasts the acknowledgement (had it ended before, ingestion would
        # have resolved the incident unattended); later ones fire and end after it.
        first_end = alerts_end
        if occurrence.later:
            pieces = 2 * len(occurrence.later) + 1
            first_end = max(
                detected + (alerts_end - detected) / pieces,
                acknowledged_at + timedelta(minutes=2),
            )
        episodes = [first]
        self._end(incident, first, first_end)
        unit = (alerts_end - first_end) / max(2 * len(occurrence.later), 1)
        for index in range(len(occurrence.later)):
            fired = first_end + unit * (2 * index + 1)
            later_labels = self._labels(occurrence) if rule.per_node else labels
            alert = self._episode(group, rule, later_labels, seen_at=fired, incident=incident)
            self._note(incident, f"Alert fired: {_headline(alert)}", alert, fired)
            self._end(incident, alert, fired + unit * rng.uniform(0.5, 0.95))
            episodes.append(alert)

        if incident.severity.update_interval is not None:  # P1/P2: the on-call takes command
            services.incident_role_assign(
                incident=incident,
                actor=oncall,
                role=IncidentRole.COMMANDER,
                at=acknowledged_at + timedelta(minutes=1),
            )
            services.incident_start_investigating(
                incident=incident, actor=oncall, at=acknowledged_at + timedelta(minutes=2)
            )
            services.incident_mitigate(
                incident=incident,
                actor=oncall,
                message=rule.fix,
                at=alerts_end - timedelta(minutes=1),
            )
            message = "Quiet since the fix; resolving."
        else:
            message = rule.fix
        services.incident_resolve(incident=incident, actor=oncall, message=message, at=resolved_at)

        if not occurrence.reviewed:
            return
        reviewed_at = resolved_at + timedelta(minutes=rng.randint(2, 15))
        verdicts = (rule.actionable, *occurrence.later)
        for alert, actionable in zip(episodes, verdicts, strict=True):
            self._verdict(incident, alert, actionable, oncall, reviewed_at)
        page_mark(
            page=page,
            actor=oncall,
            actionable=rule.actionable,
            needed_manual_action=rule.actionable and rule.manual_action,
        )


class Command(BaseCommand):
    help = "Load demo teams, services, people and incidents (idempotent) and print the logins."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--password",
            default=os.environ.get("FIREBREAK_DEMO_PASSWORD", DEFAULT_PASSWORD),
            help="Password of newly created demo accounts (env FIREBREAK_DEMO_PASSWORD).",
        )

    def handle(self, *args: Any, password: str, **options: Any) -> None:
        people, created_people = self._people(password)
        self._teams(people)
        self._services()
        self._runbooks()
        self._schedules(people)
        self._status_page(people)
        source = self._alert_source()
        self._routing_rules(source)
        self._heartbeat()
        demo = Demo(people, timezone.now())
        existing = set(
            Incident.objects.filter(title__in=[title for title, _ in INCIDENTS]).values_list(
                "title", flat=True
            )
        )
        added = 0
        for title, build in INCIDENTS:
            if title in existing:
                continue
            with transaction.atomic():
                build(demo)
            added += 1
        self.stdout.write(
            f"Demo data: {created_people} people and {added} incidents added "
            f"({len(PEOPLE) - created_people} people and {len(INCIDENTS) - added} incidents "
            "were already there)."
        )
        self.stdout.write(self._oncall_history(demo, source))
        self._print_logins(password)
        self._print_alert_hint(source)
        self.stdout.write(
            "Ping the demo heartbeat (a nightly backup, missed a day and two hours after its "
            f"last ping):\n  curl -fsS {heartbeat_ping_url(DEMO_HEARTBEAT_SECRET)}\n"
        )

    def _people(self, password: str) -> tuple[dict[str, User], int]:
        groups = {group.name: group for group in Group.objects.all()}
        people: dict[str, User] = {}
        created_count = 0
        for username, first, last, group, time_zone, _ in PEOPLE:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@example.com",
                    "is_staff": group is None,
                    "is_superuser": group is None,
                },
            )
            if created:
                user.set_password(password)
                user.save(update_fields=["password"])
                if group is not None:
                    user.groups.add(groups[group])
                created_count += 1
            UserProfile.objects.get_or_create(user=user, defaults={"time_zone": time_zone})
            people[username] = user
        return people, created_count

    def _teams(self, people: dict[str, User]) -> None:
        for spec in TEAMS:
            fields = dict(spec)
            members = fields.pop("members")
            managers = fields.pop("engineering_managers")
            contact = fields.pop("escalation_contact")
            team, created = Team.objects.get_or_create(
                slug=fields.pop("slug"), defaults={**fields, "escalation_contact": people[contact]}
            )
            if created:
                team.members.add(*(people[name] for name in members))
                team.engineering_managers.add(*(people[name] for name in managers))

    def _services(self) -> None:
        teams = {team.slug: team for team in Team.objects.all()}
        for spec in SERVICES:
            service, created = Service.objects.get_or_create(
                slug=spec["slug"],
                defaults={
                    "name": spec["name"],
                    "team": teams[spec["team"]],
                    "description": spec["description"],
                },
            )
            if created:
                ServiceLink.objects.bulk_create(
                    ServiceLink(service=service, kind=kind, title=title, url=url, position=i)
                    for i, (kind, title, url) in enumerate(spec["links"])
                )

    def _runbooks(self) -> None:
        """Link the seeded playbooks to the services they are for (suggested on their incidents)."""
        for slug, runbook_slugs in RUNBOOKS_OF_SERVICES.items():
            service = Service.objects.get(slug=slug)
            service.runbooks.add(*Runbook.objects.filter(slug__in=runbook_slugs))

    def _status_page(self, people: dict[str, User]) -> None:
        """Components for the public page, and a maintenance next week (once)."""
        if Component.objects.exists():
            return
        services_by_slug = {service.slug: service for service in Service.objects.all()}
        for position, (group_name, components) in enumerate(COMPONENTS):
            group = ComponentGroup.objects.create(name=group_name, position=position)
            for index, (name, description, slugs) in enumerate(components):
                component = Component.objects.create(
                    name=name, description=description, group=group, position=index
                )
                component.services.set(services_by_slug[slug] for slug in slugs)
        start = (timezone.now() + timedelta(days=6)).replace(
            hour=2, minute=0, second=0, microsecond=0
        )
        maintenance_schedule(
            name="Database upgrade",
            body="We are upgrading the payments database. Payments may be slow for a few minutes.",
            scheduled_for=start,
            scheduled_until=start + timedelta(hours=1),
            components=list(Component.objects.filter(name__in=["Card payments", "Checkout"])),
            actor=people["admin"],
        )

    def _schedules(self, people: dict[str, User]) -> None:
        """Weekly on-call rotations handing over on Mondays at 09:00 in each team's zone."""
        for slug, name, team_slug, usernames in SCHEDULES:
            team = Team.objects.get(slug=team_slug)
            schedule, created = Schedule.objects.get_or_create(
                slug=slug, defaults={"name": name, "team": team, "time_zone": team.time_zone}
            )
            if not created:
                continue
            rotation = Rotation.objects.create(
                schedule=schedule,
                name="Weekly",
                shift_length=timedelta(days=7),
                handoff_time=time(9, 0),
                start_date=date(2026, 1, 5),  # a Monday
            )
            for position, username in enumerate(usernames):
                RotationParticipant.objects.create(
                    rotation=rotation, user=people[username], position=position
                )

    def _alert_source(self) -> AlertSource:
        """An Alertmanager source for the Payments API whose secret is printed (demo only)."""
        source, _ = AlertSource.objects.get_or_create(
            name="Prometheus Alertmanager (demo)",
            defaults={
                "kind": AlertSource.Kind.ALERTMANAGER,
                "default_service": Service.objects.get(slug="payments-api"),
                # A known secret so the printed command works; real sources get a random one.
                "secret_digest": secret_digest(DEMO_ALERT_SECRET),
            },
        )
        return source

    def _routing_rules(self, source: AlertSource) -> None:
        """Route the demo source's alerts by their `service` label (the default: Payments API)."""
        for position, (name, slug) in enumerate(ROUTING_RULES, start=1):
            RoutingRule.objects.get_or_create(
                name=name,
                source=source,
                defaults={
                    "position": position * 10,
                    "match_labels": {"service": slug},
                    "service": Service.objects.get(slug=slug),
                },
            )

    def _heartbeat(self) -> None:
        """A nightly backup's heartbeat of the Payments API, pinged three hours before loading."""
        heartbeat, created = Heartbeat.objects.get_or_create(
            name="Payments DB nightly backup",
            defaults={
                "description": "pg_dump of the payments database; pings once the dump is stored.",
                "service": Service.objects.get(slug="payments-api"),
                "severity": Severity.objects.get(code="P2"),
                "interval": timedelta(days=1),
                "grace": timedelta(hours=2),
                # A known secret so the printed address works; real heartbeats get a random one.
                "secret_digest": secret_digest(DEMO_HEARTBEAT_SECRET),
            },
        )
        if created:
            heartbeat_record_ping(heartbeat=heartbeat, at=timezone.now() - timedelta(hours=3))

    def _oncall_history(self, demo: Demo, source: AlertSource) -> str:
        """Add the last eight weeks of on-call once; return what was done."""
        if Incident.objects.filter(history_incidents()).exists():
            return "On-call history: already there (alert-opened incidents of its alerts exist)."
        with transaction.atomic():
            counts = OnCallHistory(demo, source).build(history_plan(demo))
        return (
            f"On-call history: {counts.incidents} alert-opened incidents, {counts.episodes} "
            f"alert episodes and {counts.pages} pages of the last {HISTORY_DAYS // 7} weeks added."
        )

    def _print_alert_hint(self, source: AlertSource) -> None:
        url = absolute_url(f"/hooks/alertmanager/{source.pk}/")
        self.stdout.write("Send an alert like Alertmanager does (it pages the Payments on-call):")
        self.stdout.write(
            f"  curl -H 'Authorization: Bearer {DEMO_ALERT_SECRET}' "
            f"-H 'Content-Type: application/json' --data @<alertmanager payload.json> {url}\n"
        )

    def _print_logins(self, password: str) -> None:
        self.stdout.write("")
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo logins at {settings.FIREBREAK_BASE_URL} (username, password, role):"
            )
        )
        for username, _, _, _, _, purpose in PEOPLE:
            self.stdout.write(f"  {username:<8} {password:<16} {purpose}")
        self.stdout.write(
            "Passwords are set when an account is created; existing accounts keep theirs.\n"
        )
