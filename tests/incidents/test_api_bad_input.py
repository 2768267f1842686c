"""Hostile input to the REST API gets a clear JSON 4xx, never a 500, and stores nothing."""

import json

import pytest
from rest_framework.test import APIClient

from incidents.models import Incident, TimelineEvent
from portal.idempotency import HEADER
from tests import factories

pytestmark = pytest.mark.django_db

INCIDENTS = "/api/v1/incidents/"
LISTS = ["/api/v1/incidents/", "/api/v1/teams/", "/api/v1/services/", "/api/v1/severities/"]
# PostgreSQL refuses NUL in text; UTF-8 cannot encode a lone surrogate (SQLite fails on it too).
NUL, SURROGATE = "\x00", "\ud800"


@pytest.fixture
def api(alice, payments):
    payments.team.members.add(alice)
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.fixture
def incident(alice, payments):
    return factories.declared(alice, "P2", services=[payments])


def post_json(api: APIClient, url: str, data: object, **headers):
    return api.post(url, json.dumps(data), content_type="application/json", **headers)


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["NUL", "surrogate"])
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "Payments down{bad}"),
        ("severity", "P1{bad}"),
        ("team", "payments{bad}"),
        ("services", ["payments-api{bad}"]),
        ("commander", "alice{bad}"),
        ("regions", ["eu{bad}"]),
    ],
)
def test_declaring_with_text_no_database_can_store_is_a_400_naming_the_field(
    api, field, value, bad
):
    data = {"title": "Payments down", "severity": "P1", field: value}
    data[field] = json.loads(json.dumps(value).replace("{bad}", json.dumps(bad)[1:-1]))

    response = post_json(api, INCIDENTS, data)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert f"body.{field}" in response.json()["detail"]
    assert Incident.objects.count() == 0


def test_a_nul_in_a_json_key_is_a_400(api):
    response = post_json(api, INCIDENTS, {"title": "Down", "severity": "P1", "x\x00": 1})

    assert response.status_code == 400
    assert "a key" in response.json()["detail"]


@pytest.mark.parametrize("target", ["users", "schedules", "teams"])
def test_paging_a_target_with_a_nul_is_a_400(api, incident, target):
    before = TimelineEvent.objects.count()

    response = post_json(api, f"{INCIDENTS}{incident.pk}/page/", {target: ["alice\x00"]})

    assert response.status_code == 400
    assert f"body.{target}[0]" in response.json()["detail"]
    assert TimelineEvent.objects.count() == before


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/teams/a%00/",
        "/api/v1/services/a%00/",
        "/api/v1/severities/a%00/",
        "/api/v1/incidents/?team=a%00",
        "/api/v1/incidents/?severity=%00",
    ],
)
def test_a_nul_in_the_address_is_a_json_400(api, url):
    response = api.get(url)

    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "NUL" in response.json()["detail"]


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("query", ["limit=99999999999999999999", "offset=99999999999999999999"])
def test_a_limit_or_offset_out_of_range_is_a_400_naming_it(api, incident, url, query):
    response = api.get(f"{url}?{query}")

    assert response.status_code == 400
    name = query.partition("=")[0]
    assert name in response.json()


@pytest.mark.parametrize("url", LISTS)
def test_a_limit_within_range_still_pages(api, incident, url):
    response = api.get(f"{url}?limit=500&offset=0")

    assert response.status_code == 200
    assert response.json()["count"] >= 1


@pytest.mark.parametrize("idempotency_key", [None, "deep-json-1"])
def test_a_body_of_100000_open_brackets_is_a_400(api, idempotency_key):
    headers = (
        {f"HTTP_{HEADER.upper().replace('-', '_')}": idempotency_key} if idempotency_key else {}
    )

    response = api.post(INCIDENTS, "[" * 100_000, content_type="application/json", **headers)

    assert response.status_code == 400
    assert "deeper" in response.json()["detail"]
    assert Incident.objects.count() == 0


def test_a_body_over_the_upload_limit_is_a_json_413(api, settings):
    body = json.dumps({"title": "Down", "severity": "P1", "summary": "x" * (5 * 1024 * 1024)})

    response = api.post(INCIDENTS, body, content_type="application/json")

    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert "larger than" in response.json()["detail"]
    assert Incident.objects.count() == 0


def test_ordinary_input_still_declares(api):
    response = post_json(
        api, INCIDENTS, {"title": "Payments down", "severity": "P2", "regions": ["eu"]}
    )

    assert response.status_code == 201, response.content
