"""Up when everything else is down: /status/ answers from the last snapshot on a failure."""

import json
from datetime import timedelta

import pytest
import redis
from django.core.cache import cache, caches
from django.db import OperationalError, connection
from django.test import Client
from django.utils import timezone

import incidents.statuspage.receivers  # noqa: F401 - connects the refresh on every change
from incidents.statuspage import pages
from incidents.statuspage.publiccache import public_cache_forget_local
from incidents.statuspage.services import public_update_publish
from incidents.statuspage.snapshot import MANIFEST, snapshot_file_name
from incidents.statuspage.version import status_version_forget_local
from tests import factories

pytestmark = pytest.mark.usefixtures("fresh_status_version")

MIDDLEWARE = "incidents.statuspage.middleware.StatusSnapshotFallbackMiddleware"
TITLE = "Card payments are failing"


@pytest.fixture
def snapshot_dir(settings, tmp_path):
    """The fallback middleware first, as in service; snapshots in a folder of this test."""
    settings.MIDDLEWARE = [MIDDLEWARE, *(m for m in settings.MIDDLEWARE if m != MIDDLEWARE)]
    directory = tmp_path / "status-snapshot"
    settings.FIREBREAK_STATUS_SNAPSHOT_DIR = str(directory)
    return directory


@pytest.fixture
def published(snapshot_dir, alice, payments, make_component, django_capture_on_commit_callbacks):
    """A published incident: the page changed, so the snapshot was written after commit."""
    checkout = make_component("Checkout", group="Payments")
    incident = factories.declared(alice, "P1", services=[payments])
    with django_capture_on_commit_callbacks(execute=True):
        update = public_update_publish(
            incident=incident,
            actor=alice,
            status="investigating",
            body="Some card payments fail.",
            name=TITLE,
            component_statuses={checkout: "partial_outage"},
        )
    assert (snapshot_dir / MANIFEST).exists()
    return update.public_incident


# Both outages are undone before the test database and the cache are cleaned up: they depend
# on the fixtures that set those up, so they are torn down first.


def forget_process_copies() -> None:
    """A second later (or in another process) the version and pages kept in memory are gone."""
    public_cache_forget_local()
    status_version_forget_local()


@pytest.fixture
def database_down(db, fresh_status_version):
    """Make every new cursor fail as with a database that refuses connections."""

    def refuse(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed")

    with pytest.MonkeyPatch.context() as patch:

        def go_down() -> None:
            cache.clear()  # nothing left to answer from but the database
            forget_process_copies()
            patch.setattr(connection, "ensure_connection", refuse)

        yield go_down


@pytest.fixture
def cache_down(db, fresh_status_version):
    """Make every cache call fail as with a Redis server that went away."""

    def refuse(*args, **kwargs):
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with pytest.MonkeyPatch.context() as patch:

        def go_down() -> None:
            forget_process_copies()
            backend = caches["default"]
            for method in ("get", "set", "add", "delete", "get_many", "set_many", "incr"):
                patch.setattr(backend, method, refuse)

        yield go_down


def saved_time(directory) -> str:
    return json.loads((directory / MANIFEST).read_text())["generated_at"]


@pytest.mark.parametrize("outage", ["database_down", "cache_down"])
def test_the_page_and_summary_answer_with_the_last_published_state(
    outage, published, snapshot_dir, client, request
):
    live_summary = client.get("/status/api/v2/summary.json").json()
    request.getfixturevalue(outage)()

    page = client.get("/status/")
    assert page.status_code == 200
    html = page.content.decode()
    assert TITLE in html
    assert "Saved copy." in html  # says it is one, and from when
    assert "Last updated" in html
    assert page["Content-Type"] == "text/html; charset=utf-8"
    assert page["Cache-Control"] == "no-cache"
    assert page["X-Firebreak-Snapshot"] == saved_time(snapshot_dir)

    summary = client.get("/status/api/v2/summary.json")
    assert summary.status_code == 200
    assert summary["Content-Type"] == "application/json"
    assert summary["Access-Control-Allow-Origin"] == "*"
    assert summary.json() == live_summary
    assert [i["name"] for i in summary.json()["incidents"]] == [TITLE]


def test_every_public_url_has_its_saved_copy(published, database_down, client):
    database_down()

    incident = client.get(f"/status/incidents/{published.public_id}/")
    assert incident.status_code == 200
    assert "Some card payments fail." in incident.content.decode()
    history = client.get("/status/history/")
    assert history.status_code == 200
    assert TITLE in history.content.decode()
    feed = client.get("/status/history.rss")
    assert feed.status_code == 200
    assert feed["Content-Type"] == "application/rss+xml; charset=utf-8"
    assert TITLE in feed.content.decode()
    head = client.head("/status/api/v2/status.json")
    assert head.status_code == 200
    assert head.content == b""
    assert int(head["Content-Length"]) > 0


def test_an_unknown_public_url_is_not_found_from_the_snapshot_either(
    published, database_down, client
):
    database_down()
    client.raise_request_exception = False

    assert client.get("/status/incidents/nosuchincident/").status_code == 500


def test_any_5xx_of_a_public_page_is_answered_from_the_snapshot(
    published, monkeypatch, snapshot_dir
):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug in a template tag")

    cache.clear()
    forget_process_copies()
    monkeypatch.setattr(pages, "status_page_get", broken)
    page = Client(raise_request_exception=False).get("/status/")

    assert page.status_code == 200
    assert TITLE in page.content.decode()
    assert page["X-Firebreak-Snapshot"] == saved_time(snapshot_dir)


def test_without_a_snapshot_the_error_stands(snapshot_dir, database_down):
    database_down()
    client = Client(raise_request_exception=False)

    response = client.get("/status/")
    assert response.status_code == 500
    assert "X-Firebreak-Snapshot" not in response


def test_the_rest_of_the_portal_is_not_answered_from_the_snapshot(published, database_down):
    database_down()
    client = Client(raise_request_exception=False)

    assert client.get("/healthz").status_code == 500


def test_a_history_page_is_served_with_links_that_work_from_its_url(
    snapshot_dir, make_public_incident, client, database_down
):
    old = make_public_incident(
        "Old outage", status="resolved", started_at=timezone.now() - timedelta(days=200)
    )
    number = next(
        int(path.parent.name)
        for path in snapshot_dir.glob("history/page/*/index.html")
        if "Old outage" in path.read_text()
    )
    database_down()

    page = client.get("/status/history/", {"page": str(number)})
    assert page.status_code == 200
    html = page.content.decode()
    assert "Old outage" in html
    # The copy's file is history/page/<n>/index.html: its relative links resolve from there.
    assert f'<base href="/status/history/page/{number}/">' in html
    assert f'href="../../../incidents/{old.public_id}/"' in html


@pytest.mark.parametrize(
    ("path", "live"), [("history/page/3/", "history/?page=3"), ("history/page/1/", "history/")]
)
def test_the_snapshots_own_history_urls_lead_to_the_live_history(snapshot_dir, client, path, live):
    response = client.get(f"/status/{path}")
    assert response.status_code == 302
    assert response["Location"] == f"/status/{live}"


@pytest.mark.parametrize(
    "path", ["../snapshot.json", "incidents/../../secret/", ".hidden", "api//v2", "a\\b"]
)
def test_paths_outside_the_snapshot_are_never_read(path, published, database_down, client):
    database_down()
    client.raise_request_exception = False
    assert snapshot_file_name(path) is None
    assert "X-Firebreak-Snapshot" not in client.get(f"/status/{path}")
