"""Statuspage v2 JSON (FORMATS.md), field by field, in quiet, incident and maintenance states."""

import re
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from incidents.statuspage.models import PublicIncident
from incidents.statuspage.selectors import page_settings_get

pytestmark = pytest.mark.usefixtures("fresh_status_version")

ENDPOINTS = [
    "api-summary",
    "api-status",
    "api-components",
    "api-incidents",
    "api-incidents-unresolved",
    "api-maintenances",
    "api-maintenances-upcoming",
    "api-maintenances-active",
]
PUBLIC_ID = re.compile(r"^[a-z0-9]{12}$")
COMPONENT_STATUSES = {
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
}
INCIDENT_STATUSES = {"investigating", "identified", "monitoring", "resolved", "postmortem"}
MAINTENANCE_STATUSES = {"scheduled", "in_progress", "verifying", "completed"}
IMPACTS = {"none", "minor", "major", "critical"}
INDICATORS = {"none", "minor", "major", "critical", "maintenance"}
COMPONENT_KEYS = {
    "id",
    "name",
    "status",
    "position",
    "description",
    "showcase",
    "start_date",
    "group_id",
    "group",
    "only_show_if_degraded",
    "page_id",
    "created_at",
    "updated_at",
}
INCIDENT_KEYS = {
    "id",
    "name",
    "status",
    "impact",
    "shortlink",
    "started_at",
    "monitoring_at",
    "resolved_at",
    "created_at",
    "updated_at",
    "page_id",
    "components",
    "incident_updates",
}
UPDATE_KEYS = {
    "id",
    "status",
    "body",
    "display_at",
    "affected_components",
    "deliver_notifications",
    "incident_id",
    "created_at",
    "updated_at",
}


def get(client, name: str) -> dict:
    response = client.get(reverse(f"status:{name}"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    return response.json()


def timestamp(value, *, nullable: bool = False) -> datetime | None:
    """Check an ISO 8601 time with an explicit offset (in the page's time zone)."""
    if value is None and nullable:
        return None
    assert isinstance(value, str)
    assert re.search(r"[+-]\d\d:\d\d$", value), value
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None
    assert parsed.utcoffset() == parsed.astimezone(page_zone()).utcoffset(), value
    return parsed


def to_ms(value: datetime) -> datetime:
    """Return a time as Statuspage's JSON carries it: to the millisecond."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def page_zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo(page_settings_get().time_zone)


def check_page(page: dict) -> None:
    settings_row = page_settings_get()
    assert set(page) == {"id", "name", "url", "time_zone", "updated_at"}
    assert page["id"] == settings_row.public_id
    assert PUBLIC_ID.match(page["id"])
    assert page["name"] == settings_row.name
    assert page["url"] == settings.FIREBREAK_BASE_URL + "/status/"
    assert page["time_zone"] == settings_row.time_zone
    timestamp(page["updated_at"])


def check_component(component: dict, page_id: str) -> None:
    keys = COMPONENT_KEYS | ({"components"} if component["group"] else set())
    assert set(component) == keys
    assert PUBLIC_ID.match(component["id"])
    assert isinstance(component["name"], str)
    assert component["status"] in COMPONENT_STATUSES
    assert isinstance(component["position"], int)
    assert component["description"] is None or isinstance(component["description"], str)
    assert isinstance(component["showcase"], bool)
    assert isinstance(component["only_show_if_degraded"], bool)
    assert isinstance(component["group"], bool)
    assert component["page_id"] == page_id
    timestamp(component["created_at"])
    timestamp(component["updated_at"])
    if component["start_date"] is not None:
        datetime.strptime(component["start_date"], "%Y-%m-%d")
    if component["group"]:
        assert component["group_id"] is None
        assert all(PUBLIC_ID.match(child) for child in component["components"])
    else:
        assert component["group_id"] is None or PUBLIC_ID.match(component["group_id"])


def check_incident(incident: dict, page_id: str, *, maintenance: bool = False) -> None:
    keys = INCIDENT_KEYS | ({"scheduled_for", "scheduled_until"} if maintenance else set())
    assert set(incident) == keys
    assert PUBLIC_ID.match(incident["id"])
    statuses = MAINTENANCE_STATUSES if maintenance else INCIDENT_STATUSES
    assert incident["status"] in statuses
    assert incident["impact"] in IMPACTS
    shortlink = urlsplit(incident["shortlink"])
    assert incident["shortlink"].startswith(settings.FIREBREAK_BASE_URL)
    assert shortlink.path == f"/status/incidents/{incident['id']}/"
    timestamp(incident["started_at"])
    timestamp(incident["monitoring_at"], nullable=True)
    timestamp(incident["resolved_at"], nullable=True)
    timestamp(incident["created_at"])
    timestamp(incident["updated_at"])
    if maintenance:
        timestamp(incident["scheduled_for"], nullable=True)
        timestamp(incident["scheduled_until"], nullable=True)
    assert incident["page_id"] == page_id
    for component in incident["components"]:
        check_component(component, page_id)
    for update in incident["incident_updates"]:
        assert set(update) == UPDATE_KEYS
        assert PUBLIC_ID.match(update["id"])
        assert update["status"] in statuses
        assert isinstance(update["body"], str)
        assert update["incident_id"] == incident["id"]
        assert isinstance(update["deliver_notifications"], bool)
        timestamp(update["display_at"])
        timestamp(update["created_at"])
        timestamp(update["updated_at"])
        for affected in update["affected_components"]:
            assert set(affected) == {"code", "name", "old_status", "new_status"}
            assert PUBLIC_ID.match(affected["code"])
            assert affected["old_status"] in COMPONENT_STATUSES
            assert affected["new_status"] in COMPONENT_STATUSES
    displayed = [timestamp(u["display_at"]) for u in incident["incident_updates"]]
    assert displayed == sorted(displayed, reverse=True)  # newest first, as Statuspage


def check_every_endpoint(client) -> dict[str, dict]:
    """Fetch and validate every endpoint; return the documents by URL name."""
    docs = {name: get(client, name) for name in ENDPOINTS}
    page_id = docs["api-summary"]["page"]["id"]
    for doc in docs.values():
        check_page(doc["page"])
    summary = docs["api-summary"]
    assert set(summary) == {"page", "components", "incidents", "scheduled_maintenances", "status"}
    for name in ("api-summary", "api-status"):
        status = docs[name]["status"]
        assert set(status) == {"indicator", "description"}
        assert status["indicator"] in INDICATORS
    assert set(docs["api-status"]) == {"page", "status"}
    assert set(docs["api-components"]) == {"page", "components"}
    for component in summary["components"] + docs["api-components"]["components"]:
        check_component(component, page_id)
    for name in ("api-incidents", "api-incidents-unresolved"):
        assert set(docs[name]) == {"page", "incidents"}
        for incident in docs[name]["incidents"]:
            check_incident(incident, page_id)
    for incident in summary["incidents"]:
        check_incident(incident, page_id)
    for name in ("api-maintenances", "api-maintenances-upcoming", "api-maintenances-active"):
        assert set(docs[name]) == {"page", "scheduled_maintenances"}
        for maintenance in docs[name]["scheduled_maintenances"]:
            check_incident(maintenance, page_id, maintenance=True)
    for maintenance in summary["scheduled_maintenances"]:
        check_incident(maintenance, page_id, maintenance=True)
    return docs


@pytest.fixture
def components(make_component):
    api = make_component("API", group="Platform", position=1, description="REST and GraphQL")
    auth = make_component("Login", group="Platform", position=2)
    web = make_component("Website", position=0)
    api.group.position = 1
    api.group.save()
    return api, auth, web


def test_quiet_state(client, components):
    api, auth, _web = components
    docs = check_every_endpoint(client)

    summary = docs["api-summary"]
    assert summary["status"] == {"indicator": "none", "description": "All Systems Operational"}
    assert summary["incidents"] == []
    assert summary["scheduled_maintenances"] == []
    for name in ENDPOINTS[3:]:
        key = "incidents" if "incidents" in name else "scheduled_maintenances"
        assert docs[name][key] == []
    listed = docs["api-components"]["components"]
    assert summary["components"] == listed
    group = api.group
    # A group is listed among components, as Statuspage does: group true, its children's ids.
    assert [c["name"] for c in listed] == ["Website", "Platform", "API", "Login"]
    platform = listed[1]
    assert platform["id"] == group.public_id
    assert platform["group"] is True
    assert platform["components"] == [api.public_id, auth.public_id]
    assert platform["status"] == "operational"
    assert listed[2]["group_id"] == group.public_id
    assert listed[2]["group"] is False
    assert listed[2]["description"] == "REST and GraphQL"
    assert listed[0]["group_id"] is None
    assert listed[0]["description"] is None


def test_incident_state(client, components, make_public_incident, set_component_status):
    api, auth, _web = components
    set_component_status(api, "major_outage")
    set_component_status(auth, "degraded_performance")
    now = timezone.now()
    old = make_public_incident(
        "Slow logins last week",
        status="resolved",
        impact="minor",
        started_at=now - timedelta(days=7),
        resolved_at=now - timedelta(days=6),
        components=[auth],
        updates=[("investigating", "Looking into it."), ("resolved", "Fixed.")],
    )
    current = make_public_incident(
        "API unavailable",
        status="identified",
        impact="critical",
        started_at=now - timedelta(minutes=30),
        components=[api, auth],
        updates=[
            (
                "investigating",
                "We are investigating errors on the API.",
                [(api, "operational", "major_outage")],
            ),
            (
                "identified",
                "A bad deploy; rolling back.",
                [(auth, "operational", "degraded_performance")],
            ),
        ],
    )

    docs = check_every_endpoint(client)

    summary = docs["api-summary"]
    assert summary["status"] == {"indicator": "critical", "description": "Major System Outage"}
    assert [i["id"] for i in summary["incidents"]] == [current.public_id]
    assert [i["id"] for i in docs["api-incidents-unresolved"]["incidents"]] == [current.public_id]
    assert [i["id"] for i in docs["api-incidents"]["incidents"]] == [
        current.public_id,
        old.public_id,
    ]
    incident = summary["incidents"][0]
    assert incident["name"] == "API unavailable"
    assert incident["status"] == "identified"
    assert incident["impact"] == "critical"
    assert [c["id"] for c in incident["components"]] == [api.public_id, auth.public_id]
    latest, first = incident["incident_updates"]
    assert latest["status"] == "identified"
    assert latest["body"] == "A bad deploy; rolling back."
    assert latest["affected_components"] == [
        {
            "code": auth.public_id,
            "name": "Login",
            "old_status": "operational",
            "new_status": "degraded_performance",
        }
    ]
    assert first["affected_components"][0]["new_status"] == "major_outage"
    platform = next(c for c in docs["api-components"]["components"] if c["group"])
    assert platform["status"] == "major_outage"  # its worst component
    resolved = docs["api-incidents"]["incidents"][1]
    assert timestamp(resolved["resolved_at"]) is not None
    # The shortlink opens the public incident page.
    assert client.get(urlsplit(incident["shortlink"]).path).status_code == 200


def test_maintenance_state(client, components, make_public_incident):
    api, _auth, web = components
    now = timezone.now()
    upcoming = make_public_incident(
        "Database upgrade",
        kind="maintenance",
        status="scheduled",
        impact="none",
        started_at=now + timedelta(days=2),
        scheduled_for=now + timedelta(days=2),
        scheduled_until=now + timedelta(days=2, hours=2),
        components=[api],
        updates=[("scheduled", "We will upgrade the database.")],
    )
    active = make_public_incident(
        "Network maintenance",
        kind="maintenance",
        status="in_progress",
        impact="minor",
        started_at=now - timedelta(minutes=10),
        scheduled_for=now - timedelta(minutes=10),
        scheduled_until=now + timedelta(hours=1),
        components=[web],
        updates=[
            ("scheduled", "Planned network work."),
            ("in_progress", "Under way.", [(web, "operational", "under_maintenance")]),
        ],
    )
    done = make_public_incident(
        "Old maintenance",
        kind="maintenance",
        status="completed",
        impact="none",
        started_at=now - timedelta(days=30),
        scheduled_for=now - timedelta(days=30),
        scheduled_until=now - timedelta(days=30) + timedelta(hours=1),
    )

    docs = check_every_endpoint(client)

    summary = docs["api-summary"]
    assert [m["id"] for m in summary["scheduled_maintenances"]] == [
        active.public_id,
        upcoming.public_id,
    ]
    assert summary["incidents"] == []
    assert docs["api-incidents"]["incidents"] == []  # maintenances have their own list
    assert [m["id"] for m in docs["api-maintenances-upcoming"]["scheduled_maintenances"]] == [
        upcoming.public_id
    ]
    assert [m["id"] for m in docs["api-maintenances-active"]["scheduled_maintenances"]] == [
        active.public_id
    ]
    assert [m["id"] for m in docs["api-maintenances"]["scheduled_maintenances"]] == [
        upcoming.public_id,
        active.public_id,
        done.public_id,
    ]
    maintenance = docs["api-maintenances-upcoming"]["scheduled_maintenances"][0]
    assert timestamp(maintenance["scheduled_for"]) == to_ms(upcoming.scheduled_for)
    assert timestamp(maintenance["scheduled_until"]) == to_ms(upcoming.scheduled_until)
    assert maintenance["incident_updates"][0]["status"] == "scheduled"
    # Only maintenance under way (no component in trouble): the maintenance indicator.
    assert summary["status"] == {
        "indicator": "maintenance",
        "description": "Service Under Maintenance",
    }


def test_times_are_in_the_page_time_zone(client, components, make_public_incident):
    page = page_settings_get()
    page.time_zone = "Asia/Kolkata"
    page.save()
    record = make_public_incident("Slow", updates=[("investigating", "Looking.")])

    docs = check_every_endpoint(client)

    incident = docs["api-incidents"]["incidents"][0]
    assert incident["started_at"].endswith("+05:30")
    assert timestamp(incident["started_at"]) == to_ms(record.started_at)
    assert docs["api-summary"]["page"]["time_zone"] == "Asia/Kolkata"


def test_incidents_json_lists_the_50_most_recent(client, bump_status):
    now = timezone.now()
    PublicIncident.objects.bulk_create(
        PublicIncident(
            name=f"Incident {n}",
            status="resolved",
            impact="minor",
            started_at=now - timedelta(days=n),
            resolved_at=now - timedelta(days=n) + timedelta(hours=1),
        )
        for n in range(55)
    )
    bump_status()
    incidents = get(client, "api-incidents")["incidents"]
    assert len(incidents) == 50
    assert incidents[0]["name"] == "Incident 0"
    assert incidents[-1]["name"] == "Incident 49"


def test_page_url_is_the_configured_address(client, make_public_incident):
    page = page_settings_get()
    page.url = "https://status.example.com/"
    page.save()
    record = make_public_incident("Slow")
    summary = get(client, "api-summary")
    assert summary["page"]["url"] == "https://status.example.com/"
    assert summary["incidents"][0]["shortlink"] == (
        f"https://status.example.com/incidents/{record.public_id}/"
    )


@pytest.mark.parametrize("name", ENDPOINTS)
def test_cors_is_open_for_get(client, name):
    url = reverse(f"status:{name}")
    response = client.get(url, HTTP_ORIGIN="https://dashboard.example.org")
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response

    preflight = client.options(
        url,
        HTTP_ORIGIN="https://dashboard.example.org",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="if-none-match",
    )
    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == "*"
    assert "GET" in preflight["Access-Control-Allow-Methods"]
    assert preflight["Access-Control-Allow-Headers"] == "if-none-match"

    assert client.post(url).status_code == 405
