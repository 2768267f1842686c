"""The API's root, its JSON answers for wrong addresses, and the schema telling the truth."""

import re

import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(alice):
    client = APIClient()
    client.force_authenticate(alice)
    return client


@pytest.fixture
def schema(tmp_path) -> dict:
    schema_file = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(schema_file))
    return yaml.safe_load(schema_file.read_text())


def test_the_api_root_lists_every_collection_and_the_docs(api):
    response = api.get("/api/v1/")

    assert response.status_code == 200
    links = response.json()
    assert links["incidents"] == "http://testserver/api/v1/incidents/"
    for name in ("teams", "services", "severities", "schema", "docs", "redoc"):
        assert api.get(links[name]).status_code == 200, name


def test_the_api_root_asks_an_anonymous_caller_for_a_token():
    response = APIClient().get("/api/v1/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/incidents/0.5/"),
        ("post", "/api/v1/incidents/0.5/acknowledge/"),
        ("get", "/api/v1/no-such-collection/"),
    ],
)
def test_an_address_naming_nothing_is_a_json_404(api, method, url):
    response = getattr(api, method)(url)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


def test_an_address_without_its_slash_is_still_redirected(api):
    assert api.get("/api/v1/incidents").status_code == 301


def test_an_incident_without_a_bridge_shows_null_not_an_empty_uri(api, alice, payments):
    factories.declared(alice, "P2", services=[payments], bridge_url="")

    (shown,) = api.get("/api/v1/incidents/").json()["results"]

    assert shown["bridge_url"] is None


def test_business_hours_are_documented_as_local_times_without_an_offset(api, payments, schema):
    team = api.get(f"/api/v1/teams/{payments.team.slug}/").json()
    documented = schema["components"]["schemas"]["Team"]["properties"]

    assert (team["business_day_start"], team["business_day_end"]) == ("09:00:00", "17:00:00")
    for field in ("business_day_start", "business_day_end"):
        assert "format" not in documented[field]  # RFC 3339 `time` demands an offset
        assert re.fullmatch(documented[field]["pattern"], team[field])


def test_every_operation_documents_the_errors_it_can_answer(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"400", "401", "403", "414"} <= codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            if "requestBody" in operation:
                assert {"413", "415"} <= codes, (method, path)
    assert schema["paths"]["/api/v1/"]["get"]["responses"]["200"]
    bridge = schema["components"]["schemas"]["Incident"]["properties"]["bridge_url"]
    assert bridge["nullable"] is True
