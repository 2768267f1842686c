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
