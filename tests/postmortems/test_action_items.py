"""Action item services: who may add and edit, what is refused, and completion times."""

from datetime import timedelta

import pytest
from django.utils import timezone

from portal.errors import InvalidInputError, PermissionDeniedError
from postmortems.models import ActionItem
from postmortems.services import (
    action_item_create,
    action_item_set_status,
    action_item_update,
    postmortem_author_add,
)
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(alice, incident_of):
    """A resolved P1 whose Incident Commander is Alice (its postmortem exists)."""
    return incident_of(alice)


@pytest.fixture
def postmortem(incident, postmortem_of):
    return postmortem_of(incident)


@pytest.fixture
def item(incident, postmortem, alice, bob):
    return action_item_create(
        incident=incident,
        postmortem=postmortem,
        title="Alert on payment error rate",
        owner=bob,
        due_date=timezone.localdate() + timedelta(days=7),
        priority="P2",
        actor=alice,
    )


def test_the_ic_adds_an_action_item_to_the_postmortem(incident, postmortem, alice, bob):
    item = action_item_create(
        incident=incident,
        postmortem=postmortem,
        title="  Add a circuit breaker to the card gateway  ",
        description="Trip after 5 failures.",
        owner=bob,
        due_date=timezone.localdate() + timedelta(days=14),
        priority="P1",
        tracker_url="https://example.atlassian.net/browse/PAY-12",
        actor=alice,
    )
    item.refresh_from_db()
    assert item.title == "Add a circuit breaker to the card gateway"
    assert (item.owner, item.priority, item.status) == (bob, "P1", "open")
    assert item.incident == incident and item.postmortem == postmortem
    assert item.created_by == alice
    assert item.completed_at is None


def test_an_action_item_can_belong_to_the_incident_alone(incident, alice):
    item = action_item_create(incident=incident, title="Rotate the leaked key", actor=alice)
    assert item.postmortem is None
    assert item.incident == incident
    assert item.priority == "P3"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"title": "   "}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"due_date": "past"}, "due_date"),
        ({"priority": "P0"}, "priority"),
        ({"tracker_url": "javascript:alert(1)"}, "tracker_url"),
        ({"tracker_url": "ftp://example.com/x"}, "tracker_url"),
        ({"owner": "outsider"}, "owner"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    incident, postmortem, alice, outsider, fields, field
):
    values = {"title": "Fix the retry storm", **fields}
    if values.get("due_date") == "past":
        values["due_date"] = timezone.localdate() - timedelta(days=1)
    if values.get("owner") == "outsider":
        values["owner"] = outsider
    with pytest.raises(InvalidInputError) as caught:
        action_item_create(incident=incident, postmortem=postmortem, actor=alice, **values)
    assert caught.value.field == field
    assert not ActionItem.objects.exists()


def test_a_postmortem_of_another_incident_is_refused(incident, alice, incident_of, postmortem_of):
    other = postmortem_of(incident_of(alice))
    with pytest.raises(InvalidInputError) as caught:
        action_item_create(incident=incident, postmortem=other, title="Mixed up", actor=alice)
    assert caught.value.field == "postmortem"
    assert not ActionItem.objects.exists()


@pytest.mark.parametrize("who", ["viewer_user", "carol", "outsider"])
def test_readers_and_bystanders_may_not_add(request, incident, postmortem, who):
    with pytest.raises(PermissionDeniedError):
        action_item_create(
            incident=incident,
            postmortem=postmortem,
            title="Not mine to add",
            actor=request.getfixturevalue(who),
        )
    assert not ActionItem.objects.exists()


@pytest.mark.parametrize("who", ["manager_user", "staff_user"])
def test_managers_and_staff_add_to_the_incident_alone(request, incident, who):
    item = action_item_create(
        incident=incident, title="Budget the capacity test", actor=request.getfixturevalue(who)
    )
    assert item.pk


def test_an_author_adds_to_the_incident_alone(incident, postmortem, alice, carol):
    postmortem_author_add(postmortem=postmortem, actor=alice, users=[carol])
    item = action_item_create(incident=incident, title="Write the runbook", actor=carol)
    assert item.created_by == carol


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("bob", True),  # the owner
        ("alice", True),  # the incident's IC
        ("manager_user", True),
        ("staff_user", True),
        ("carol", False),  # a responder with nothing to do with it
        ("viewer_user", False),
        ("outsider", False),
    ],
)
def test_who_may_change_an_action_item(request, item, who, allowed):
    actor = request.getfixturevalue(who)
    if allowed:
        action_item_set_status(item=item, status="in_progress", actor=actor)
        action_item_update(item=item, actor=actor, priority="P1")
        item.refresh_from_db()
        assert (item.status, item.priority) == ("in_progress", "P1")
    else:
        with pytest.raises(PermissionDeniedError):
            action_item_set_status(item=item, status="done", actor=actor)
        with pytest.raises(PermissionDeniedError):
            action_item_update(item=item, actor=actor, title="Hijacked")
        item.refresh_from_db()
        assert (item.status, item.title) == ("open", "Alert on payment error rate")


def test_a_postmortem_author_may_change_its_items(item, postmortem, alice, carol):
    postmortem_author_add(postmortem=postmortem, actor=alice, users=[carol])
    action_item_set_status(item=item, status="done", actor=carol)
    item.refresh_from_db()
    assert item.status == "done"


def test_completion_time_is_recorded_and_cleared_on_reopen(item, bob):
    action_item_set_status(item=item, status="in_progress", actor=bob)
    item.refresh_from_db()
    assert item.completed_at is None

    done = action_item_set_status(item=item, status="done", actor=bob)
    item.refresh_from_db()
    assert item.status == "done"
    assert item.completed_at == done.completed_at is not None
    finished_at = item.completed_at

    # Done → won't do is still finished: the first finish time stands.
    action_item_set_status(item=item, status="wont_do", actor=bob)
    item.refresh_from_db()
    assert item.completed_at == finished_at

    # The same status again changes nothing.
    action_item_set_status(item=item, status="wont_do", actor=bob)
    item.refresh_from_db()
    assert item.completed_at == finished_at

    action_item_set_status(item=item, status="open", actor=bob)
    item.refresh_from_db()
    assert (item.status, item.completed_at) == ("open", None)


def test_an_unknown_status_is_refused(item, bob):
    with pytest.raises(InvalidInputError) as caught:
        action_item_set_status(item=item, status="finished", actor=bob)
    assert caught.value.field == "status"
    item.refresh_from_db()
    assert item.status == "open"


def test_an_update_changes_only_the_fields_given(item, alice, carol):
    action_item_update(item=item, actor=alice, owner=carol, tracker_url="https://linear.app/x/1")
    item.refresh_from_db()
    assert item.owner == carol
    assert item.tracker_url == "https://linear.app/x/1"
    assert (item.title, item.priority) == ("Alert on payment error rate", "P2")

    action_item_update(item=item, actor=alice, owner=None)
    item.refresh_from_db()
    assert item.owner is None


def test_an_overdue_item_keeps_its_date_but_cannot_be_moved_into_the_past(item, alice):
    past = timezone.localdate() - timedelta(days=3)
    ActionItem.objects.filter(pk=item.pk).update(due_date=past)
    item.refresh_from_db()

    action_item_update(item=item, actor=alice, title="Alert on payment error rate (p99)")
    item.refresh_from_db()
    assert item.title == "Alert on payment error rate (p99)"
    assert item.due_date == past

    with pytest.raises(InvalidInputError) as caught:
        action_item_update(item=item, actor=alice, due_date=past - timedelta(days=1), title="X")
    assert caught.value.field == "due_date"
    item.refresh_from_db()
    assert item.title == "Alert on payment error rate (p99)"  # nothing half-written


def test_an_inactive_owner_is_refused(item, alice):
    gone = factories.responder("gone")
    gone.is_active = False
    gone.save()
    with pytest.raises(InvalidInputError) as caught:
        action_item_update(item=item, actor=alice, owner=gone)
    assert caught.value.field == "owner"
