"""Toil: a noisy alert's "automate or fix" action item, opened once, by managers and staff."""

import threading
import time
from datetime import date, timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone

from incidents.health import services
from incidents.health.models import ToilFollowUp
from incidents.health.services import toil_follow_up_create, toil_follow_up_get_or_create
from portal.errors import InvalidInputError, PermissionDeniedError
from postmortems.models import ActionItem
from tests import factories

from . import builders as b

NAME = "HighErrorRate"


def due() -> date:
    return timezone.localdate() + timedelta(days=14)


def noisy(alert_source, count, *, month="2026-11", incidents=(), service=None):
    """Fire `count` episodes on different days of the month; the first ones join `incidents`."""
    episodes = []
    for day in range(1, count + 1):
        linked = incidents[day - 1] if day <= len(incidents) else None
        episodes.append(
            b.episode(
                alert_source, NAME, f"{month}-{day:02d} 10:00", incident=linked, service=service
            )
        )
    return episodes


@pytest.fixture
def am(db):
    return b.source("prod-alertmanager")


def open_follow_up(actor, am, **overrides):
    kwargs = {
        "source_id": am.pk,
        "alert_name": NAME,
        "month": date(2026, 11, 1),
        "owner": overrides.pop("owner", actor),
        "due_date": due(),
        "actor": actor,
    }
    kwargs.update(overrides)
    return toil_follow_up_create(**kwargs)


# --- the service -----------------------------------------------------------------------------


def test_six_episodes_open_one_action_item_on_the_latest_incident(manager_user, alice, am):
    older = b.incident_at(detected="2026-11-01 10:00")
    latest = b.incident_at(detected="2026-11-03 10:00")
    noisy(am, 6, incidents=(older, latest, older))

    follow_up = open_follow_up(manager_user, am, owner=alice)

    item = follow_up.action_item
    assert item.title == "Automate or fix: HighErrorRate fired 6 times in November 2026"
    assert item.incident == latest
    assert item.owner == alice
    assert item.due_date == due()
    assert item.created_by == manager_user
    assert "prod-alertmanager" in item.description
    assert (follow_up.source, follow_up.alert_name, follow_up.month) == (
        am,
        NAME,
        date(2026, 11, 1),
    )
    assert follow_up.created_by == manager_user


def test_exactly_five_episodes_are_not_toil(manager_user, am):
    noisy(am, 5, incidents=(b.incident_at(),))
    with pytest.raises(InvalidInputError, match="fired 5 times in November 2026"):
        open_follow_up(manager_user, am)
    assert not ActionItem.objects.exists()
    assert not ToilFollowUp.objects.exists()


def test_episodes_of_other_months_sources_and_names_do_not_count(manager_user, am):
    incident = b.incident_at()
    noisy(am, 5, incidents=(incident,))
    b.episode(am, NAME, "2026-10-31 23:00", incident=incident)
    b.episode(am, NAME, "2026-12-01 00:00", incident=incident)
    b.episode(am, "DiskFull", "2026-11-20 10:00", incident=incident)
    b.episode(b.source("grafana"), NAME, "2026-11-20 10:00", incident=incident)
    with pytest.raises(InvalidInputError):
        open_follow_up(manager_user, am)


def test_the_month_is_read_in_the_teams_time_zone(manager_user, am, payments):
    team = payments.team  # Europe/Berlin
    incident = b.incident_at()
    noisy(am, 5, incidents=(incident,), service=payments)
    # 23:30 UTC on 31 October is already 1 November in Berlin.
    b.episode(am, NAME, "2026-10-31 23:30", incident=incident, service=payments)
    with pytest.raises(InvalidInputError):
        open_follow_up(manager_user, am)  # the site's zone (UTC): 5 in November
    follow_up = open_follow_up(manager_user, am, team=team)
    assert "fired 6 times in November 2026" in follow_up.action_item.title


def test_a_second_click_returns_the_first_action_item(manager_user, staff_user, bob, am):
    noisy(am, 6, incidents=(b.incident_at(),))
    first = toil_follow_up_get_or_create(
        source_id=am.pk,
        alert_name=NAME,
        month=date(2026, 11, 1),
        owner=manager_user,
        due_date=due(),
        actor=manager_user,
    )
    again = toil_follow_up_get_or_create(
        source_id=am.pk,
        alert_name=NAME,
        month=date(2026, 11, 17),  # any day of the month is the month
        owner=bob,
        due_date=due() + timedelta(days=7),
        actor=staff_user,
    )
    assert first.created and not again.created
    assert again.follow_up.pk == first.follow_up.pk
    assert ActionItem.objects.count() == 1
    assert ActionItem.objects.get().owner == manager_user


def test_a_lost_race_on_the_unique_constraint_returns_the_winner(manager_user, am, monkeypatch):
    noisy(am, 6, incidents=(b.incident_at(),))
    winner = open_follow_up(manager_user, am)
    real = services._existing
    calls = []

    def missed_it_once(**kwargs):
        # The first look happens before the other click committed: it sees nothing.
        calls.append(kwargs)
        return None if len(calls) == 1 else real(**kwargs)

    monkeypatch.setattr(services, "_existing", missed_it_once)
    again = toil_follow_up_get_or_create(
        source_id=am.pk,
        alert_name=NAME,
        month=date(2026, 11, 1),
        owner=manager_user,
        due_date=due(),
        actor=manager_user,
    )
    assert not again.created
    assert again.follow_up.pk == winner.pk
    assert ActionItem.objects.count() == 1  # the loser's item was rolled back with it


def test_no_incident_among_the_episodes_is_explained(manager_user, am):
    noisy(am, 6)
    with pytest.raises(InvalidInputError, match=r"None of the 6 episodes .* opened or joined"):
        open_follow_up(manager_user, am)


def test_the_owner_and_due_date_are_checked_like_any_action_item(manager_user, outsider, am):
    noisy(am, 6, incidents=(b.incident_at(),))
    with pytest.raises(InvalidInputError) as error:
        open_follow_up(manager_user, am, due_date=date(2020, 1, 1))
    assert error.value.field == "due_date"
    with pytest.raises(InvalidInputError) as error:
        open_follow_up(manager_user, am, owner=outsider)
    assert error.value.field == "owner"
    assert not ToilFollowUp.objects.exists()


@pytest.mark.parametrize("who", ["alice", "viewer_user", "outsider"])
def test_responders_and_viewers_may_not_open_toil_items(who, request, am):
    actor = request.getfixturevalue(who)
    noisy(am, 6, incidents=(b.incident_at(),))
    with pytest.raises(PermissionDeniedError, match="managers and staff"):
        open_follow_up(actor, am)
    assert not ActionItem.objects.exists()


def test_staff_may_open_toil_items(staff_user, am):
    noisy(am, 6, incidents=(b.incident_at(),))
    assert open_follow_up(staff_user, am).action_item.created_by == staff_user


def test_an_incident_commander_of_the_chosen_incident_gets_no_extra_right(alice, am):
    # action_item_create would let alice add items to her own incident; toil is not hers to open.
    incident = factories.declared(alice, "P3")
    noisy(am, 6, incidents=(incident,))
    with pytest.raises(PermissionDeniedError):
        open_follow_up(alice, am)


def test_a_long_alert_name_is_shortened_to_fit_the_title(manager_user, am):
    long_name = "X" * 250
    incident = b.incident_at()
    for day in range(1, 7):
        b.episode(am, long_name, f"2026-11-{day:02d} 10:00", incident=incident)
    item = open_follow_up(manager_user, am, alert_name=long_name).action_item
    assert len(item.title) == 200
    assert item.title.endswith("… fired 6 times in November 2026")


# --- the view --------------------------------------------------------------------------------


URL = "/health/toil/follow-up/"


def form_data(am, owner, **extra):
    data = {
        "source": am.pk,
        "alert_name": NAME,
        "month": "2026-11",
        "owner": owner.pk,
        "due_date": due().isoformat(),
        "next": "/health/?days=30",
    }
    data.update(extra)
    return data


def test_the_url_is_the_documented_one():
    assert reverse("health:toil_follow_up") == URL


def test_a_manager_clicks_twice_and_gets_one_item(client, manager_user, alice, am):
    noisy(am, 6, incidents=(b.incident_at(),))
    client.force_login(manager_user)

    first = client.post(URL, form_data(am, alice))
    second = client.post(URL, form_data(am, alice))

    assert first.status_code == 302 and first["Location"] == "/health/?days=30"
    assert ActionItem.objects.count() == 1
    assert ToilFollowUp.objects.count() == 1
    texts = [str(message) for message in get_messages(second.wsgi_request)]
    title = "“Automate or fix: HighErrorRate fired 6 times in November 2026”"
    # Neither redirect was followed, so both clicks' messages are still waiting.
    assert texts == [f"Action item opened: {title}.", f"Already opened earlier: {title}."]


def test_a_refused_follow_up_shows_why_on_the_form(client, manager_user, alice, am):
    noisy(am, 5, incidents=(b.incident_at(),))
    client.force_login(manager_user)
    response = client.post(URL, form_data(am, alice))
    assert response.status_code == 400
    assert "fired 5 times in November 2026" in response.content.decode()
    assert not ActionItem.objects.exists()


def test_a_past_due_date_is_a_field_error(client, manager_user, alice, am):
    noisy(am, 6, incidents=(b.incident_at(),))
    client.force_login(manager_user)
    response = client.post(URL, form_data(am, alice, due_date="2020-01-01"))
    assert response.status_code == 400
    assert "is in the past" in response.content.decode()


def test_a_responder_is_refused(client, alice, am):
    noisy(am, 6, incidents=(b.incident_at(),))
    client.force_login(alice)
    response = client.post(URL, form_data(am, alice))
    assert response.status_code == 403
    assert not ActionItem.objects.exists()


def test_the_form_is_prefilled_for_a_get_and_works_without_javascript(client, manager_user, am):
    client.force_login(manager_user)
    response = client.get(URL, {"source": am.pk, "alert_name": NAME, "month": "2026-11"})
    html = response.content.decode()
    assert response.status_code == 200
    assert NAME in html and 'name="owner"' in html and 'name="due_date"' in html


def test_an_offsite_next_is_ignored(client, manager_user, alice, am):
    noisy(am, 6, incidents=(b.incident_at(),))
    client.force_login(manager_user)
    response = client.post(URL, form_data(am, alice, next="https://evil.example/"))
    assert response.status_code == 302
    assert not response["Location"].startswith("https://evil.example")


# --- simultaneous clicks on PostgreSQL ---------------------------------------------------------


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL (DATABASE_URL)"
)
def test_simultaneous_clicks_open_one_action_item(live_db, monkeypatch):
    manager = factories.manager("mia")
    alert_source = b.source("pg-alertmanager")
    noisy(alert_source, 6, incidents=(b.incident_at(),))
    real_create = services.action_item_create

    def slow_create(**kwargs):
        # Both clicks get past "is there one already?" before either commits.
        time.sleep(0.3)
        return real_create(**kwargs)

    monkeypatch.setattr(services, "action_item_create", slow_create)
    real_existing, looks = services._existing, []

    def counted_existing(**kwargs):
        looks.append(kwargs)
        return real_existing(**kwargs)

    monkeypatch.setattr(services, "_existing", counted_existing)
    start = threading.Barrier(2)
    results, errors = [], []

    def click():
        try:
            start.wait()
            results.append(
                toil_follow_up_get_or_create(
                    source_id=alert_source.pk,
                    alert_name=NAME,
                    month=date(2026, 11, 1),
                    owner=manager,
                    due_date=due(),
                    actor=manager,
                )
            )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=click) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert sorted(result.created for result in results) == [False, True]
    assert len({result.follow_up.pk for result in results}) == 1
    assert ToilFollowUp.objects.count() == 1
    assert ActionItem.objects.filter(title__startswith="Automate or fix").count() == 1
    # Both looked first and found nothing; the loser looked again after the constraint refused it.
    assert len(looks) == 3
