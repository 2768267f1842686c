from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from incidents.oncall.models import Rotation, RotationParticipant, Schedule
from tests import factories

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args: int) -> datetime:
    """Return a Europe/Berlin wall-clock time as an aware datetime."""
    return datetime(*args, tzinfo=BERLIN)


def make_schedule(team, name: str = "Payments primary", time_zone: str = "Europe/Berlin"):
    slug = name.lower().replace(" ", "-")
    return Schedule.objects.create(name=name, slug=slug, team=team, time_zone=time_zone)


def make_rotation(
    schedule,
    users,
    *,
    shift_length: timedelta = timedelta(days=1),
    handoff: time = time(9, 0),
    start_date: date = date(2026, 3, 2),
    name: str = "Primary",
    **fields,
) -> Rotation:
    rotation = Rotation.objects.create(
        schedule=schedule,
        name=name,
        shift_length=shift_length,
        handoff_time=handoff,
        start_date=start_date,
        **fields,
    )
    for position, user in enumerate(users):
        RotationParticipant.objects.create(rotation=rotation, user=user, position=position)
    return rotation


@pytest.fixture
def team(db):
    return factories.TeamFactory(
        name="Payments", slug="payments", time_zone="Europe/Berlin", holiday_country="DE"
    )


@pytest.fixture
def schedule(team):
    return make_schedule(team)


@pytest.fixture
def freeze(monkeypatch):
    """Stop the clock at the given instant (every caller of django.utils.timezone.now)."""

    def freeze_at(moment: datetime) -> datetime:
        monkeypatch.setattr(timezone, "now", lambda: moment)
        return moment

    return freeze_at


# --- Paging ----------------------------------------------------------------------------------


@pytest.fixture
def allow_gateway(db):
    """Let page webhooks reach 127.0.0.1, where the tests' fake gateway listens."""
    from incidents.statuspage.models import WebhookAllowedNetwork

    return WebhookAllowedNetwork.objects.create(network="127.0.0.1/32", note="tests")


@pytest.fixture
def people(db):
    """The on-call engineer, the team's engineering manager and its VP."""
    from types import SimpleNamespace

    return SimpleNamespace(
        oncall=factories.responder("olga", first_name="Olga"),
        em=factories.responder("erin", first_name="Erin"),
        vp=factories.UserFactory(username="victor", first_name="Victor"),
    )


@pytest.fixture
def paging_team(team, people):
    """The Payments team with an EM, a VP, an email address and a schedule Olga is always on."""
    team.email = "payments@example.com"
    team.escalation_contact = people.vp
    team.save()
    team.engineering_managers.add(people.em)
    schedule = make_schedule(team)
    make_rotation(schedule, [people.oncall], start_date=date(2020, 1, 6))
    return team


@pytest.fixture
def clock(monkeypatch):
    """Move "now" and fire whatever timers are due then, as the beat sweep would."""
    from portal import timers

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
