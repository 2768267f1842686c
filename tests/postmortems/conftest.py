"""Fixtures of the postmortem tests: teams with calendars, resolved incidents, their postmortems."""

import html

import pytest
from django.utils import timezone

from incidents.models import Incident
from incidents.services import incident_resolve
from postmortems.models import Postmortem
from postmortems.services import postmortem_create
from tests import factories


def page_text(response) -> str:
    """Return the response body as a person reads it (entities decoded)."""
    return html.unescape(response.content.decode())


@pytest.fixture
def logged_in(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.fixture
def team_of(db):
    """Make a team with a calendar: time zone, holiday country and subdivision."""

    def make(slug: str, *, time_zone: str = "Europe/Berlin", country: str = "", subdivision=""):
        return factories.TeamFactory(
            name=slug.title(),
            slug=slug,
            time_zone=time_zone,
            holiday_country=country,
            holiday_subdivision=subdivision,
        )

    return make


@pytest.fixture
def incident_of(db, payments):
    """Make an incident declared by (and commanded by) a person, resolved unless told not to."""

    def make(commander, code: str = "P1", *, resolve: bool = True, at=None, **kwargs) -> Incident:
        kwargs.setdefault("services", [payments])
        kwargs.setdefault("impact", "Card payments fail for all customers.")
        incident = factories.declared(commander, code, **kwargs)
        if resolve:
            incident = incident_resolve(
                incident=incident, actor=commander, at=at or timezone.now(), message="Fixed"
            )
        return Incident.objects.get(pk=incident.pk)

    return make


@pytest.fixture
def postmortem_of(db):
    """Return the incident's postmortem, starting it (as the system would) if it has none."""

    def get(incident: Incident) -> Postmortem:
        existing = Postmortem.objects.filter(incident=incident).first()
        if existing is not None:
            return existing
        return postmortem_create(incident=incident, actor=None, automatic=True)

    return get


# --- Action items and reminders ----------------------------------------------------------------


@pytest.fixture
def pm_clock(monkeypatch, django_capture_on_commit_callbacks):
    """Move "now"; `tick()` does what beat does: plan the reminders, then fire the due timers.

    Mail that is sent after commit goes out within `tick()`.
    """
    from portal import timers
    from postmortems.reminders import reminders_plan_all

    class Clock:
        now = timezone.now()

        def at(self, moment):
            self.now = moment
            monkeypatch.setattr(timezone, "now", lambda: moment)
            return moment

        def tick(self) -> int:
            with django_capture_on_commit_callbacks(execute=True):
                reminders_plan_all()
            fired = 0
            while True:
                with django_capture_on_commit_callbacks(execute=True):
                    count = timers.timers_sweep()
                fired += count
                if not count:
                    return fired

    return Clock()
