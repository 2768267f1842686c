"""In an alert storm, a P1 is paged first and paging never waits for bulk work.

This process plays the web server: incidents open through the incident services and their
wake-ups go to a Redis of the test's own (never the shared one). Real `celery worker`
processes, run as the Procfile runs them (the thread pool, prefetch multiplier 1), then do the
work against the PostgreSQL test database:

- severity order: a paging worker with one thread, started after forty P3 incidents and then
  one P1 opened, pages the P1's on-call before (all but a prefetched couple of) the P3 pages;
- isolation: with hundreds of team mails waiting on `default` and only the paging worker
  running, a new P1 is paged and the mails all stay pending; the default worker started later
  sends each of them once.

Needs PostgreSQL (DATABASE_URL) and `redis-server` on PATH.
"""

from collections import Counter
from collections.abc import Iterator
from datetime import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.db.models import QuerySet

from incidents.models import Incident
from incidents.oncall.models import (
    Page,
)
from portal.models import Timer
from tests import factories
from tests.celery_worker import (
    MailingWorkers,
    needs_private_broker,
    publishing_to,
    redis_server,
)

pytestmark = [pytest.mark.worker, needs_private_broker]

WAIT = 120
ENGAGE_KIND = "event.oncall.engage"
TEAM_MAIL_KIND = "event.incidents.notify_team"


@pytest.fixture
def stage(live_db, settings, tmp_path: Path) -> Iterator[MailingWorkers]:
    """A private Redis that this process publishes its wake-ups to, and workers consume."""
    # Never the shared Redis as this process's cache either.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with redis_server(tmp_path / "redis.log") as redis, publishing_to(redis.url()):
        yield MailingWorkers(tmp_path, redis)


@pytest.fixture
def team(live_db):
    """Payments, in business hours around the clock, so that P3s page at once.

    Olga is always on call (by email), Erin its EM and Victor its VP (told of a P1).
    """
    olga = factories.responder("olga", first_name="Olga")
    erin = factories.responder("erin", first_name="Erin")
    victor = factories.UserFactory(username="victor", first_name="Victor")
    payments = factories.TeamFactory(
        name="Payments",
        slug="payments",
        email="payments@example.com",
        time_zone="UTC",
        business_days=list(range(7)),
        business_day_start=time(0, 0),
        business_day_end=time(23, 59, 59, 999999),
        escalation_contact=victor,
    )
    payments.engineering_managers.add(erin)
    service = factories.ServiceFactory(name="Payments API", slug="payments-api", team=payments)
    factories.always_on_call(payments, olga, email="olga@example.com")
    return SimpleNamespace(team=payments, service=service)


def storm(team, count: int) -> list[Incident]:
    """Open `count` P3 incidents, one transaction each, as alerts would."""
    return [
        factories.triggered("P3", services=[team.service], title=f"Checkout slow in shard {n}")
        for n in range(count)
    ]


def oncall_pages(incidents) -> QuerySet[Page]:
    return Page.objects.filter(incident__in=incidents, kind=Page.Kind.ESCALATION)


def no_timer_failed() -> None:
    failed = list(Timer.objects.filter(state=Timer.State.FAILED).values_list("key", "outcome"))
    assert failed == []


# --- Severity order -----------------------------------------------------------------------------

P3_COUNT = 40


def test_a_p1_opened_after_forty_p3s_is_paged_before_them(stage, team):
    p3s = storm(team, P3_COUNT)
    p1 = factories.triggered("P1", services=[team.service], title="Payments returning 503")

    # Nothing has run: every engagement waits in its timer, its wake-up in the private Redis.
    engagements = Timer.objects.filter(kind=ENGAGE_KIND, state=Timer.State.PENDING)
    assert (
        sorted(engagements.values_list("queue", "priority"))
        == [("paging", 1)] + [("paging", 3)] * P3_COUNT
    )
    assert not Page.objects.exists()

    with stage.worker("paging", queues=("paging",), threads=1) as worker:
        worker.wait_for(
            lambda: oncall_pages([*p3s, p1]).filter(state=Page.State.SENT).count() == P3_COUNT + 1,
            what="the on-call paged for every incident",
            timeout=WAIT,
        )

    p1_page = oncall_pages([p1]).get()
    p3_pages = oncall_pages(p3s)
    assert p3_pages.filter(state=Page.State.SENT).count() == P3_COUNT
    # The one thread took the P1's work first: only a wake-up it had already taken off the
    # broker (prefetch) could have come before. Ordered by when each page was sent.
    sent_first = p3_pages.filter(sent_at__lt=p1_page.sent_at).count()
    assert sent_first <= 2, f"{sent_first} P3 pages went out before the P1's"
    # Its EM and VP were told before the P3s' on-call was paged, too.
    p1_fyi = Page.objects.filter(incident=p1, kind=Page.Kind.NOTIFY).order_by("-sent_at")
    assert p1_fyi.count() == 2
    assert p3_pages.filter(sent_at__lt=p1_fyi.first().sent_at).count() <= 2
    # The team mails were not this worker's: they wait for the default worker.
    team_mails = Timer.objects.filter(kind=TEAM_MAIL_KIND)
    assert set(team_mails.values_list("queue", "state")) == {("default", "pending")}
    assert stage.mails()[("olga@example.com", f"[P1] PAGE {p1.reference}: {p1.title}")] == 1
    no_timer_failed()


# --- Isolation ----------------------------------------------------------------------------------

BULK = 200


def test_the_paging_worker_pages_a_p1_while_the_bulk_waits_for_the_default_worker(stage, team):
    bulk = storm(team, BULK)
    team_mails = Timer.objects.filter(kind=TEAM_MAIL_KIND)
    assert team_mails.filter(state=Timer.State.PENDING, queue="default").count() == BULK

    with stage.worker("paging", queues=("paging",), threads=4, beat=True) as worker:
        # A new P1 in the middle of the storm, while the paging worker runs.
        p1 = factories.triggered("P1", services=[team.service], title="Payments returning 503")
        worker.wait_for(
            lambda: oncall_pages([p1]).filter(state=Page.State.SENT).exists(),
            what="the P1's on-call paged",
            timeout=WAIT,
        )
        # Paged while every team mail (the P1's too) still waits: none is this worker's.
        assert team_mails.filter(state=Timer.State.PENDING).count() == BULK + 1

        worker.wait_for(
            lambda: oncall_pages(bulk).filter(state=Page.State.SENT).count() == BULK,
            what="the storm's on-call pages",
            timeout=WAIT,
        )
        worker.wait_for_sweeps(2)
    # All of the paging work done, and the bulk untouched.
    assert team_mails.filter(state=Timer.State.PENDING).count() == BULK + 1
    assert not [key for key in stage.mails() if key[0] == "payments@example.com"]

    # Each mail at once, not in a digest: so each can be counted.
    env = {"FIREBREAK_TEAM_DIGEST_MINUTES": "0"}
    with stage.worker("default", queues=("default", "jobs"), threads=4, beat=True, env=env) as w:
        w.wait_for(
            lambda: not team_mails.exclude(state=Timer.State.DONE).exists(),
            what="every team mail sent",
            timeout=WAIT,
        )
        w.wait_for_sweeps(2)

    assert set(team_mails.values_list("attempts", flat=True)) == {1}
    mailed = Counter(
        {key: n for key, n in stage.mails().items() if key[0] == "payments@example.com"}
    )
    expected = {f"[P3] {i.reference} triggered: {i.title}" for i in bulk}
    expected.add(f"[P1] {p1.reference} triggered: {p1.title}")
    assert {subject for _, subject in mailed} == expected
    assert set(mailed.values()) == {1}
    no_timer_failed()
