"""An anonymous visitor of every public URL never receives internal data."""

import pytest
from django.urls import reverse

from incidents.models import IncidentRole, Severity
from incidents.services import incident_role_assign, status_update_post, timeline_note_add
from tests import factories

pytestmark = pytest.mark.usefixtures("fresh_status_version")

MARKER = "SECRET-MARKER"


@pytest.fixture
def internal_incident(db):
    """An internal incident whose every internal field carries the marker."""
    Severity.objects.filter(code="P1").update(name=f"{MARKER} severity")
    team = factories.TeamFactory(name=f"{MARKER} team", slug="secret-team")
    service = factories.ServiceFactory(name=f"{MARKER} service", slug="secret-svc", team=team)
    commander = factories.responder("secret-marker-ic", first_name=f"{MARKER}-Alice")
    communicator = factories.responder("secret-marker-comms", first_name=f"{MARKER}-Bob")
    incident = factories.declared(
        commander,
        "P1",
        title=f"{MARKER} title: db-prod-7 disk full",
        summary=f"{MARKER} summary: the replica lag alarm",
        impact=f"{MARKER} impact: 40% of card payments fail",
        services=[service],
        regions=[f"{MARKER}-region"],
        bridge_url="https://meet.example.com/secret-marker",
    )
    incident_role_assign(
        incident=incident,
        actor=commander,
        role=IncidentRole.COMMUNICATOR,
        user=communicator,
    )
    timeline_note_add(incident=incident, actor=commander, body=f"{MARKER} note: rolled back")
    status_update_post(
        incident=incident,
        actor=commander,
        status="INVESTIGATING",
        impact=f"{MARKER} update impact",
        last_action=f"{MARKER} last action",
        next_action=f"{MARKER} next action",
    )
    return incident, service, communicator


def test_anonymous_walk_of_every_public_url_never_sees_internal_data(
    client, internal_incident, make_component, make_public_incident, set_component_status
):
    incident, service, communicator = internal_incident
    payments = make_component("Payments", group="Commerce", description="Card payments")
    payments.services.add(service)
    set_component_status(payments, "partial_outage")
    public = make_public_incident(
        "Card payments failing for some customers",
        incident=incident,
        status="identified",
        impact="major",
        components=[payments],
        updates=[
            (
                "investigating",
                "Some card payments fail. We are investigating.",
                [(payments, "operational", "partial_outage")],
            ),
            ("identified", "We found the cause and are fixing it."),
        ],
    )
    public.updates.update(published_by=communicator)
    maintenance = make_public_incident(
        "Payments maintenance", kind="maintenance", status="scheduled", impact="none"
    )
    assert incident.reference.startswith("INC-")

    shows_the_incident = [
        reverse("status:page"),
        reverse("status:history"),
        reverse("status:incident", args=[public.public_id]),
        reverse("status:feed-rss"),
        reverse("status:feed-atom"),
        reverse("status:api-summary"),
        reverse("status:api-incidents"),
        reverse("status:api-incidents-unresolved"),
    ]
    urls = [
        *shows_the_incident,
        reverse("status:incident", args=[maintenance.public_id]),
    ] + [
        reverse(f"status:{name}")
        for name in [
            "api-summary",
            "api-status",
            "api-components",
            "api-incidents",
            "api-incidents-unresolved",
            "api-maintenances",
            "api-maintenances-upcoming",
            "api-maintenances-active",
        ]
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert MARKER.lower() not in body.lower(), url
        assert "INC-" not in body, url
        assert "meet.example.com" not in body, url
        # What the public may see is there.
        if url in shows_the_incident:
            assert "Card payments failing for some customers" in body, url
