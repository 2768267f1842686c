"""The status page back-office: edits keep the history and go through the services."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.statuspage.models import (
    Component,
    ComponentGroup,
    ComponentStatusChange,
    PageSettings,
    PublicIncident,
    StatusVersion,
    UpdateTemplate,
)
from incidents.statuspage.services import maintenance_schedule, public_update_publish
from portal.models import Timer
from tests import factories

pytestmark = pytest.mark.django_db

MODELS = [PageSettings, UpdateTemplate, ComponentGroup, Component, PublicIncident]


def changelist(model) -> str:
    return reverse(f"admin:statuspage_{model._meta.model_name}_changelist")


def change(model, pk) -> str:
    return reverse(f"admin:statuspage_{model._meta.model_name}_change", args=[pk])


def add(model) -> str:
    return reverse(f"admin:statuspage_{model._meta.model_name}_add")


# The read-only update inline still posts its (empty) management form, as a browser does.
NO_INLINE_FORMS = {"updates-TOTAL_FORMS": "0", "updates-INITIAL_FORMS": "0"}


def version() -> int:
    row = StatusVersion.objects.filter(pk=1).first()
    return row.version if row else 0


def local(moment) -> dict[str, str]:
    """The admin's split date/time widget values, in the active (UTC) zone."""
    moment = timezone.localtime(moment)
    return {"0": moment.strftime("%Y-%m-%d"), "1": moment.strftime("%H:%M:%S")}


def split(name: str, moment) -> dict[str, str]:
    return {f"{name}_{part}": value for part, value in local(moment).items()}


@pytest.fixture
def checkout(make_component, payments):
    component = make_component("Checkout", group="Payments")
    component.services.add(payments)
    return component


@pytest.fixture
def published(alice, payments, checkout):
    incident = factories.declared(alice, "P1", services=[payments])
    return public_update_publish(
        incident=incident,
        actor=alice,
        status="investigating",
        body="We are investigating failing card payments.",
        name="Card payments are failing",
        component_statuses={checkout: "major_outage"},
    ).public_incident


@pytest.mark.parametrize("model", [*MODELS, ComponentStatusChange], ids=lambda m: m.__name__)
def test_staff_sees_every_changelist(client, staff_user, published, model):
    client.force_login(staff_user)
    assert client.get(changelist(model)).status_code == 200


def test_responders_do_not_get_in(client, alice):
    client.force_login(alice)
    assert client.get(changelist(Component)).status_code == 302


def test_a_component_status_edited_in_the_admin_is_kept_as_history(client, staff_user, checkout):
    client.force_login(staff_user)
    before = version()
    response = client.post(
        change(Component, checkout.pk),
        {
            "name": "Checkout",
            "description": "",
            "group": checkout.group_id,
            "position": 0,
            "status": "partial_outage",
            "services": [service.pk for service in checkout.services.all()],
            "showcase": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    checkout.refresh_from_db()
    assert checkout.status == "partial_outage"
    (row,) = ComponentStatusChange.objects.filter(component=checkout)
    assert (row.old_status, row.new_status) == ("operational", "partial_outage")
    assert version() > before


def test_the_list_edits_statuses_through_the_service_too(client, staff_user, checkout):
    client.force_login(staff_user)
    response = client.post(
        changelist(Component),
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(checkout.pk),
            "form-0-position": "3",
            "form-0-status": "major_outage",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    checkout.refresh_from_db()
    assert (checkout.position, checkout.status) == (3, "major_outage")
    assert ComponentStatusChange.objects.filter(
        component=checkout, new_status="major_outage"
    ).exists()


def test_a_new_component_starts_its_history(client, staff_user):
    client.force_login(staff_user)
    response = client.post(
        add(Component),
        {"name": "Search", "description": "", "position": 1, "status": "operational"},
    )
    assert response.status_code == 302
    search = Component.objects.get(name="Search")
    (row,) = ComponentStatusChange.objects.filter(component=search)
    assert (row.old_status, row.new_status) == ("", "operational")


def test_scheduling_maintenance_in_the_admin(client, staff_user, checkout):
    client.force_login(staff_user)
    start = timezone.now().replace(microsecond=0) + timedelta(days=1)
    response = client.post(
        add(PublicIncident),
        {
            "name": "Database upgrade",
            **split("scheduled_for", start),
            **split("scheduled_until", start + timedelta(hours=2)),
            "components": [checkout.pk],
            "body": "We are upgrading the payments database.",
            "auto_transition": "on",
            "remind": "60",
            "deliver_notifications": "on",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    maintenance = PublicIncident.objects.get()
    assert maintenance.kind == "maintenance"
    assert maintenance.status == "scheduled"
    assert maintenance.scheduled_for == start
    assert maintenance.remind_subscribers_before == timedelta(hours=1)
    assert list(maintenance.components.all()) == [checkout]
    assert maintenance.updates.get().body == "We are upgrading the payments database."
    kinds = set(
        Timer.objects.filter(key__startswith=f"maint-{maintenance.pk}:").values_list(
            "kind", flat=True
        )
    )
    assert kinds == {
        "statuspage.maintenance_start",
        "statuspage.maintenance_complete",
        "statuspage.maintenance_reminder",
    }


def test_a_window_that_ends_before_it_starts_is_refused(client, staff_user):
    client.force_login(staff_user)
    start = timezone.now() + timedelta(days=1)
    response = client.post(
        add(PublicIncident),
        {
            "name": "Database upgrade",
            **split("scheduled_for", start),
            **split("scheduled_until", start - timedelta(hours=2)),
            "body": "We are upgrading.",
            "remind": "",
        },
    )
    assert response.status_code == 200
    assert "The maintenance must end after it starts." in response.content.decode()
    assert not PublicIncident.objects.exists()


def test_moving_a_maintenance_in_the_admin(client, staff_user, checkout):
    start = timezone.now().replace(microsecond=0) + timedelta(days=1)
    maintenance = maintenance_schedule(
        name="Database upgrade",
        body="We are upgrading.",
        scheduled_for=start,
        scheduled_until=start + timedelta(hours=2),
        components=[checkout],
        actor=staff_user,
    )
    client.force_login(staff_user)
    page = client.get(change(PublicIncident, maintenance.pk))
    assert page.status_code == 200
    assert "We are upgrading." in page.content.decode()

    later = start + timedelta(days=1)
    response = client.post(
        change(PublicIncident, maintenance.pk),
        {
            "name": "Database upgrade",
            **split("scheduled_for", later),
            **split("scheduled_until", later + timedelta(hours=2)),
            "update_status": "",
            "update_body": "",
            "deliver_notifications": "on",
            **NO_INLINE_FORMS,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    maintenance.refresh_from_db()
    assert maintenance.scheduled_for == later
    assert maintenance.updates.count() == 2

    response = client.post(
        change(PublicIncident, maintenance.pk),
        {
            "name": "Database upgrade",
            **split("scheduled_for", later),
            **split("scheduled_until", later + timedelta(hours=2)),
            "update_status": "in_progress",
            "update_body": "We start early.",
            "deliver_notifications": "on",
            **NO_INLINE_FORMS,
        },
    )
    assert response.status_code == 302
    maintenance.refresh_from_db()
    checkout.refresh_from_db()
    assert maintenance.status == "in_progress"
    assert checkout.status == "under_maintenance"
    assert maintenance.updates.order_by("-display_at", "-id").first().body == "We start early."

    response = client.post(
        changelist(PublicIncident),
        {"action": "complete_now", "_selected_action": [maintenance.pk]},
    )
    assert response.status_code == 302
    maintenance.refresh_from_db()
    checkout.refresh_from_db()
    assert maintenance.status == "completed"
    assert checkout.status == "operational"


def test_a_published_incident_is_read_only_but_for_its_title(client, staff_user, published):
    client.force_login(staff_user)
    page = client.get(change(PublicIncident, published.pk)).content.decode()
    assert "We are investigating failing card payments." in page  # its updates, inline
    assert 'name="status"' not in page
    before = version()
    response = client.post(
        change(PublicIncident, published.pk),
        {"name": "Card payments fail for some customers", **NO_INLINE_FORMS},
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    published.refresh_from_db()
    assert published.name == "Card payments fail for some customers"
    assert published.status == "investigating"
    assert published.updates.count() == 1
    assert version() > before


def test_one_page_settings_row_and_three_texts(client, staff_user):
    client.force_login(staff_user)
    assert PageSettings.objects.count() == 1
    assert client.get(add(PageSettings)).status_code == 403
    assert client.get(add(UpdateTemplate)).status_code == 403
    template = UpdateTemplate.objects.get(kind="initial")
    response = client.post(
        change(UpdateTemplate, template.pk),
        {"status": "investigating", "body": "We are looking into [what]."},
    )
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.body == "We are looking into [what]."


def test_the_status_history_is_read_only(client, staff_user, published):
    client.force_login(staff_user)
    row = ComponentStatusChange.objects.get()
    assert client.get(add(ComponentStatusChange)).status_code == 403
    page = client.get(change(ComponentStatusChange, row.pk)).content.decode()
    assert 'name="new_status"' not in page
