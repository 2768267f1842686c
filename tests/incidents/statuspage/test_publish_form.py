"""The incident page's "Status page" panel: prefilled from the runbook, posting to the service."""

import pytest
from django.urls import reverse

from incidents.services import (
    incident_change_severity,
    incident_mitigate,
    incident_resolve,
    incident_role_assign,
)
from incidents.statuspage.models import ComponentStatusChange, PublicIncident, PublicUpdate
from incidents.statuspage.services import public_update_publish
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(alice, payments):
    return factories.declared(alice, "P1", services=[payments])


@pytest.fixture
def checkout(make_component, payments):
    component = make_component("Checkout", group="Payments")
    component.services.add(payments)
    return component


@pytest.fixture
def dashboard(make_component):
    return make_component("Dashboard")


def detail(incident, query: str = "") -> str:
    return reverse("incidents:detail", kwargs={"pk": incident.pk}) + query


def publish_url(incident) -> str:
    return reverse("incidents:public_update", kwargs={"pk": incident.pk})


def panel_form(client, incident, query: str = ""):
    response = client.get(detail(incident, query))
    assert response.status_code == 200
    return response, response.context["publish_form"]


def component_choice(form, component) -> str:
    return form[f"component_{component.pk}"].value()


def publish(incident, actor, **fields):
    fields.setdefault("status", "investigating")
    fields.setdefault("body", "We are investigating.")
    fields.setdefault("name", "Card payments are failing")
    return public_update_publish(incident=incident, actor=actor, **fields)


def test_the_first_publish_starts_from_the_initial_text(
    client, alice, incident, checkout, dashboard, update_templates
):
    client.force_login(alice)
    response, form = panel_form(client, incident)
    assert form.first_publish
    assert form.template_kind == "initial"
    assert form["body"].value() == update_templates["initial"].body
    assert form["status"].value() == "investigating"
    assert form["impact"].value() == "critical"  # P1
    assert form["name"].value() in (None, "")  # the public title is written for customers
    # The component behind the incident's service is suggested; the others stay as they are.
    assert component_choice(form, checkout) == "major_outage"
    assert component_choice(form, dashboard) == ""
    page = response.content.decode()
    assert 'id="status-page"' in page
    assert "Nothing published on the status page yet." in page
    assert "Public title" in page


@pytest.mark.parametrize(
    ("code", "impact", "component"),
    [
        ("P2", "major", "partial_outage"),
        ("P3", "minor", "degraded_performance"),
        ("P4", "none", ""),
    ],
)
def test_impact_and_component_status_are_suggested_from_the_severity(
    client, alice, payments, checkout, code, impact, component
):
    incident = factories.declared(alice, code, services=[payments])
    client.force_login(alice)
    _, form = panel_form(client, incident)
    assert form["impact"].value() == impact
    assert component_choice(form, checkout) == component


def test_a_template_link_reloads_the_form_with_that_text_and_its_status(
    client, alice, incident, update_templates
):
    client.force_login(alice)
    response, form = panel_form(client, incident, "?template=update")
    assert form.template_kind == "update"
    assert form["body"].value() == update_templates["update"].body
    assert form["status"].value() == "identified"
    assert 'href="?template=resolution#status-page"' in response.content.decode()
    _, form = panel_form(client, incident, "?template=nonsense")
    assert form.template_kind == "initial"


def test_later_updates_follow_the_incident_status(
    client, alice, incident, checkout, update_templates
):
    publish(incident, alice, component_statuses={checkout: "major_outage"})
    client.force_login(alice)
    response, form = panel_form(client, incident)
    assert not form.first_publish
    assert "name" not in form.fields
    assert form.template_kind == "update"
    assert form["status"].value() == "investigating"
    assert "Card payments are failing" in response.content.decode()

    # Once the cause was published as identified, it stays identified while investigating.
    publish(incident, alice, status="identified", body="Found it.")
    _, form = panel_form(client, incident)
    assert form["status"].value() == "identified"

    incident_mitigate(incident=incident, actor=alice)
    _, form = panel_form(client, incident)
    assert form["status"].value() == "monitoring"

    incident_resolve(incident=incident, actor=alice)
    _, form = panel_form(client, incident)
    assert form.template_kind == "resolution"
    assert form["body"].value() == update_templates["resolution"].body
    assert form["status"].value() == "resolved"
    assert component_choice(form, checkout) == "operational"


def test_a_component_listed_earlier_is_suggested_operational_on_resolution(
    client, alice, incident, dashboard
):
    publish(incident, alice, component_statuses={dashboard: "partial_outage"})
    incident_resolve(incident=incident, actor=alice)
    client.force_login(alice)
    _, form = panel_form(client, incident)
    assert component_choice(form, dashboard) == "operational"


def test_publishing_from_the_form(client, alice, incident, checkout, dashboard):
    client.force_login(alice)
    response = client.post(
        publish_url(incident),
        {
            "name": "Card payments are failing",
            "status": "investigating",
            "impact": "major",
            "body": "We are currently investigating reports of failing card payments.\r\n",
            f"component_{checkout.pk}": "partial_outage",
            f"component_{dashboard.pk}": "",
            "deliver_notifications": "on",
        },
    )
    assert response.status_code == 302
    assert response.url == detail(incident) + "#status-page"
    public = PublicIncident.objects.get(incident=incident)
    assert (public.name, public.status, public.impact) == (
        "Card payments are failing",
        "investigating",
        "major",
    )
    update = public.updates.get()
    assert update.body == "We are currently investigating reports of failing card payments."
    assert update.deliver_notifications
    checkout.refresh_from_db()
    dashboard.refresh_from_db()
    assert (checkout.status, dashboard.status) == ("partial_outage", "operational")

    page = client.get(response.url).content.decode()
    assert "Published to the status page: investigating." in page
    assert "We are currently investigating reports of failing card payments." in page


@pytest.mark.parametrize(
    ("post", "error"),
    [
        ({"name": ""}, "Public title"),
        ({"body": "   "}, "This field is required"),
        (
            {"body": "We are currently investigating reports of [brief description].\r\n"},
            "Replace [brief description] with what customers should read.",
        ),
        ({"status": "postmortem"}, "Select a valid choice"),
        ({"component": "under_maintenance"}, "Select a valid choice"),
    ],
)
def test_bad_input_comes_back_on_the_form_and_nothing_is_published(
    client, alice, incident, checkout, post, error
):
    data = {
        "name": "Card payments are failing",
        "status": "investigating",
        "impact": "critical",
        "body": "We are investigating.",
        "deliver_notifications": "on",
    }
    if "component" in post:
        data[f"component_{checkout.pk}"] = post.pop("component")
    data.update(post)
    client.force_login(alice)
    response = client.post(publish_url(incident), data)
    assert response.status_code == 400
    page = response.content.decode()
    assert error in page
    assert "Nothing was published" in page
    assert not PublicIncident.objects.exists()
    assert not ComponentStatusChange.objects.exists()


def test_the_communicator_and_staff_see_the_form(client, alice, bob, staff_user, incident):
    incident_role_assign(incident=incident, actor=alice, role="communicator", user=bob)
    for user in (bob, staff_user):
        client.force_login(user)
        _, form = panel_form(client, incident)
        assert form is not None


@pytest.mark.parametrize("who", ["responder", "viewer"])
def test_others_see_the_updates_but_no_form_and_may_not_post(
    client, alice, carol, viewer_user, incident, who
):
    publish(incident, alice)
    user = carol if who == "responder" else viewer_user
    client.force_login(user)
    response = client.get(detail(incident))
    assert response.context["publish_form"] is None
    page = response.content.decode()
    assert "We are investigating." in page
    assert 'id="publish-form"' not in page

    response = client.post(
        publish_url(incident),
        {"status": "resolved", "impact": "none", "body": "Fixed, says someone."},
    )
    assert response.status_code == 403
    assert "Incident Commander or Communicator" in response.content.decode()
    assert PublicUpdate.objects.count() == 1


def test_the_reminders_link_opens_the_form(client, alice, incident, update_templates):
    client.force_login(alice)
    response = client.get(publish_url(incident))
    assert response.status_code == 200
    assert response.context["publish_form"]["body"].value() == update_templates["initial"].body
    client.logout()
    response = client.get(publish_url(incident))
    assert response.status_code == 302
    assert "/accounts/login/" in response.url


def test_raising_the_severity_raises_the_suggestions(client, alice, payments, checkout):
    incident = factories.declared(alice, "P3", services=[payments])
    incident_change_severity(incident=incident, actor=alice, severity=factories.severity("P1"))
    client.force_login(alice)
    _, form = panel_form(client, incident)
    assert form["impact"].value() == "critical"
    assert component_choice(form, checkout) == "major_outage"


def test_a_later_update_leaves_a_component_someone_already_set_as_it_is(
    client, alice, incident, checkout
):
    publish(incident, alice, component_statuses={checkout: "degraded_performance"})
    client.force_login(alice)
    _, form = panel_form(client, incident)
    assert component_choice(form, checkout) == ""  # "No change"
