"""Load demo teams, services, people and incidents; running it again adds nothing new."""

import os
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from incidents import services
from incidents.alerting.models import AlertSource, secret_digest
from incidents.models import (
    Incident,
    IncidentRole,
    Service,
    ServiceLink,
    Severity,
    Team,
    UpdateStatus,
)
from incidents.oncall.models import Rotation, RotationParticipant, Schedule
from incidents.runbooks.models import Runbook
from incidents.statuspage.models import Component, ComponentGroup
from incidents.statuspage.services import maintenance_schedule, public_update_publish
from portal.auth import MANAGERS, RESPONDERS, VIEWERS
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

TEAMS = [
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


SERVICES = [
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
        self._print_logins(password)
        self._print_alert_hint(source)

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

    def _print_alert_hint(self, source: AlertSource) -> None:
        url = f"{settings.FIREBREAK_BASE_URL}/hooks/alertmanager/{source.pk}/"
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
