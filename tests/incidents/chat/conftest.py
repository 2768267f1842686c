"""Fixtures of the outbound chat tests: the fake Slack with members, responders, a clock.

Timers run as the beat sweep runs them (`clock.sweep()`), or through their on-commit wake-ups
with eager Celery inside `django_capture_on_commit_callbacks(execute=True)`. Modules that import
fixtures of the same name (slack_requests) keep their own.
"""

from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.utils import timezone

from portal import timers
from tests import factories
from tests.fakes.slack import FakeSlack


@pytest.fixture
def slack(fake_slack: FakeSlack, settings: Any) -> FakeSlack:
    """The fake Slack with the portal configured for it; archiving 24 h after the close."""
    settings.FIREBREAK_BASE_URL = "https://firebreak.example.com"
    settings.FIREBREAK_SLACK_ANNOUNCE_CHANNEL = "#incidents"
    settings.FIREBREAK_SLACK_ARCHIVE_AFTER_HOURS = 24.0
    for name in ("alice", "bob", "olga"):
        fake_slack.add_user(f"U{name.upper()}", email=f"{name}@example.com", name=name)
    return fake_slack


@pytest.fixture
def crew(db) -> SimpleNamespace:
    """Responders; with `slack`, Alice, Bob and Olga are members there (by email), Nina is not."""
    return SimpleNamespace(
        alice=factories.responder("alice", first_name="Alice"),
        bob=factories.responder("bob", first_name="Bob"),
        olga=factories.responder("olga", first_name="Olga"),
        nina=factories.responder("nina", first_name="Nina"),
    )


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
            while True:
                count = timers.timers_sweep()
                fired += count
                if not count:
                    return fired

    the_clock = Clock()
    the_clock.at(timezone.now())
    return the_clock
