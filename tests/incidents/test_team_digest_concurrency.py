"""Team digests under concurrent workers: every notification mailed once (PostgreSQL row locks)."""

import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, connections, transaction

from incidents import subscribers
from incidents.models import TeamDigest, TeamNotification
from incidents.services import notifications
from incidents.services.notifications import incident_notify_team, team_digest_send
from tests import factories

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks are PostgreSQL's (set DATABASE_URL)"
)

TEAM = "payments@example.com"


@pytest.fixture
def team_setup(live_db, settings, monkeypatch):
    settings.FIREBREAK_TEAM_DIGEST_MINUTES = 5
    # The tests run the notifications themselves, in threads: the subscriber's timers, woken
    # on commit, leave them alone.
    monkeypatch.setattr(subscribers, "incident_notify_team", lambda **kwargs: None)
    team = factories.TeamFactory(name="Payments", slug="payments", email=TEAM)
    service = factories.ServiceFactory(name="Payments API", slug="payments-api", team=team)
    return factories.responder("alice"), service


@pytest.fixture
def slow_mail(monkeypatch):
    """Widen the window between deciding what to mail and committing that it was mailed."""
    real = notifications.mail_send

    def slow(**kwargs):
        time.sleep(0.3)
        return real(**kwargs)

    monkeypatch.setattr(notifications, "mail_send", slow)


def run_together(*actions: Callable[[], object]) -> tuple[list[object], list[BaseException]]:
    """Run the actions in threads released at once; return what they returned and raised."""
    start = threading.Barrier(len(actions))
    results: list[object] = []
    errors: list[BaseException] = []

    def run(action: Callable[[], object]) -> None:
        try:
            start.wait()
            results.append(action())
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results, errors


def declared_event_id(alice, service, title: str) -> int:
    incident = factories.declared(alice, "P3", services=[service], title=title)
    return incident.timeline.get(kind="declared").pk


def in_transaction(func: Callable[[], object]) -> Callable[[], object]:
    def run() -> object:
        with transaction.atomic():  # as the timer runs it
            return func()

    return run


def test_two_workers_sending_one_digest_mail_it_once(team_setup, slow_mail, mailoutbox):
    alice, service = team_setup
    assert incident_notify_team(event_id=declared_event_id(alice, service, "A")).sent_at
    assert incident_notify_team(event_id=declared_event_id(alice, service, "B")).digest_id
    digest = TeamDigest.objects.get()

    send = in_transaction(lambda: team_digest_send(digest_id=digest.pk))
    results, errors = run_together(send, send)

    assert errors == []
    assert sorted(map(str, results)) == [
        f"digest {digest.pk} already sent",
        f"digest {digest.pk}: 1 updates sent",
    ]
    assert [m.subject.split(" since")[0] for m in mailoutbox[1:]] == [
        "1 incident update for Payments"
    ]


def test_news_held_while_its_digest_goes_out_is_mailed_once(team_setup, slow_mail, mailoutbox):
    alice, service = team_setup
    incident_notify_team(event_id=declared_event_id(alice, service, "A"))
    incident_notify_team(event_id=declared_event_id(alice, service, "B"))
    digest = TeamDigest.objects.get()
    late = declared_event_id(alice, service, "C")

    _, errors = run_together(
        in_transaction(lambda: team_digest_send(digest_id=digest.pk)),
        in_transaction(lambda: incident_notify_team(event_id=late)),
    )
    assert errors == []
    # The late news either made this digest or waits in the next one; send whatever is open.
    for open_digest in TeamDigest.objects.filter(sent_at__isnull=True):
        with transaction.atomic():
            team_digest_send(digest_id=open_digest.pk)

    digests = [m for m in mailoutbox if "incident update" in m.subject]
    mentions = [sum(f" {title} (" in m.body for m in digests) for title in ("B", "C")]
    assert mentions == [1, 1]
    assert not TeamNotification.objects.filter(sent_at__isnull=True).exists()


def test_two_first_news_at_once_mail_one_and_hold_the_other(team_setup, slow_mail, mailoutbox):
    alice, service = team_setup
    first, second = (declared_event_id(alice, service, title) for title in ("A", "B"))

    _, errors = run_together(
        in_transaction(lambda: incident_notify_team(event_id=first)),
        in_transaction(lambda: incident_notify_team(event_id=second)),
    )

    assert errors == []
    assert len(mailoutbox) == 1
    notes = TeamNotification.objects.order_by("sent_at")
    assert sorted(n.sent_at is None for n in notes) == [False, True]
