import pytest
from django.urls import reverse

from incidents.models import (
    Incident,
    IncidentStatus,
    RoleAssignment,
    Service,
    ServiceLink,
    Severity,
    StatusUpdate,
    Team,
    TeamNotification,
    TimelineEvent,
)
from incidents.services import incident_notify_team, status_update_post
from tests import factories

ALL_MODELS = [
    Team,
    Service,
    ServiceLink,
    Severity,
    Incident,
    RoleAssignment,
    TimelineEvent,
    StatusUpdate,
    TeamNotification,
]
READ_ONLY_MODELS = [Incident, RoleAssignment, TimelineEvent, StatusUpdate, TeamNotification]


def changelist(model) -> str:
    return reverse(f"admin:incidents_{model._meta.model_name}_changelist")


@pytest.fixture
def incident(alice, payments):
    incident = factories.declared(alice, "P1", services=[payments])
    incident_notify_team(event_id=incident.timeline.get(kind=TimelineEvent.Kind.DECLARED).pk)
    status_update_post(
        incident=incident,
        actor=alice,
        status="INVESTIGATING",
        impact="Card payments fail",
        last_action="Paged on-call",
        next_action="Check pods",
    )
    return incident


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_staff_sees_every_changelist_with_rows(client, staff_user, incident, model):
    ServiceLink.objects.create(
        service=Service.objects.get(), kind="dashboard", title="Error rate", url="https://g.test/e"
    )
    client.force_login(staff_user)

    response = client.get(changelist(model))

    assert response.status_code == 200
    assert response.context["cl"].result_count >= 1


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_changelist_search_and_filters_work(admin_client, incident, model):
    response = admin_client.get(changelist(model), {"q": "payments"})

    assert response.status_code == 200


def test_incident_found_by_reference(admin_client, incident, alice):
    other = factories.declared(alice, "P3", title="Something else entirely")

    response = admin_client.get(changelist(Incident), {"q": incident.reference})

    assert list(response.context["cl"].result_list) == [incident]
    assert other not in response.context["cl"].result_list


@pytest.mark.parametrize("model", READ_ONLY_MODELS, ids=lambda m: m.__name__)
def test_incident_records_cannot_be_added_even_by_staff(client, staff_user, model):
    client.force_login(staff_user)

    response = client.get(reverse(f"admin:incidents_{model._meta.model_name}_add"))

    assert response.status_code == 403


def test_incident_page_offers_no_way_to_change_status(client, staff_user, incident):
    client.force_login(staff_user)
    url = reverse("admin:incidents_incident_change", args=[incident.pk])

    page = client.get(url)
    forged = client.post(url, {"status": IncidentStatus.RESOLVED, "title": "x"})

    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="status"' not in html
    assert 'name="_save"' not in html
    assert "Investigating" in html  # the status is shown, read-only
    assert "Card payments fail" in html  # the status update inline
    assert forged.status_code == 403
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.INVESTIGATING
    assert incident.title == "Payments service returning 503"


def test_incident_cannot_be_deleted_in_the_admin(client, staff_user, incident):
    client.force_login(staff_user)

    response = client.post(
        reverse("admin:incidents_incident_delete", args=[incident.pk]), {"post": "yes"}
    )

    assert response.status_code == 403
    assert Incident.objects.filter(pk=incident.pk).exists()


def test_staff_edits_a_team(client, staff_user, payments):
    client.force_login(staff_user)
    team = payments.team
    url = reverse("admin:incidents_team_change", args=[team.pk])
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: v for k, v in data.items() if v is not None}
    data.update(chat_channel="#payments-war-room", business_days="[0, 1, 2, 3, 4]")

    response = client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    team.refresh_from_db()
    assert team.chat_channel == "#payments-war-room"


def test_service_links_are_edited_inline(client, staff_user, payments):
    client.force_login(staff_user)
    url = reverse("admin:incidents_service_change", args=[payments.pk])
    data = {
        "name": payments.name,
        "slug": payments.slug,
        "team": payments.team_id,
        "description": "",
        "links-TOTAL_FORMS": "1",
        "links-INITIAL_FORMS": "0",
        "links-0-kind": "dashboard",
        "links-0-title": "API p99 latency",
        "links-0-url": "https://grafana.example.com/d/latency",
        "links-0-position": "0",
    }

    response = client.post(url, data)

    assert response.status_code == 302
    assert list(payments.links.values_list("title", flat=True)) == ["API p99 latency"]


def test_manager_opens_the_admin_and_edits_a_severity(client, manager_user):
    client.force_login(manager_user)
    p3 = Severity.objects.get(code="P3")
    url = reverse("admin:incidents_severity_change", args=[p3.pk])

    index = client.get(reverse("admin:index"))
    listing = client.get(changelist(Severity))
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: v for k, v in data.items() if v is not None}
    data["response_target"] = "< 1 h (business hours)"
    saved = client.post(url, data)

    assert index.status_code == 200
    assert listing.status_code == 200
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    p3.refresh_from_db()
    assert p3.response_target == "< 1 h (business hours)"


def test_manager_may_view_but_not_change_teams(client, manager_user, payments):
    client.force_login(manager_user)
    team = payments.team
    url = reverse("admin:incidents_team_change", args=[team.pk])

    view = client.get(url)
    change = client.post(url, {"name": "Renamed", "slug": team.slug})
    add = client.get(reverse("admin:incidents_team_add"))

    assert view.status_code == 200
    assert 'name="_save"' not in view.content.decode()
    assert change.status_code == 403
    assert add.status_code == 403
    team.refresh_from_db()
    assert team.name == "Payments"


def test_manager_reads_incidents_in_the_admin(client, manager_user, incident):
    client.force_login(manager_user)

    listing = client.get(changelist(Incident))
    page = client.get(reverse("admin:incidents_incident_change", args=[incident.pk]))

    assert listing.status_code == 200
    assert incident.title in listing.content.decode()
    assert page.status_code == 200


def test_manager_cannot_see_notifications(client, manager_user):
    client.force_login(manager_user)

    response = client.get(changelist(TeamNotification))

    assert response.status_code == 403


@pytest.mark.parametrize("user_fixture", ["alice", "viewer_user", "outsider"])
def test_responders_and_viewers_are_sent_to_the_admin_login(db, client, request, user_fixture):
    client.force_login(request.getfixturevalue(user_fixture))

    response = client.get(changelist(Severity))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_a_manager_signs_in_at_the_back_office_login(client, manager_user):
    response = client.post(
        reverse("admin:login") + "?next=" + reverse("admin:index"),
        {"username": manager_user.username, "password": "correct-horse-battery"},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == reverse("admin:index")
    assert "Severities" in response.content.decode()


def test_a_responder_cannot_sign_in_at_the_back_office_login(client, alice):
    response = client.post(
        reverse("admin:login"), {"username": "alice", "password": "correct-horse-battery"}
    )

    assert response.status_code == 200
    assert "Please enter the correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_incident_list_shows_the_ic_or_flags_its_absence(admin_client, alice):
    from incidents.services import incident_role_release

    with_ic = factories.declared(alice, title="Has a commander")
    without_ic = factories.declared(alice, title="Lost its commander")
    incident_role_release(incident=without_ic, actor=alice, role="commander")

    text = admin_client.get(changelist(Incident)).content.decode()

    row_with = text[text.index(with_ic.title) :].split("</tr>")[0]
    row_without = text[text.index(without_ic.title) :].split("</tr>")[0]
    assert "alice" in row_with
    assert "No IC" in row_without
