"""Paging survives a killed worker, and an ack racing a due step never loses to it (PostgreSQL)."""

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from incidents.models import Incident
from incidents.oncall import paging
from incidents.oncall.models import ContactMethod, Page
from incidents.oncall.paging import incident_engage, incident_escalation_cancel
from incidents.services import incident_acknowledge, lifecycle
from incidents.statuspage.models import WebhookAllowedNetwork
from portal import timers
from portal.models import Timer
from portal.tasks import timers_sweep_task
from tests import factories
from tests.celery_worker import needs_broker, running_worker

from .gateway import running_gateway

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks are PostgreSQL's (set DATABASE_URL)"
)


@on_postgresql
@pytest.mark.parametrize("first", ["step", "ack"])
def test_an_ack_racing_a_due_step_wins_or_the_page_was_recorded_before_it(
    live_db, paging_team, people, monkeypatch, first
):
    incident = factories.triggered("P1", team=paging_team)
    incident_engage(incident_id=incident.pk)
    timers.timers_sweep()  # step 0 and the notifications
    step = Timer.objects.get(key__contains=":esc-", payload__number=1)
    Timer.objects.filter(pk=step.pk).update(due_at=timezone.now() - timedelta(seconds=1))

    # Widen both critical sections so that, without the incident's row lock, both would act.
    real_recipients, real_check = paging.recipients, lifecycle._check_transition

    def slow_recipients(**kwargs):
        time.sleep(0.3)
        return real_recipients(**kwargs)

    def slow_check(locked, to_status):
        time.sleep(0.3)
        real_check(locked, to_status)

    monkeypatch.setattr(paging, "recipients", slow_recipients)
    monkeypatch.setattr(lifecycle, "_check_transition", slow_check)
    errors: list[BaseException] = []

    def fire_step() -> None:
        try:
            if first == "ack":
                time.sleep(0.1)
            timers.timer_fire(timer_id=step.pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    def ack() -> None:
        try:
            if first == "step":
                time.sleep(0.1)
            with transaction.atomic():
                acked = incident_acknowledge(incident=Incident(pk=incident.pk), actor=people.oncall)
                incident_escalation_cancel(incident=acked)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=fire_step), threading.Thread(target=ack)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    monkeypatch.undo()
    timers.timers_sweep()  # deliver whatever was recorded

    assert errors == []
    incident.refresh_from_db()
    assert incident.status == "acknowledged"
    em_pages = list(Page.objects.filter(incident=incident, kind="escalation", step_number=1))
    for page in em_pages:
        assert page.created_at < incident.acknowledged_at
    if first == "ack":
        assert em_pages == []
    else:
        assert [page.recipient.username for page in em_pages] == ["erin"]
    assert Timer.objects.get(pk=step.pk).state == "done"


@pytest.mark.worker
@needs_broker
def test_a_step_claimed_by_a_killed_worker_is_paged_once_after_the_lease(
    live_db, paging_team, people, tmp_path: Path
):
    from portal.celery import app

    app.control.purge()
    env = {"FIREBREAK_TIMER_LEASE_SECONDS": "3", "FIREBREAK_TEST_MARKER_DIR": str(tmp_path)}
    include = ("tests.incidents.oncall.paging_worker_hooks",)
    marker = tmp_path / "claimed"

    WebhookAllowedNetwork.objects.create(network="127.0.0.1/32", note="the fake gateway")
    with running_gateway(secret="s3cret") as gateway:
        ContactMethod.objects.create(
            user=people.oncall, kind="webhook", address=gateway.url, secret="s3cret"
        )
        with running_worker(tmp_path / "first.log", env=env, include=include) as first:
            incident = factories.triggered("P1", team=paging_team)
            incident_engage(incident_id=incident.pk)  # wake-ups go to the broker at commit
            first.wait_for(marker.exists, what="the first worker claiming step 0")
            first.kill()

        step = Timer.objects.get(key=marker.read_text())
        assert (step.state, step.attempts) == ("claimed", 1)
        assert not Page.objects.filter(incident=incident, kind="escalation").exists()

        def oncall_paged() -> bool:
            timers_sweep_task.delay()
            return Page.objects.filter(incident=incident, kind="escalation", state="sent").exists()

        with running_worker(tmp_path / "second.log", env=env, include=include) as second:
            second.wait_for(oncall_paged, what="the step paged after its lease expired")
            result = timers_sweep_task.delay()
            second.wait_for(lambda: second.ran(result.id), what="a later sweep")

    step.refresh_from_db()
    assert (step.state, step.attempts) == ("done", 2)
    (page,) = Page.objects.filter(incident=incident, kind="escalation")
    assert (page.recipient, page.state, page.provider_message_id) == (people.oncall, "sent", "gw-1")
    escalation_requests = [r for r in gateway.received if r.body["kind"] == "escalation"]
    assert len(escalation_requests) == 1
    assert escalation_requests[0].signature_ok
