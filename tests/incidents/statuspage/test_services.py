"""Publishing to the status page: who may, what the public record becomes, what is kept."""

import pytest
from django.utils import timezone

from incidents.models import TimelineEvent
from incidents.services import incident_mitigate, incident_resolve, incident_role_assign
from incidents.statuspage.models import (
    AffectedComponent,
    Component,
    ComponentStatusChange,
    PublicIncident,
    PublicUpdate,
    StatusVersion,
    UpdateTemplate,
)
from incidents.statuspage.services import (
    NotPublished,
    component_status_set,
    public_postmortem_publish,
    public_update_publish,
)
from incidents.statuspage.version import status_version_current
from portal.errors import ApplicationError, InvalidInputError, PermissionDeniedError
from tests import factories

pytestmark = pytest.mark.django_db

BODY = "We are currently investigating reports of failing card payments."


def publish(incident, actor, **fields):
    fields.setdefault("status", "investigating")
    fields.setdefault("body", BODY)
    fields.setdefault("name", "Card payments are failing")
    return public_update_publish(incident=incident, actor=actor, **fields)


def version() -> int:
    row = StatusVersion.objects.filter(pk=1).first()
    return row.version if row else 0


def written() -> dict[str, object]:
    """Everything a publish writes, to show that a refused one wrote nothing."""
    return {
        "public incidents": PublicIncident.objects.count(),
        "updates": PublicUpdate.objects.count(),
        "affected": AffectedComponent.objects.count(),
        "history": ComponentStatusChange.objects.count(),
        "version": version(),
        "timeline": TimelineEvent.objects.count(),
        "components": sorted(Component.objects.values_list("name", "status")),
    }


@pytest.fixture
def incident(alice, payments):
    """A P1 on the Payments API; Alice is its Incident Commander."""
    return factories.declared(alice, "P1", services=[payments])


@pytest.fixture
def checkout(make_component, payments):
    component = make_component("Checkout", group="Payments")
    component.services.add(payments)
    return component


@pytest.fixture
def dashboard(make_component):
    return make_component("Dashboard", status="degraded_performance")


# --- Permissions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("commander", True),
        ("communicator", True),
        ("staff", True),
        ("responder", False),
        ("viewer", False),
        ("manager", False),
    ],
)
def test_only_the_ic_the_communicator_and_staff_publish(
    who, allowed, incident, alice, bob, carol, staff_user, viewer_user, manager_user
):
    incident_role_assign(incident=incident, actor=alice, role="communicator", user=bob)
    actor = {
        "commander": alice,
        "communicator": bob,
        "staff": staff_user,
        "responder": carol,
        "viewer": viewer_user,
        "manager": manager_user,
    }[who]
    if allowed:
        update = publish(incident, actor)
        assert update.published_by == actor
        assert PublicIncident.objects.get(incident=incident).updates.count() == 1
    else:
        before = written()
        with pytest.raises(PermissionDeniedError, match="Incident Commander or Communicator"):
            publish(incident, actor)
        assert written() == before


def test_a_communicator_who_hands_the_role_over_may_no_longer_publish(incident, alice, bob, carol):
    incident_role_assign(incident=incident, actor=alice, role="communicator", user=bob)
    incident_role_assign(incident=incident, actor=alice, role="communicator", user=carol)
    with pytest.raises(PermissionDeniedError):
        publish(incident, bob)
    publish(incident, carol)


# --- The first publish and later ones -------------------------------------------------------------


def test_the_first_publish_creates_the_public_incident(incident, alice, checkout):
    before = version()
    update = publish(incident, alice, component_statuses={checkout: "major_outage"})

    public = PublicIncident.objects.get(incident=incident)
    assert public.kind == "incident"
    assert public.name == "Card payments are failing"
    assert public.status == "investigating"
    assert public.impact == "critical"  # suggested from P1
    assert public.started_at == update.display_at
    assert update.public_incident == public
    assert update.body == BODY
    assert list(public.components.all()) == [checkout]
    assert version() > before
    event = TimelineEvent.objects.filter(incident=incident, data__public_update=update.pk).get()
    assert event.message.startswith("Published to the status page: investigating")
    assert event.actor == alice


def test_the_first_publish_needs_a_public_title_and_writes_nothing_without_it(incident, alice):
    before = written()
    with pytest.raises(InvalidInputError) as refused:
        publish(incident, alice, name="   ")
    assert refused.value.field == "name"
    assert written() == before


def test_later_publishes_add_updates_keep_the_title_and_impact_and_track_times(
    incident, alice, bob
):
    first = publish(incident, alice, impact="major")
    publish(incident, alice, status="identified", body="We found the cause.", name=None)
    publish(incident, alice, status="monitoring", body="A fix is in place.")
    public = PublicIncident.objects.get(incident=incident)
    assert public.name == "Card payments are failing"
    assert public.impact == "major"
    assert public.monitoring_at is not None
    assert public.resolved_at is None
    assert [u.status for u in public.updates.order_by("display_at", "id")] == [
        "investigating",
        "identified",
        "monitoring",
    ]

    publish(incident, alice, status="resolved", body="All fixed.")
    public.refresh_from_db()
    assert public.status == "resolved"
    resolved_at = public.resolved_at
    assert resolved_at is not None

    # It came back: the public incident is open again and no longer resolved.
    publish(incident, alice, status="investigating", body="The problem is back.")
    public.refresh_from_db()
    assert public.status == "investigating"
    assert public.resolved_at is None
    assert public.monitoring_at is not None
    assert public.started_at == first.display_at


def test_component_changes_are_listed_on_the_update_and_kept_as_history(
    incident, alice, checkout, dashboard
):
    dashboard_version = version()
    update = publish(
        incident,
        alice,
        component_statuses={checkout: "major_outage", dashboard: "degraded_performance"},
    )
    checkout.refresh_from_db()
    dashboard.refresh_from_db()
    assert checkout.status == "major_outage"
    assert dashboard.status == "degraded_performance"
    affected = {a.component: (a.old_status, a.new_status) for a in update.affected_components.all()}
    assert affected == {
        checkout: ("operational", "major_outage"),
        dashboard: ("degraded_performance", "degraded_performance"),
    }
    # Only the component that really changed has a history row.
    (change,) = ComponentStatusChange.objects.all()
    assert (change.component, change.old_status, change.new_status) == (
        checkout,
        "operational",
        "major_outage",
    )
    assert change.public_incident == update.public_incident
    assert version() > dashboard_version

    resolution = publish(
        incident,
        alice,
        status="resolved",
        body="Fixed.",
        component_statuses={checkout: "operational"},
    )
    assert [
        (c.old_status, c.new_status)
        for c in ComponentStatusChange.objects.filter(component=checkout)
    ] == [("operational", "major_outage"), ("major_outage", "operational")]
    assert resolution.affected_components.get().old_status == "major_outage"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"status": "postmortem"}, "status"),
        ({"status": "scheduled"}, "status"),
        ({"status": "fixed"}, "status"),
        ({"impact": "huge"}, "impact"),
        ({"body": "  \n "}, "body"),
        ({"body": "We are currently investigating reports of [brief description]."}, "body"),
        ({"name": "x" * 201}, "name"),
        ({"component_statuses": "broken"}, "components"),
        ({"component_statuses": "under_maintenance"}, "components"),
    ],
)
def test_bad_input_is_refused_with_its_field_and_nothing_is_written(
    incident, alice, checkout, fields, field
):
    if "component_statuses" in fields:
        fields = {"component_statuses": {checkout: fields["component_statuses"]}}
    before = written()
    with pytest.raises(InvalidInputError) as refused:
        publish(incident, alice, **fields)
    assert refused.value.field == field
    assert refused.value.message
    assert written() == before
    checkout.refresh_from_db()
    assert checkout.status == "operational"


def test_a_refusal_on_a_later_publish_leaves_the_public_incident_as_it_was(
    incident, alice, checkout
):
    publish(incident, alice)
    before = written()
    with pytest.raises(InvalidInputError):
        publish(
            incident,
            alice,
            status="resolved",
            body="",
            component_statuses={checkout: "major_outage"},
        )
    assert written() == before
    assert PublicIncident.objects.get(incident=incident).status == "investigating"


# --- Subscribers hear about it after commit -------------------------------------------------------


def test_subscribers_are_told_about_the_update_and_the_component_change_after_commit(
    incident, alice, checkout, notified, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        update = publish(incident, alice, component_statuses={checkout: "partial_outage"})
        assert notified == []  # nothing before the commit
    change = ComponentStatusChange.objects.get()
    assert notified == [f"component:{change.pk}", f"update:{update.pk}"]


def test_a_publish_while_the_broker_is_down_succeeds_and_the_sweep_notifies_later(
    incident, alice, notified, monkeypatch, django_capture_on_commit_callbacks
):
    from portal import tasks
    from portal.timers import timers_sweep

    def broker_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.timer_fire_task, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        update = publish(incident, alice)
    assert PublicUpdate.objects.filter(pk=update.pk).exists()
    assert notified == []

    timers_sweep()  # what beat runs every few seconds

    assert notified == [f"update:{update.pk}"]
    timers_sweep()
    assert notified == [f"update:{update.pk}"]  # once


def test_a_quiet_update_notifies_nobody(
    incident, alice, checkout, notified, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        update = publish(
            incident,
            alice,
            component_statuses={checkout: "partial_outage"},
            deliver_notifications=False,
        )
    assert notified == []
    assert update.deliver_notifications is False


def test_the_cached_version_moves_after_a_publish(
    incident, alice, fresh_status_version, django_capture_on_commit_callbacks
):
    before = status_version_current()
    with django_capture_on_commit_callbacks(execute=True):
        publish(incident, alice)
    assert status_version_current().number > before.number


# --- Component statuses outside an incident -------------------------------------------------------


def test_setting_a_component_status_keeps_history_bumps_and_notifies(
    checkout, staff_user, notified, django_capture_on_commit_callbacks
):
    before = version()
    with django_capture_on_commit_callbacks(execute=True):
        change = component_status_set(
            component=checkout, status="degraded_performance", actor=staff_user
        )
    assert change is not None
    assert (change.old_status, change.new_status) == ("operational", "degraded_performance")
    checkout.refresh_from_db()
    assert checkout.status == "degraded_performance"
    assert version() == before + 1
    assert notified == [f"component:{change.pk}"]


def test_setting_the_status_a_component_has_changes_nothing(checkout, staff_user, notified):
    before = version()
    assert component_status_set(component=checkout, status="operational", actor=staff_user) is None
    assert ComponentStatusChange.objects.count() == 0
    assert version() == before


def test_component_statuses_are_checked(checkout, staff_user, alice):
    with pytest.raises(InvalidInputError) as refused:
        component_status_set(component=checkout, status="on_fire", actor=staff_user)
    assert refused.value.field == "status"
    # A responder changes components through an incident's publish, not directly.
    with pytest.raises(PermissionDeniedError):
        component_status_set(component=checkout, status="major_outage", actor=alice)
    assert ComponentStatusChange.objects.count() == 0


# --- Postmortem -----------------------------------------------------------------------------------


def test_a_postmortem_follows_a_resolved_public_incident(incident, alice, notified):
    with pytest.raises(NotPublished):
        public_postmortem_publish(incident=incident, actor=alice, body="What happened.")
    publish(incident, alice)
    with pytest.raises(ApplicationError, match="resolution first"):
        public_postmortem_publish(incident=incident, actor=alice, body="What happened.")
    publish(incident, alice, status="resolved", body="Fixed.")
    with pytest.raises(InvalidInputError):
        public_postmortem_publish(incident=incident, actor=alice, body=" ")

    update = public_postmortem_publish(
        incident=incident, actor=alice, body="A config change broke card payments."
    )
    public = PublicIncident.objects.get(incident=incident)
    assert update.status == public.status == "postmortem"
    assert public.resolved_at is not None
    assert TimelineEvent.objects.filter(incident=incident, data__public_update=update.pk).exists()


def test_a_postmortem_needs_the_publish_right(incident, alice, carol):
    publish(incident, alice, status="resolved", body="Fixed.")
    with pytest.raises(PermissionDeniedError):
        public_postmortem_publish(incident=incident, actor=carol, body="What happened.")


# --- Seeded texts ---------------------------------------------------------------------------------


def test_the_runbooks_three_texts_are_seeded_with_their_statuses():
    templates = {t.kind: t for t in UpdateTemplate.objects.all()}
    assert {kind: t.status for kind, t in templates.items()} == {
        "initial": "investigating",
        "update": "identified",
        "resolution": "resolved",
    }
    assert templates["initial"].body == (
        "We are currently investigating reports of [brief description].\n"
        "Our team has been alerted and is actively working on a resolution.\n"
        "We will provide an update in 30 minutes or sooner."
    )
    assert templates["update"].body.startswith("We have identified the root cause as")
    assert templates["resolution"].body.endswith(
        "We will publish a full post-mortem within 5 business days."
    )


def test_publishing_does_not_move_the_internal_incident(incident, alice):
    publish(incident, alice, status="resolved", body="Fixed.")
    incident.refresh_from_db()
    assert incident.status == "investigating"
    incident_mitigate(incident=incident, actor=alice)
    incident_resolve(incident=incident, actor=alice)
    publish(incident, alice, status="resolved", body="Fixed for good.")
    assert PublicIncident.objects.get(incident=incident).resolved_at <= timezone.now()
