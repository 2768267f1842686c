"""The overall indicator: Statuspage's levels and wording, from incidents and components."""

import pytest
from django.urls import reverse

from incidents.statuspage.selectors import status_get, status_indicator

pytestmark = pytest.mark.usefixtures("fresh_status_version")

DESCRIPTIONS = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
    "maintenance": "Service Under Maintenance",
}


@pytest.mark.parametrize(
    ("impacts", "statuses", "maintenance", "expected"),
    [
        ([], [], False, "none"),
        ([], ["operational", "operational"], False, "none"),
        (["none"], ["operational"], False, "none"),
        (["minor"], ["operational"], False, "minor"),
        ([], ["degraded_performance"], False, "minor"),
        (["major"], ["operational"], False, "major"),
        ([], ["partial_outage"], False, "major"),
        (["minor"], ["partial_outage"], False, "major"),
        (["critical"], ["operational"], False, "critical"),
        ([], ["major_outage"], False, "critical"),
        (["minor", "critical"], ["degraded_performance"], False, "critical"),
        ([], ["operational"], True, "maintenance"),
        ([], ["under_maintenance"], False, "maintenance"),
        (["none"], ["under_maintenance"], True, "maintenance"),
        # Any real problem outranks maintenance.
        (["minor"], ["under_maintenance"], True, "minor"),
        ([], ["under_maintenance", "degraded_performance"], True, "minor"),
        ([], ["under_maintenance", "partial_outage"], False, "major"),
        ([], ["under_maintenance", "major_outage"], True, "critical"),
    ],
)
def test_indicator_rule_table(impacts, statuses, maintenance, expected):
    result = status_indicator(
        incident_impacts=impacts,
        component_statuses=statuses,
        maintenance_in_progress=maintenance,
    )
    assert result.indicator == expected
    assert result.description == DESCRIPTIONS[expected]


def _status(client) -> dict:
    return client.get(reverse("status:api-status")).json()["status"]


def test_quiet_page_is_all_systems_operational(client, make_component):
    make_component("API")
    assert _status(client) == {"indicator": "none", "description": "All Systems Operational"}


def test_open_incident_impact_drives_the_indicator_until_resolved(
    client, make_component, make_public_incident
):
    record = make_public_incident("Checkout failing", impact="critical")
    assert _status(client)["indicator"] == "critical"

    record.status = "resolved"
    record.save()
    make_public_incident("Old slowness", status="postmortem", impact="major")
    assert status_get().indicator == "none"


def test_component_outage_counts_without_an_incident(client, make_component, set_component_status):
    api = make_component("API")
    set_component_status(api, "partial_outage")
    assert _status(client) == {"indicator": "major", "description": "Partial System Outage"}


@pytest.mark.parametrize(
    ("maintenance_status", "expected"),
    [
        ("scheduled", "none"),
        ("in_progress", "maintenance"),
        ("verifying", "maintenance"),
        ("completed", "none"),
    ],
)
def test_only_maintenance_under_way_shows_maintenance(
    client, make_public_incident, maintenance_status, expected
):
    make_public_incident(
        "Database upgrade", kind="maintenance", status=maintenance_status, impact="none"
    )
    assert _status(client)["indicator"] == expected


def test_incident_during_maintenance_shows_the_incident(client, make_public_incident):
    make_public_incident("Database upgrade", kind="maintenance", status="in_progress")
    make_public_incident("Logins slow", impact="minor")
    assert _status(client) == {"indicator": "minor", "description": "Minor Service Outage"}


def test_banner_shows_the_description_in_words(client, make_component, set_component_status):
    api = make_component("API")
    set_component_status(api, "major_outage")
    html = client.get(reverse("status:page")).content.decode()
    assert "Major System Outage" in html
