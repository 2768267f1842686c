"""With the broker down, a committed change answers 2xx; a worker started later does it once.

This process plays the web server: each change goes through its real interface (the Alertmanager
hook, the REST API, the incident page's forms, Slack's slash command) while its broker is a
closed port. Nothing is done then. A real `celery worker` with an embedded beat, on a Redis of
the test's own, then finds the work in the timer rows the change committed (the wake-ups were
never sent) and does it, exactly once: emails are counted in the worker's mail files, Slack calls
on the fake Slack, Kubernetes writes on the fake API server. One variant kills the worker in the
middle of the engagement; a second worker finishes it, still exactly once.

Needs PostgreSQL (DATABASE_URL) and `redis-server` on PATH; not the shared broker.
"""

import json
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token

from incidents.alerting.models import AlertSource, RoutingRule
from incidents.chat.models import ChatAccount, ChatCommand, IncidentChannel
from incidents.models import Incident, TeamNotification, TimelineEvent
from incidents.oncall.models import (
    IncidentEngagement,
    Page,
)
from incidents.runbooks.models import Cluster, Job, KubernetesTarget, Runbook
from incidents.statuspage.models import Component, Delivery, Subscriber
from portal import timers
from portal.celery import enqueue
from portal.models import Timer
from tests import factories
from tests.celery_worker import (
    MailingWorkers,
    PrivateRedis,
    Worker,
    broker_unreachable,
    needs_private_broker,
    redis_server,
)
from tests.fakes.slack import FakeSlack, signed_headers

pytestmark = [pytest.mark.worker, needs_private_broker]

# Bounded waits: the longest is a job's nudge timer (portal: 30 s after the request) plus a start.
WAIT = 60
LEASE_SECONDS = "3"
ENGAGE_KIND = "event.oncall.engage"


# --- The stage: a web process without a broker, a worker with one ------------------------------


class Backstage(MailingWorkers):
    """Workers on the private Redis, each with a beat sweeping every second."""

    def worker(self, name: str, **options: Any) -> AbstractContextManager[Worker]:
        return super().worker(name, beat=True, **options)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    """A `redis-server` of this test's own on a free port (never the shared one), then stopped."""
    with redis_server(tmp_path / "redis.log") as server:
        yield server


@pytest.fixture
def backstage(
    live_db, settings, tmp_path: Path, private_redis: PrivateRedis
) -> Iterator[Backstage]:
    """Workers on the private Redis; this process (the web) with its broker down throughout."""
    # Never the shared Redis as this process's cache either.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with broker_unreachable():
        yield Backstage(tmp_path, private_redis)


def sweep_here() -> None:
    """Fire every due timer in this process (set-up done before the change under test)."""
    while timers.timers_sweep():
        pass


def settle(worker: Worker, done: Callable[[], object], *, what: str) -> None:
    """Wait until `done`, then let several more sweeps pass (a repeat would show by then)."""
    worker.wait_for(done, what=what, timeout=WAIT)
    worker.wait_for_sweeps(3)


def no_timer_failed() -> None:
    failed = list(Timer.objects.filter(state=Timer.State.FAILED).values_list("key", "outcome"))
    assert failed == []


# --- People and the Payments team ---------------------------------------------------------------


@pytest.fixture
def team(live_db):
    """Payments: Olga always on call (email), Erin its EM, Victor its VP, a team address."""
    people = SimpleNamespace(
        alice=factories.responder("alice", first_name="Alice"),
        olga=factories.responder("olga", first_name="Olga"),
        erin=factories.responder("erin", first_name="Erin"),
        victor=factories.UserFactory(username="victor", first_name="Victor"),
    )
    payments_team = factories.TeamFactory(
        name="Payments", slug="payments", email="payments@example.com", time_zone="Europe/Berlin"
    )
    payments_team.escalation_contact = people.victor
    payments_team.save()
    payments_team.engineering_managers.add(people.erin)
    service = factories.ServiceFactory(name="Payments API", slug="payments-api", team=payments_team)
    factories.always_on_call(payments_team, people.olga, email="olga@example.com")
    return SimpleNamespace(team=payments_team, service=service, **vars(people))


def subject(code: str, verb: str, incident: Incident) -> str:
    return f"[{code}] {verb} {incident.reference}: {incident.title}"


def team_subject(code: str, kind: str, incident: Incident) -> str:
    return f"[{code}] {incident.reference} {kind}: {incident.title}"


# --- The web process really has no broker --------------------------------------------------------


def test_this_process_publishes_nowhere_while_the_broker_is_down(backstage):
    assert enqueue("portal.tasks.timers_sweep_task") is False  # refused: logged, not raised
    assert enqueue("portal.tasks.timers_sweep_task") is False  # not even tried: backing off


# --- 1. An alert opens a P1 ----------------------------------------------------------------------


def firing_now() -> dict:
    starts_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    alert = {
        "status": "firing",
        "labels": {"alertname": "PaymentsDown", "service": "payments", "severity": "critical"},
        "annotations": {"summary": "payments returning 503"},
        "startsAt": starts_at,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": uuid.uuid4().hex[:16],
    }
    return {
        "receiver": "fb",
        "status": "firing",
        "alerts": [alert],
        "groupLabels": {"alertname": "PaymentsDown", "service": "payments"},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager.example.com:9093",
        "version": "4",
        "groupKey": '{}:{alertname="PaymentsDown", service="payments"}',
        "truncatedAlerts": 0,
    }


def alert_opens_a_p1(client, team) -> Incident:
    """Deliver the firing alert through the hook with the broker down; return the incident."""
    RoutingRule.objects.create(
        position=10,
        name="Payments critical",
        match_labels={"service": "payments", "severity": "critical"},
        service=team.service,
        severity=factories.severity("P1"),
    )
    source = AlertSource(name="prod-alertmanager", kind=AlertSource.Kind.ALERTMANAGER)
    secret = source.issue_secret()
    source.save()

    response = client.post(
        reverse("hooks:alertmanager", kwargs={"source_id": source.pk}),
        data=json.dumps(firing_now()),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )

    assert response.status_code == 200, response.content
    incident = Incident.objects.get()
    assert response.json()["incidents_opened"] == [incident.reference]
    assert (incident.severity.code, incident.status, incident.team) == (
        "P1",
        "triggered",
        team.team,
    )
    return incident


def p1_engaged(incident: Incident, team) -> Counter[tuple[str, str]]:
    """Return the mails of a triggered P1 fully engaged: on-call paged, EM and VP told, team."""
    return Counter(
        {
            ("olga@example.com", subject("P1", "PAGE", incident)): 1,
            ("erin@example.com", subject("P1", "FYI", incident)): 1,
            ("victor@example.com", subject("P1", "FYI", incident)): 1,
            ("payments@example.com", team_subject("P1", "triggered", incident)): 1,
        }
    )


def all_sent(incident: Incident, count: int) -> Callable[[], bool]:
    def check() -> bool:
        pages = Page.objects.filter(incident=incident)
        return (
            pages.filter(state=Page.State.SENT).count() >= count
            and not pages.exclude(state=Page.State.SENT).exists()
        )

    return check


def assert_paged_once(incident: Incident, team) -> None:
    pages = Counter(
        Page.objects.filter(incident=incident, state=Page.State.SENT).values_list(
            "recipient__username", "kind"
        )
    )
    assert pages == Counter(
        {("olga", "escalation"): 1, ("erin", "notify"): 1, ("victor", "notify"): 1}
    )
    assert IncidentEngagement.objects.filter(incident=incident).count() == 1


def test_an_alert_opening_a_p1_pages_the_oncall_once(client, backstage, team):
    incident = alert_opens_a_p1(client, team)

    # Committed, answered, and nothing done: the engagement waits in its timer row.
    engage = Timer.objects.get(kind=ENGAGE_KIND)
    assert (engage.state, engage.attempts) == ("pending", 0)
    assert not Page.objects.exists()
    assert not IncidentEngagement.objects.exists()
    assert backstage.mails() == Counter()

    with backstage.worker("worker") as worker:
        settle(
            worker,
            lambda: (
                all_sent(incident, 3)()
                and TeamNotification.objects.filter(event__incident=incident).exists()
            ),
            what="the on-call paged, the EM and VP told and the team mailed",
        )

    assert backstage.mails() == p1_engaged(incident, team)
    assert_paged_once(incident, team)
    engage.refresh_from_db()
    assert (engage.state, engage.attempts) == ("done", 1)
    no_timer_failed()


def test_a_worker_killed_mid_engagement_leaves_it_to_the_next_one_which_pages_once(
    client, backstage, team, tmp_path: Path
):
    incident = alert_opens_a_p1(client, team)
    env = {
        "FIREBREAK_TIMER_LEASE_SECONDS": LEASE_SECONDS,
        "FIREBREAK_TEST_MARKER_DIR": str(tmp_path),
    }
    include = ("tests.broker_down_hooks",)
    marker = tmp_path / "engaging"

    with backstage.worker("first", env=env, include=include) as first:
        first.wait_for(marker.exists, what="the first worker inside the engagement", timeout=WAIT)
        first.kill()

    # It had engaged (pages written) but had not committed: the claim is all that is left.
    assert "escalation steps" in marker.read_text()
    engage = Timer.objects.get(kind=ENGAGE_KIND)
    assert (engage.state, engage.attempts) == ("claimed", 1)
    assert not Page.objects.exists()
    assert not IncidentEngagement.objects.exists()
    assert not [key for key in backstage.mails() if "PAGE" in key[1] or "FYI" in key[1]]

    with backstage.worker("second", env=env, include=include) as second:
        settle(
            second,
            lambda: (
                all_sent(incident, 3)()
                and TeamNotification.objects.filter(event__incident=incident).exists()
            ),
            what="the engagement taken over after the lease, and its pages sent",
        )

    assert backstage.mails() == p1_engaged(incident, team)
    assert_paged_once(incident, team)
    engage.refresh_from_db()
    assert (engage.state, engage.attempts) == ("done", 2)
    no_timer_failed()


# --- 2. A P1 declared through the REST API -------------------------------------------------------


def api_headers(user) -> dict[str, str]:
    token = Token.objects.create(user=user)
    return {"HTTP_AUTHORIZATION": f"Token {token.key}"}


def test_a_p1_declared_through_the_api_tells_the_em_vp_and_team_once(client, backstage, team):
    response = client.post(
        "/api/v1/incidents/",
        data=json.dumps(
            {
                "title": "Payments service returning 503",
                "severity": "P1",
                "services": ["payments-api"],
            }
        ),
        content_type="application/json",
        **api_headers(team.alice),
    )

    assert response.status_code == 201, response.content
    incident = Incident.objects.get(pk=response.json()["id"])
    assert (incident.status, incident.team) == ("investigating", team.team)
    assert Timer.objects.get(kind=ENGAGE_KIND).state == "pending"
    assert not Page.objects.exists()
    assert not TeamNotification.objects.exists()

    with backstage.worker("worker") as worker:
        settle(
            worker,
            lambda: (
                all_sent(incident, 2)()
                and TeamNotification.objects.filter(event__incident=incident).exists()
            ),
            what="the EM and VP told and the team mailed",
        )

    # Declared means acknowledged by its declarer: the on-call is not paged; the rest once.
    assert backstage.mails() == Counter(
        {
            ("erin@example.com", subject("P1", "FYI", incident)): 1,
            ("victor@example.com", subject("P1", "FYI", incident)): 1,
            ("payments@example.com", team_subject("P1", "declared", incident)): 1,
        }
    )
    assert IncidentEngagement.objects.filter(incident=incident).count() == 1
    no_timer_failed()


# --- 3. P3 → P1 through the API on an engaged incident -------------------------------------------


def test_raising_an_engaged_p3_to_p1_through_the_api_escalates_once(
    client, backstage, team, mailoutbox
):
    incident = factories.triggered("P3", services=[team.service], title="Checkout is slow")
    sweep_here()  # engaged before the broker went down… (mail here goes to the outbox)
    engagement = IncidentEngagement.objects.get(incident=incident)
    assert engagement.policy_name == "Default for P3"
    before = Counter((message.to[0], message.subject) for message in mailoutbox)

    response = client.post(
        f"/api/v1/incidents/{incident.pk}/severity/",
        data=json.dumps({"severity": "P1", "reason": "Every region"}),
        content_type="application/json",
        **api_headers(team.alice),
    )

    assert response.status_code == 200, response.content
    assert (response.json()["severity"], response.json()["status"]) == ("P1", "triggered")
    # The replan is part of the change: the EM's and VP's pages are recorded, none is sent.
    notified = Page.objects.filter(incident=incident, kind=Page.Kind.NOTIFY)
    assert sorted(notified.values_list("recipient__username", "state")) == [
        ("erin", "pending"),
        ("victor", "pending"),
    ]
    assert backstage.mails() == Counter()
    changed = TimelineEvent.objects.get(incident=incident, kind=TimelineEvent.Kind.SEVERITY_CHANGED)

    with backstage.worker("worker") as worker:
        settle(
            worker,
            lambda: (
                all_sent(incident, 3)() and TeamNotification.objects.filter(event=changed).exists()
            ),
            what="the EM and VP told, the on-call paged and the team mailed",
        )

    worker_mails = backstage.mails()
    # The EM and the VP hear of the P1 once, the team once of the change, and nobody else but
    # the on-call hears anything.
    assert Counter({key: n for key, n in worker_mails.items() if key[0] != "olga@example.com"}) == (
        Counter(
            {
                ("erin@example.com", subject("P1", "FYI", incident)): 1,
                ("victor@example.com", subject("P1", "FYI", incident)): 1,
                ("payments@example.com", team_subject("P1", "severity changed", incident)): 1,
            }
        )
    )
    # The on-call is paged once over the whole story: at P3 already (in business hours, before
    # the broker went down), or now as the P1's first step.
    everywhere = before + worker_mails
    pages = [n for (to, _), n in everywhere.items() if to == "olga@example.com"]
    assert pages == [1], everywhere
    assert Page.objects.filter(incident=incident, kind=Page.Kind.ESCALATION).count() == 1
    no_timer_failed()


# --- 4. A status page publish with a confirmed email subscriber ----------------------------------


def test_a_status_page_publish_from_the_incident_page_mails_the_subscriber_once(
    client, backstage, team, settings, tmp_path: Path
):
    # As in production: every publish also asks for a refresh of the static snapshot.
    settings.FIREBREAK_STATUS_SNAPSHOT_DIR = str(tmp_path / "status-snapshot")
    incident = factories.declared(team.alice, "P1", services=[team.service])
    sweep_here()  # its engagement, before the broker went down
    checkout = Component.objects.create(name="Checkout")
    checkout.services.add(team.service)
    subscriber = Subscriber.objects.create(
        kind=Subscriber.Kind.EMAIL, email="reader@example.com", confirmed_at=timezone.now()
    )
    client.force_login(team.alice)

    response = client.post(
        reverse("incidents:public_update", kwargs={"pk": incident.pk}),
        {
            "name": "Card payments are failing",
            "status": "investigating",
            "impact": "major",
            "body": "We are investigating reports of failing card payments.",
            f"component_{checkout.pk}": "partial_outage",
            "deliver_notifications": "on",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert incident.public_incident.name == "Card payments are failing"
    assert not Delivery.objects.exists()  # the fan-out waits in its timer row
    assert backstage.mails() == Counter()

    with backstage.worker("worker") as worker:
        settle(
            worker,
            lambda: Delivery.objects.filter(state=Delivery.State.SENT).exists(),
            what="the subscriber's delivery sent",
        )

    mails = backstage.mails()
    assert list(mails.values()) == [1], mails
    ((to, title),) = mails
    assert to == "reader@example.com"
    assert "Card payments are failing" in title
    delivery = Delivery.objects.get()
    assert (delivery.subscriber, delivery.state, delivery.attempts) == (subscriber, "sent", 1)
    no_timer_failed()


# --- 5. A confirmed runbook job ------------------------------------------------------------------

NS = "production"
DEPLOYMENT = "payments-api"
IMAGES = [f"registry.example.com/payments-api:v{n}" for n in (1, 2, 3)]


def hidden_inputs(html: str, form_id: str) -> dict[str, str]:
    form = re.search(rf'<form[^>]*id="{form_id}".*?</form>', html, flags=re.S)
    assert form, f"no form {form_id}"
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.group(0)))


def applied_patches(fake) -> list:
    return [
        r
        for r in fake.requests_to("PATCH", f"deployments/{DEPLOYMENT}")
        if r.query.get("dryRun") != "All"
    ]


def test_a_confirmed_runbook_job_changes_the_cluster_once(client, backstage, team, fake_kubernetes):
    fake, config = fake_kubernetes  # served from this process; the worker reads its kubeconfig
    fake.add_namespace(NS)
    fake.add_node("node-a", internal_ip="10.0.0.1")
    fake.add_deployment(
        NS, DEPLOYMENT, image=IMAGES[2], revisions=IMAGES[:2], pods=2, node="node-a"
    )
    fake.auto_rollout = True
    cluster = Cluster.objects.create(
        name="prod-eu",
        kubeconfig_path=config.kubeconfig_path,
        context=config.context,
        request_timeout_seconds=5,
    )
    target = KubernetesTarget.objects.create(
        service=team.service,
        name="production",
        cluster=cluster,
        namespace=NS,
        deployments=[DEPLOYMENT],
        pod_selector=f"app={DEPLOYMENT}",
        kubernetes_service=DEPLOYMENT,
    )
    Runbook.objects.get(slug="all-pods-crashing").services.add(team.service)
    incident = factories.declared(team.alice, "P1", services=[team.service])
    sweep_here()
    client.force_login(team.alice)
    runbook_url = reverse(
        "incidents:runbook", kwargs={"pk": incident.pk, "slug": "all-pods-crashing"}
    )
    data = hidden_inputs(
        client.get(runbook_url).content.decode(), f"form-t{target.pk}-rollback-{DEPLOYMENT}"
    )
    data["to_revision"] = "1"

    # Requested with the broker down: the preview waits for a worker.
    response = client.post(
        reverse("incidents:job_request", kwargs={"pk": incident.pk, "slug": "all-pods-crashing"}),
        data,
    )
    job = Job.objects.get(kind="rollback")
    assert response.status_code == 302
    assert (job.state, job.preview) == ("preview", {})
    assert fake.requests_to("PATCH") == []

    with backstage.worker("previewer") as worker:
        worker.wait_for(
            lambda: Job.objects.get(pk=job.pk).preview.get("computed_at"),
            what="the preview computed",
            timeout=WAIT,
        )
    job.refresh_from_db()
    assert job.state == "preview"
    assert applied_patches(fake) == []

    # Confirmed with the broker still down, no worker running: queued, nothing changed.
    response = client.post(
        reverse("incidents:job_confirm", kwargs={"pk": incident.pk, "job_id": job.pk})
    )
    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("queued", 0)
    assert applied_patches(fake) == []

    with backstage.worker("runner") as worker:
        settle(
            worker,
            lambda: (
                Job.objects.get(pk=job.pk).state == "succeeded"
                and Job.objects.filter(parent=job, state="succeeded").exists()
            ),
            what="the job run and its rollout followed",
        )

    job.refresh_from_db()
    assert (job.state, job.attempts) == ("succeeded", 1)
    assert len(applied_patches(fake)) == 1
    finished = TimelineEvent.objects.filter(
        incident=incident, kind=TimelineEvent.Kind.JOB_FINISHED, data__job_id=job.pk
    )
    assert finished.count() == 1
    assert Job.objects.filter(parent=job).count() == 1
    no_timer_failed()


# --- 6. A Slack slash command ---------------------------------------------------------------------


def slack_env(fake: FakeSlack) -> dict[str, str]:
    return {
        "FIREBREAK_SLACK_BOT_TOKEN": fake.token,
        "FIREBREAK_SLACK_SIGNING_SECRET": fake.signing_secret,
        "FIREBREAK_SLACK_API_URL": fake.base_url,
        "FIREBREAK_SLACK_ANNOUNCE_CHANNEL": "#incidents",
        "FIREBREAK_BASE_URL": "https://firebreak.example.com",
    }


def test_a_slack_slash_command_declares_and_opens_the_war_room_once(
    client, backstage, team, fake_slack, settings
):
    settings.FIREBREAK_SLACK_ANNOUNCE_CHANNEL = "#incidents"
    fake_slack.add_user("UALICE", name="alice", email="alice@example.com")
    ChatAccount.objects.create(user=team.alice, member_id="UALICE")
    body = (
        "token=deprecated&team_id=TFIREBREAK&channel_id=CGENERAL&channel_name=general"
        "&user_id=UALICE&user_name=alice&command=%2Fincident"
        "&text=P1+%22payment+service+down%22&api_app_id=AFIREBREAK"
        f"&response_url={fake_slack.response_url('cmd')}&trigger_id=trigger.1.abc"
    ).encode()

    response = client.post(
        "/hooks/slack/commands/",
        data=body,
        content_type="application/x-www-form-urlencoded",
        **signed_headers(fake_slack.signing_secret, body),
    )

    assert response.status_code == 200
    assert "Declaring" in response.json()["text"]
    assert ChatCommand.objects.get().finished_at is None
    assert not Incident.objects.exists()
    assert fake_slack.calls == []

    def war_room_open() -> bool:
        channel = IncidentChannel.objects.filter(opened_at__isnull=False).first()
        return (
            channel is not None
            and any(r["_key"] == "cmd" for r in fake_slack.responses)
            and any("INCIDENT" in m["text"] for m in fake_slack.messages("incidents"))
            and bool(fake_slack.messages(channel.channel_id))
        )

    with backstage.worker("worker", env=slack_env(fake_slack)) as worker:
        settle(worker, war_room_open, what="the declaration, its channel, announcement and reply")

    incident = Incident.objects.get()
    assert (incident.title, incident.severity.code, incident.declared_by) == (
        "payment service down",
        "P1",
        team.alice,
    )
    command = ChatCommand.objects.get()
    assert command.finished_at is not None and command.incident == incident
    replies = [r for r in fake_slack.responses if r["_key"] == "cmd"]
    assert len(replies) == 1
    assert f"Declared {incident.reference} (P1)" in json.dumps(replies[0])
    assert len(fake_slack.called("conversations.create")) == 1
    channel = IncidentChannel.objects.get(incident=incident)
    announcements = [m for m in fake_slack.messages("incidents") if "INCIDENT" in m["text"]]
    assert len(announcements) == 1
    assert "payment service down" in announcements[0]["text"]
    posted = Counter(
        (args.get("channel"), args.get("text")) for args in fake_slack.called("chat.postMessage")
    )
    assert posted and max(posted.values()) == 1, posted  # nothing posted twice
    assert fake_slack.messages(channel.channel_id)
    assert backstage.mails() == Counter()
    no_timer_failed()
