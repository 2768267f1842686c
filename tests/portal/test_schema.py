import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.drainage import reset_generator_stats

pytestmark = pytest.mark.django_db


def test_the_openapi_schema_generates_valid_and_without_warnings(tmp_path, capsys):
    schema_file = tmp_path / "schema.yml"
    reset_generator_stats()

    # --fail-on-warn raises on any warning or error; --validate checks against the OpenAPI spec.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(schema_file))

    assert capsys.readouterr().err == ""
    schema = yaml.safe_load(schema_file.read_text())
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path, methods in {
        "/api/v1/incidents/": {"get", "post"},
        "/api/v1/incidents/{id}/": {"get", "patch"},
        "/api/v1/incidents/{id}/acknowledge/": {"post"},
        "/api/v1/incidents/{id}/investigate/": {"post"},
        "/api/v1/incidents/{id}/mitigate/": {"post"},
        "/api/v1/incidents/{id}/resolve/": {"post"},
        "/api/v1/incidents/{id}/reopen/": {"post"},
        "/api/v1/incidents/{id}/close/": {"post"},
        "/api/v1/incidents/{id}/severity/": {"post"},
        "/api/v1/incidents/{id}/roles/": {"get", "post"},
        "/api/v1/incidents/{id}/roles/{role}/": {"delete"},
        "/api/v1/incidents/{id}/timeline/": {"get", "post"},
        "/api/v1/incidents/{id}/updates/": {"get", "post"},
        "/api/v1/teams/": {"get"},
        "/api/v1/services/{slug}/": {"get"},
        "/api/v1/severities/{code}/": {"get"},
    }.items():
        assert methods <= set(paths[path]), path
    transition = paths["/api/v1/incidents/{id}/mitigate/"]["post"]["responses"]
    assert {"200", "400", "403", "404", "409"} <= set(transition)
    assert set(schema["components"]["securitySchemes"]) == {"tokenAuth", "cookieAuth"}
    # The creating POSTs take an Idempotency-Key; transitions repeat safely without one.
    for path in (
        "/api/v1/incidents/",
        "/api/v1/incidents/{id}/timeline/",
        "/api/v1/incidents/{id}/updates/",
        "/api/v1/incidents/{id}/page/",
    ):
        creating = paths[path]["post"]
        assert ("header", "Idempotency-Key") in {
            (p["in"], p["name"]) for p in creating["parameters"]
        }, path
        assert {"201", "400", "409", "422"} <= set(creating["responses"]), path
        assert "Idempotent-Replayed" in creating["responses"]["201"]["headers"], path
    for path, method in [
        ("/api/v1/incidents/{id}/timeline/", "get"),
        ("/api/v1/incidents/{id}/mitigate/", "post"),
    ]:
        names = {p["name"] for p in paths[path][method].get("parameters", [])}
        assert "Idempotency-Key" not in names, (path, method)


def test_the_docs_pages_render_for_a_signed_in_user_from_local_assets(client, alice):
    client.force_login(alice)

    schema = client.get("/api/v1/schema/")
    swagger = client.get("/api/v1/docs/")
    redoc = client.get("/api/v1/redoc/")

    assert schema.status_code == 200
    assert b"/api/v1/incidents/{id}/acknowledge/" in schema.content
    for page in (swagger, redoc):
        assert page.status_code == 200
        html = page.content.decode()
        assert "drf_spectacular_sidecar" in html
        assert "cdn." not in html
