"""The broker paused and killed under a running portal: requests answer, the worker carries on.

Each test runs a `redis-server` of its own (never the shared one) as the broker and the cache of
this process (the web) and of a real `celery worker` with its beat. A paused Redis accepts
connections and answers nothing; a killed one drops every connection and loses every key.

Needs PostgreSQL (DATABASE_URL) and `redis-server` on PATH.
"""

import json
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.urls import reverse

from incidents.alerting.models import AlertSource, RoutingRule
from incidents.models import Incident
from incidents.oncall.acks import ack_token
from incidents.oncall.models import Page
from portal import timers
from portal.celery import app
from portal.models import Timer
from tests import factories
from tests.broker_faults import answered, faulty_redis, prefork_worker, served_by
from tests.celery_worker import mail_env, mails_in, needs_private_broker

pytestmark = [pytest.mark.worker, needs_private_broker]

WAIT = 60


@pytest.fixture
def redis(tmp_path: Path):
    with faulty_redis(tmp_path / "redis.log") as server:
        yield server


@pytest.fixture
def oncall(live_db):
    """Payments: Olga always on call, paged by email; alerts labelled service=payments are P2."""
    olga = factories.responder("olga", first_name="Olga")
    team = factories.TeamFactory(name="Payments", slug="payments", time_zone="UTC")
    service = factories.ServiceFactory(name="Payments API", slug="payments-api", team=team)
    factories.always_on_call(team, olga, email="olga@example.com")
    RoutingRule.objects.create(
        position=10,
        name="Payments",
        match_labels={"service": "payments"},
        service=service,
        severity=factories.severity("P2"),
    )
    source = AlertSource(name="prod-alertmanager", kind=AlertSource.Kind.ALERTMANAGER)
    secret = source.issue_secret()
    source.save()
    return SimpleNamespace(olga=olga, team=team, service=service, source=source, secret=secret)


def post_alert(client, oncall, alertname: str):
    """POST one firing Alertmanager alert through the hook; return the response."""
    alert = {
        "status": "firing",
        "labels": {"alertname": alertname, "service": "payments", "severity": "critical"},
        "annotations": {"summary": f"{alertname} on payments"},
        "startsAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": uuid.uuid4().hex[:16],
    }
    body = {
        "receiver": "fb",
        "status": "firing",
        "alerts": [alert],
        "groupLabels": {"alertname": alertname},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager.example.com:9093",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}"}}',
        "truncatedAlerts": 0,
    }
    return client.post(
        reverse("hooks:alertmanager", kwargs={"source_id": oncall.source.pk}),
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {oncall.secret}",
    )


def sweep_here() -> None:
    while timers.timers_sweep():
        pass


def pages_mailed(mail_dir: Path) -> Counter[tuple[str, str]]:
    return Counter(
        (message["To"], " ".join(str(message["Subject"]).split()))
        for message in mails_in(mail_dir)
        if "PAGE" in str(message["Subject"])
    )


def page_subject(incident: Incident) -> str:
    return f"[P2] PAGE {incident.reference}: {incident.title}"


# --- A paused Redis -------------------------------------------------------------------------------


def test_alerts_and_acks_answer_while_redis_is_paused_and_page_once_after(
    client, oncall, redis, tmp_path: Path, mailoutbox
):
    with served_by(redis):
        # Before the fault: an incident opened and its on-call paged (here, into the outbox).
        response = post_alert(client, oncall, "CheckoutErrors")
        assert response.status_code == 200, response.content
        earlier = Incident.objects.get()
        sweep_here()
        earlier_page = Page.objects.get(incident=earlier, state=Page.State.SENT)
        assert [m.to for m in mailoutbox if "PAGE" in m.subject] == [["olga@example.com"]]
        client.force_login(oncall.olga)

        redis.pause()
        try:
            # Alerts open incidents and the earlier page is acknowledged from its link, while
            # neither the broker nor the cache answers; the portal's pages keep answering.
            statuses = {}
            for name in ("PaymentsDown", "RefundsStuck", "PayoutsLate"):
                response = answered(lambda n=name: post_alert(client, oncall, n), what=name)
                statuses[name] = response.status_code
            ack = reverse("oncall_ack:confirm", kwargs={"token": ack_token(earlier_page)})
            statuses["ack"] = answered(lambda: client.post(ack), what="the ack").status_code
            for url in ("/healthz", "/incidents/"):
                statuses[url] = answered(lambda u=url: client.get(u), what=url).status_code
        finally:
            redis.resume()

    assert all(200 <= status < 400 for status in statuses.values()), statuses
    opened = list(Incident.objects.exclude(pk=earlier.pk).order_by("pk"))
    assert [i.title.partition(":")[0] for i in opened] == [
        "PaymentsDown",
        "RefundsStuck",
        "PayoutsLate",
    ]
    earlier.refresh_from_db()
    assert earlier.acknowledged_at is not None

    # Redis is back; a worker does what the requests committed, once.
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    log = tmp_path / "worker.log"
    with prefork_worker(log, broker=redis, env=mail_env(mail_dir)) as worker:
        worker.wait_for(
            lambda: Page.objects.filter(incident__in=opened, state=Page.State.SENT).count() >= 3,
            what="the three on-call pages sent",
            timeout=WAIT,
        )
        worker.wait_for_sweeps(3)

    assert pages_mailed(mail_dir) == Counter(
        {("olga@example.com", page_subject(incident)): 1 for incident in opened}
    )
    assert Page.objects.filter(incident=earlier).count() == 1
    assert not Timer.objects.filter(state=Timer.State.FAILED).exists()


# --- A killed Redis -------------------------------------------------------------------------------


def test_the_worker_survives_a_killed_redis_and_pages_after_its_restart(
    oncall, redis, tmp_path: Path
):
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    marker = tmp_path / "nap"
    with (
        served_by(redis),
        prefork_worker(tmp_path / "worker.log", broker=redis, env=mail_env(mail_dir)) as worker,
    ):
        # A task is running (late-acked, like every task) when Redis dies under the worker.
        app.send_task("tests.broker_faults.nap_task", args=[str(marker), 4.0], queue="default")
        worker.wait_for(marker.exists, what="the task running", timeout=WAIT)
        redis.kill()
        worker.wait_for(
            lambda: "Connection to broker lost" in worker.log.read_text(),
            what="the worker noticing",
            timeout=WAIT,
        )
        redis.start()  # the same port, empty
        worker.wait_for(
            lambda: marker.read_text() == "finished", what="the task finishing", timeout=WAIT
        )

        # An alert after the restart: the worker engages and pages the on-call.
        incident = factories.triggered("P2", services=[oncall.service], title="PaymentsDown")
        worker.wait_for(
            lambda: Page.objects.filter(incident=incident, state=Page.State.SENT).exists(),
            what="the page of an incident opened after the restart",
            timeout=WAIT,
        )
        worker.wait_for_sweeps(2)
        assert worker.process.poll() is None, worker.log.read_text()

    assert pages_mailed(mail_dir) == Counter({("olga@example.com", page_subject(incident)): 1})
    assert "Unrecoverable error" not in worker.log.read_text()
