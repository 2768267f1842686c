"""A real worker with its beat: a missed heartbeat pages the on-call once; a ping resolves it.

The worker runs the beat's check every second against the test's PostgreSQL database on a
private Redis; this process, the web server, answers the ping with its own broker down.
"""

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from incidents.heartbeats.models import Heartbeat
from incidents.heartbeats.services import heartbeat_record_ping
from incidents.models import Incident, TimelineEvent
from incidents.oncall.models import (
    IncidentEngagement,
    Page,
)
from tests import factories
from tests.celery_worker import (
    PrivateRedis,
    Worker,
    broker_unreachable,
    mail_env,
    needs_private_broker,
    redis_server,
    running_worker,
)

from .conftest import make_heartbeat, ping_url

pytestmark = [pytest.mark.worker, needs_private_broker]

CHECK_DONE = re.compile(
    r"incidents\.heartbeats\.tasks\.heartbeats_check_task\[[0-9a-f-]+\] succeeded"
)


def checks(worker: Worker) -> int:
    return len(CHECK_DONE.findall(worker.log.read_text()))


def more_checks(worker: Worker, count: int = 3) -> None:
    """Let the beat run the check `count` more times (a repeated miss would show by then)."""
    target = checks(worker) + count
    worker.wait_for(lambda: checks(worker) >= target, what=f"{count} more heartbeat checks")


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    with redis_server(tmp_path / "redis.log") as server:
        yield server


@pytest.fixture
def oncall(live_db, settings):
    """The Payments API, whose team has Olga on call all the time."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    olga = factories.responder("olga", first_name="Olga")
    team = factories.TeamFactory(name="Payments", slug="payments", time_zone="UTC")
    service = factories.ServiceFactory(name="Payments API", slug="payments-api", team=team)
    factories.always_on_call(team, olga)
    return service


def test_a_missed_heartbeat_pages_once_and_its_ping_resolves_it(
    client, oncall, tmp_path: Path, private_redis: PrivateRedis
):
    heartbeat, secret = make_heartbeat(
        oncall, interval=timedelta(minutes=1), grace=timedelta(minutes=30)
    )
    # Last seen 40 minutes ago: missed since 9 minutes, before any worker ran.
    heartbeat_record_ping(heartbeat=heartbeat, at=timezone.now() - timedelta(minutes=40))
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()

    with (
        broker_unreachable(),
        running_worker(
            tmp_path / "worker.log",
            env=mail_env(mail_dir),
            beat=True,
            broker_url=private_redis.url(),
        ) as worker,
    ):

        def paged() -> bool:
            return Page.objects.filter(recipient__username="olga", state=Page.State.SENT).exists()

        worker.wait_for(paged, what="the on-call paged for the missed heartbeat")
        more_checks(worker)

        incident = Incident.objects.get()
        assert incident.title == "Heartbeat missed: nightly-backup"
        assert IncidentEngagement.objects.filter(incident=incident).count() == 1
        assert Page.objects.filter(incident=incident, kind="escalation").count() == 1

        # The job runs again: its ping, answered by this process, ends the miss.
        assert client.get(ping_url(secret)).json()["status"] == "resumed"
        more_checks(worker)

    incident.refresh_from_db()
    assert incident.status == "resolved"
    assert Incident.objects.count() == 1
    heartbeat = Heartbeat.objects.get()
    assert (heartbeat.state, heartbeat.incident) == ("up", None)
    kinds = list(
        incident.timeline.filter(
            kind__in=[TimelineEvent.Kind.TRIGGERED, TimelineEvent.Kind.ALERT, "resolved"]
        )
        .order_by("occurred_at", "id")
        .values_list("kind", "message")
    )
    assert [kind for kind, _ in kinds] == ["triggered", "alert", "resolved"]
    assert kinds[1][1].startswith("Heartbeat nightly-backup missed: last seen at ")
    assert kinds[2][1].startswith("Heartbeat nightly-backup resumed at ")
    assert kinds[2][1].endswith("after 40 min of silence.")
