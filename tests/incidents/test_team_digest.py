"""Team mail in a storm: the first mail at once, P1/P2 at once, the rest in one digest per interval.

Timers run as the beat sweep runs them, at a clock the tests move (see `clock`).
"""

import zoneinfo
from datetime import datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from incidents.models import TeamDigest, TeamNotification, TimelineEvent
from incidents.services import (
    incident_change_severity,
    incident_reopen,
    incident_resolve,
    notifications,
)
from incidents.services.notifications import DIGEST_KIND, send_team_digest
from portal import timers
from portal.models import Timer
from tests import factories

TEAM = "payments@example.com"


@pytest.fixture
def clock(monkeypatch):
    """Move "now" and fire whatever timers are due then, as the beat sweep would."""

    class Clock:
        now = timezone.now()

        def at(self, moment: datetime) -> datetime:
            self.now = moment
            monkeypatch.setattr(timezone, "now", lambda: moment)
            return moment

        def advance(self, delta: timedelta) -> datetime:
            return self.at(self.now + delta)

        def sweep(self) -> int:
            fired = 0
            while count := timers.timers_sweep():
                fired += count
            return fired

    the_clock = Clock()
    # 10:00 in the teams' time zone (the factories' Europe/Berlin), so that "since 10:00"
    # reads the same in every run.
    berlin = timezone.now().astimezone(zoneinfo.ZoneInfo("Europe/Berlin"))
    the_clock.at(berlin.replace(hour=10, minute=0, second=0, microsecond=0))
    return the_clock


@pytest.fixture
def digest_minutes(settings):
    settings.FIREBREAK_TEAM_DIGEST_MINUTES = 5
    settings.FIREBREAK_BASE_URL = "https://firebreak.example.com"


def team_mails(mailoutbox) -> list:
    return [message for message in mailoutbox if message.to == [TEAM]]


def subjects(mailoutbox) -> list[str]:
    return [message.subject for message in team_mails(mailoutbox)]


def p3(alice, payments, title: str):
    return factories.declared(alice, "P3", services=[payments], title=title)


def test_first_mail_at_once_then_p3_news_in_one_digest_at_the_end_of_the_interval(
    alice, payments, clock, digest_minutes, mailoutbox
):
    first = p3(alice, payments, "Checkout slow")
    clock.sweep()
    assert subjects(mailoutbox) == [f"[P3] {first.reference} declared: Checkout slow"]

    clock.advance(timedelta(minutes=1))
    second = p3(alice, payments, "Refunds delayed")
    third = p3(alice, payments, "Invoices late")
    incident_resolve(incident=first, actor=alice, message="Cache warmed up")
    clock.sweep()
    assert len(team_mails(mailoutbox)) == 1  # held, not mailed
    held = TeamNotification.objects.filter(sent_at__isnull=True)
    assert held.count() == 3
    assert {n.digest_id for n in held} == {TeamDigest.objects.get().pk}

    clock.advance(timedelta(minutes=3, seconds=59))  # 10:04:59, the interval not over
    clock.sweep()
    assert len(team_mails(mailoutbox)) == 1

    clock.advance(timedelta(seconds=1))  # 10:05
    clock.sweep()
    mails = team_mails(mailoutbox)
    assert [m.subject for m in mails[1:]] == ["3 incident updates for Payments since 10:00"]
    body = mails[1].body
    # Each incident once, with its severity, reference, title, what happened and its link.
    for incident, happened in (
        (second, "Declared P3: Refunds delayed"),
        (third, "Declared P3: Invoices late"),
        (first, "Resolved: Cache warmed up"),
    ):
        assert body.count(f"[P3] {incident.reference} {incident.title}") == 1
        assert f"10:01 {happened}" in body
        assert f"https://firebreak.example.com/incidents/{incident.pk}/" in body
    order = [body.index(incident.reference + " ") for incident in (second, third, first)]
    assert order == sorted(order)  # incidents in the order their news happened
    assert TeamNotification.objects.filter(sent_at__isnull=True).count() == 0

    clock.advance(timedelta(hours=1))
    clock.sweep()
    assert len(team_mails(mailoutbox)) == 2  # nothing sent twice


def test_a_storm_makes_one_digest_per_interval(alice, payments, clock, digest_minutes, mailoutbox):
    p3(alice, payments, "Storm 0")
    clock.sweep()
    clock.advance(timedelta(seconds=30))
    for minute in range(1, 13):  # one new P3 a minute, 10:01:30 to 10:12:30
        clock.advance(timedelta(minutes=1))
        p3(alice, payments, f"Storm {minute}")
        clock.sweep()

    clock.advance(timedelta(minutes=10))
    clock.sweep()
    assert subjects(mailoutbox)[1:] == [
        "4 incident updates for Payments since 10:00",  # 10:01:30 to 10:04:30, sent at 10:05
        "5 incident updates for Payments since 10:05",  # 10:05:30 to 10:09:30, sent at 10:10
        "3 incident updates for Payments since 10:10",  # 10:10:30 to 10:12:30, sent at 10:15
    ]
    assert TeamNotification.objects.count() == 13
    assert not TeamNotification.objects.filter(sent_at__isnull=True).exists()

    clock.advance(timedelta(minutes=30))
    quiet = p3(alice, payments, "After the storm")
    clock.sweep()
    assert subjects(mailoutbox)[-1] == f"[P3] {quiet.reference} declared: After the storm"


def test_p1_and_p2_news_is_never_held(alice, payments, clock, digest_minutes, mailoutbox):
    first = p3(alice, payments, "Checkout slow")
    clock.sweep()
    clock.advance(timedelta(minutes=1))
    raised = p3(alice, payments, "Refunds delayed")
    p1 = factories.declared(alice, "P1", services=[payments], title="Payments down")
    clock.sweep()
    incident_change_severity(
        incident=raised, actor=alice, severity=factories.severity("P2"), reason="All regions"
    )
    incident_resolve(incident=p1, actor=alice)
    incident_reopen(incident=p1, actor=alice, reason="Down again")
    clock.sweep()

    assert subjects(mailoutbox) == [
        f"[P3] {first.reference} declared: Checkout slow",
        f"[P1] {p1.reference} declared: Payments down",
        # Due together, the P1's news goes first: team mails are ranked by severity.
        f"[P1] {p1.reference} resolved: Payments down",
        f"[P1] {p1.reference} reopened: Payments down",
        f"[P2] {raised.reference} severity changed: Refunds delayed",
    ]
    # Only the P3 declaration of the incident raised since waits for the digest.
    held = TeamNotification.objects.filter(sent_at__isnull=True)
    assert [n.event.kind for n in held] == [TimelineEvent.Kind.DECLARED]
    assert held.get().event.incident == raised

    clock.advance(timedelta(minutes=5))
    clock.sweep()
    digest = team_mails(mailoutbox)[-1]
    assert digest.subject.startswith("1 incident update for Payments since ")
    # As of the digest, the incident is P2: it shows its severity now, its news as it was.
    assert f"[P2] {raised.reference} Refunds delayed" in digest.body
    assert "Declared P3: Refunds delayed" in digest.body


def test_lowered_to_p3_news_may_wait(alice, payments, clock, digest_minutes, mailoutbox):
    p1 = factories.declared(alice, "P1", services=[payments], title="Payments down")
    clock.sweep()
    incident_change_severity(
        incident=p1, actor=alice, severity=factories.severity("P3"), reason="One region"
    )
    clock.sweep()
    # The P1 declaration went at once; the lowering to P3, mailed a moment later, waits.
    assert subjects(mailoutbox) == [f"[P1] {p1.reference} declared: Payments down"]
    clock.advance(timedelta(minutes=5))
    clock.sweep()
    assert "Lowered severity P1 → P3" in team_mails(mailoutbox)[-1].body


def test_each_team_gets_its_own_digest(alice, payments, clock, digest_minutes, mailoutbox):
    platform_team = factories.TeamFactory(
        name="Platform", slug="platform", email="platform@example.com"
    )
    platform = factories.ServiceFactory(name="Platform", slug="platform", team=platform_team)
    for title in ("A", "B", "C"):
        p3(alice, payments, f"Payments {title}")
        factories.declared(alice, "P4", services=[platform], title=f"Platform {title}")
        clock.sweep()
    clock.advance(timedelta(minutes=5))
    clock.sweep()

    by_team: dict[str, list[str]] = {}
    for message in mailoutbox:
        if " ticket: " not in message.subject:  # P4 tickets are the on-call's, not team news
            by_team.setdefault(message.to[0], []).append(message.subject)
    assert by_team[TEAM][1:] == ["2 incident updates for Payments since 10:00"]
    assert by_team["platform@example.com"][1:] == ["2 incident updates for Platform since 10:00"]
    assert TeamDigest.objects.count() == 2


def test_a_digest_timer_fired_twice_sends_once(alice, payments, clock, digest_minutes, mailoutbox):
    p3(alice, payments, "Checkout slow")
    clock.sweep()
    p3(alice, payments, "Refunds delayed")
    clock.sweep()
    p3(alice, payments, "Invoices late")  # the same team and interval: no second timer
    clock.sweep()
    digest = TeamDigest.objects.get()
    timer = Timer.objects.get(kind=DIGEST_KIND)

    clock.advance(timedelta(minutes=5))
    assert timers.timer_fire(timer_id=timer.pk) == f"digest {digest.pk}: 2 updates sent"
    assert timers.timer_fire(timer_id=timer.pk) is None  # done: nobody claims it again
    with transaction.atomic():
        assert send_team_digest(timer) == f"digest {digest.pk} already sent"  # a stray repeat
    clock.sweep()
    assert subjects(mailoutbox)[1:] == ["2 incident updates for Payments since 10:00"]


def test_a_failed_digest_send_is_retried_without_a_duplicate(
    alice, payments, clock, digest_minutes, mailoutbox, monkeypatch
):
    p3(alice, payments, "Checkout slow")
    clock.sweep()
    p3(alice, payments, "Refunds delayed")
    p3(alice, payments, "Invoices late")
    clock.sweep()

    def refuse(**kwargs):
        raise ConnectionError("mail server down")

    real_send = notifications.mail_send
    monkeypatch.setattr(notifications, "mail_send", refuse)
    clock.advance(timedelta(minutes=5))
    clock.sweep()
    digest = TeamDigest.objects.get()
    assert digest.sent_at is None  # rolled back with the failed send
    assert TeamNotification.objects.filter(sent_at__isnull=True).count() == 2
    assert Timer.objects.get(kind=DIGEST_KIND).attempts == 1

    monkeypatch.setattr(notifications, "mail_send", real_send)
    clock.advance(timedelta(seconds=10))
    clock.sweep()
    clock.advance(timedelta(minutes=10))
    clock.sweep()
    assert subjects(mailoutbox)[1:] == ["2 incident updates for Payments since 10:00"]
    assert TeamNotification.objects.filter(sent_at__isnull=True).count() == 0


def test_a_digest_whose_timer_gave_up_goes_with_the_next_news(
    alice, payments, clock, digest_minutes, mailoutbox
):
    p3(alice, payments, "Checkout slow")
    clock.sweep()
    p3(alice, payments, "Refunds delayed")
    clock.sweep()
    Timer.objects.filter(kind=DIGEST_KIND).update(state=Timer.State.FAILED)

    clock.advance(timedelta(minutes=20))
    p3(alice, payments, "Invoices late")
    clock.sweep()
    # The open digest takes the news and gets a new timer, due now: both go in one mail.
    assert subjects(mailoutbox)[1:] == ["2 incident updates for Payments since 10:00"]


def test_held_news_that_went_stale_is_not_mailed(
    alice, payments, clock, digest_minutes, mailoutbox
):
    p3(alice, payments, "Checkout slow")
    clock.sweep()
    p3(alice, payments, "Refunds delayed")
    clock.sweep()

    clock.advance(timedelta(hours=2))  # the workers were down well past the interval
    clock.sweep()
    assert len(team_mails(mailoutbox)) == 1
    assert TeamDigest.objects.get().sent_at is not None


def test_zero_minutes_mails_everything_at_once(alice, payments, clock, settings, mailoutbox):
    settings.FIREBREAK_TEAM_DIGEST_MINUTES = 0
    incidents = [p3(alice, payments, f"Storm {n}") for n in range(4)]
    clock.sweep()
    assert sorted(subjects(mailoutbox)) == sorted(
        f"[P3] {incident.reference} declared: Storm {n}" for n, incident in enumerate(incidents)
    )
    assert not TeamDigest.objects.exists()
