"""The weekly digest: each owner's open and overdue items, Monday morning, once per ISO week."""

from datetime import UTC, date, datetime

import pytest
from django.core import mail

from portal.models import UserProfile
from postmortems.services import action_item_create, action_item_set_status

pytestmark = pytest.mark.django_db

DIGEST = "Your action items this week"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def digests(to: str) -> list:
    return [m for m in mail.outbox if DIGEST in m.subject and to in m.to]


@pytest.fixture
def bobs_items(pm_clock, alice, bob, incident_of, postmortem_of):
    """Bob owns one item due 5 March (overdue by Monday 9 March), one due later, one done."""
    pm_clock.at(utc(2026, 3, 2, 12, 0))
    incident = incident_of(alice, "P2", at=pm_clock.now)
    postmortem = postmortem_of(incident)

    def add(title, due, owner=bob):
        return action_item_create(
            incident=incident,
            postmortem=postmortem,
            title=title,
            owner=owner,
            due_date=due,
            actor=alice,
        )

    items = {
        "late": add("Fix the retry storm", date(2026, 3, 5)),
        "later": add("Write the load test", date(2026, 4, 1)),
        "done": add("Rotate the keys", date(2026, 3, 20)),
    }
    action_item_set_status(item=items["done"], status="done", actor=bob)
    return items


def test_the_digest_lists_open_items_overdue_first(bobs_items, pm_clock):
    pm_clock.at(utc(2026, 3, 9, 7, 59))
    pm_clock.tick()
    assert digests("bob@example.com") == []

    pm_clock.at(utc(2026, 3, 9, 8, 0, 1))
    pm_clock.tick()
    (digest,) = digests("bob@example.com")
    assert digest.subject == "Your action items this week: 2 open, 1 overdue"
    body = digest.body
    assert body.index("[OVERDUE] Fix the retry storm") < body.index("Write the load test")
    assert "Rotate the keys" not in body
    assert "2026-W11" in body
    (html, kind) = digest.alternatives[0]
    assert kind == "text/html" and "Fix the retry storm" in html


def test_the_digest_goes_once_per_week(bobs_items, pm_clock, django_capture_on_commit_callbacks):
    for moment in (utc(2026, 3, 9, 8, 0, 1), utc(2026, 3, 9, 12, 0), utc(2026, 3, 10, 8, 0, 1)):
        pm_clock.at(moment)
        pm_clock.tick()
        pm_clock.tick()
    assert len(digests("bob@example.com")) == 1
    pm_clock.at(utc(2026, 3, 16, 8, 0, 1))
    pm_clock.tick()
    assert len(digests("bob@example.com")) == 2


def test_nobody_with_nothing_open_gets_a_digest(bobs_items, pm_clock, alice, bob):
    pm_clock.at(utc(2026, 3, 9, 8, 0, 1))
    pm_clock.tick()
    assert digests("alice@example.com") == []
    for key in ("late", "later"):
        action_item_set_status(item=bobs_items[key], status="done", actor=bob)
    pm_clock.at(utc(2026, 3, 16, 8, 0, 1))
    pm_clock.tick()
    assert len(digests("bob@example.com")) == 1  # last week's only


def test_the_digest_arrives_on_monday_morning_where_the_owner_lives(bobs_items, pm_clock, bob):
    UserProfile.objects.update_or_create(user=bob, defaults={"time_zone": "America/New_York"})
    pm_clock.at(utc(2026, 3, 9, 11, 59))  # 07:59 in New York (summer time since 8 March)
    pm_clock.tick()
    assert digests("bob@example.com") == []
    pm_clock.at(utc(2026, 3, 9, 12, 0, 1))
    pm_clock.tick()
    assert len(digests("bob@example.com")) == 1


def test_items_added_after_monday_morning_wait_for_next_monday(pm_clock, alice, bob, incident_of):
    pm_clock.at(utc(2026, 3, 9, 12, 0))  # Monday noon: this week's digest time has passed
    incident = incident_of(alice, "P2", at=pm_clock.now)
    action_item_create(incident=incident, title="Tune the pool", owner=bob, actor=alice)
    pm_clock.tick()
    pm_clock.at(utc(2026, 3, 10, 8, 0, 1))
    pm_clock.tick()
    assert digests("bob@example.com") == []
    pm_clock.at(utc(2026, 3, 16, 8, 0, 1))
    pm_clock.tick()
    assert len(digests("bob@example.com")) == 1
