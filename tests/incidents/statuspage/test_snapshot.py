"""The static snapshot: every public URL as files, equal to what the live endpoints answer."""

import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path, PurePosixPath

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.utils import timezone

import incidents.statuspage.receivers  # noqa: F401 - connects the refresh on every change
from incidents.statuspage.models import PageSettings, PublicIncident
from incidents.statuspage.selectors import page_settings_get
from incidents.statuspage.services import public_update_publish
from incidents.statuspage.snapshot import (
    MANIFEST,
    SnapshotBusy,
    SnapshotError,
    snapshot_lock,
    snapshot_write,
)
from incidents.statuspage.snapshot_tasks import statuspage_snapshot_task
from incidents.statuspage.version import status_version_current
from tests import factories

pytestmark = pytest.mark.usefixtures("fresh_status_version")

ATOM = "{http://www.w3.org/2005/Atom}"
LINK = re.compile(r'\b(?:href|src)="([^"]*)"')


@pytest.fixture
def snapshot_dir(settings, tmp_path):
    """The snapshot on every change goes to a folder of this test."""
    directory = tmp_path / "status-snapshot"
    settings.FIREBREAK_STATUS_SNAPSHOT_DIR = str(directory)
    return directory


@pytest.fixture
def world(snapshot_dir, make_component, make_public_incident):
    """An open incident, an old resolved one (on a later history page), upcoming maintenance."""
    checkout = make_component("Checkout", group="Payments")
    dashboard = make_component("Dashboard")
    now = timezone.now()
    open_incident = make_public_incident(
        "Card payments are failing",
        impact="major",
        components=[checkout],
        updates=[("investigating", "We are looking into failing card payments.")],
    )
    old = make_public_incident(
        "Slow dashboard last spring",
        status="resolved",
        started_at=now - timedelta(days=200),
        resolved_at=now - timedelta(days=200) + timedelta(hours=2),
        components=[dashboard],
        updates=[("investigating", "Dashboards load slowly."), ("resolved", "Fixed.")],
    )
    maintenance = make_public_incident(
        "Database upgrade",
        kind="maintenance",
        status="scheduled",
        impact="none",
        started_at=now + timedelta(days=2),
        scheduled_for=now + timedelta(days=2),
        scheduled_until=now + timedelta(days=2, hours=1),
        updates=[("scheduled", "We will upgrade the database.")],
    )
    return {"open": open_incident, "old": old, "maintenance": maintenance}


def url_of(name: str) -> str:
    """Return the live URL of a snapshot file."""
    return "/status/" + name.removesuffix("index.html")


def feed_entries(xml: bytes) -> list[tuple[str | None, str | None]]:
    """Return the (title, link) of each entry of an RSS or Atom feed."""
    root = ET.fromstring(xml)  # noqa: S314 - our own output
    if root.tag == "rss":
        return [(item.findtext("title"), item.findtext("link")) for item in root.iter("item")]
    return [
        (entry.findtext(f"{ATOM}title"), entry.find(f"{ATOM}link").get("href"))
        for entry in root.iter(f"{ATOM}entry")
    ]


def html_files(directory: Path) -> list[Path]:
    return sorted(directory.rglob("*.html"))


def test_the_json_equals_what_the_live_endpoints_answer(world, client, tmp_path):
    directory = tmp_path / "export"
    written = snapshot_write(directory=directory)
    cache.clear()  # the live answers below are rendered again, not the snapshot's renderings

    json_files = [name for name in written if name.startswith("api/")]
    assert {
        "api/v2/summary.json",
        "api/v2/status.json",
        "api/v2/components.json",
        "api/v2/incidents.json",
        "api/v2/incidents/unresolved.json",
        "api/v2/scheduled-maintenances.json",
        "api/v2/scheduled-maintenances/upcoming.json",
        "api/v2/scheduled-maintenances/active.json",
    } <= set(json_files)
    for name in json_files:
        live = client.get(url_of(name))
        assert live.status_code == 200, name
        assert json.loads((directory / name).read_bytes()) == live.json(), name
    summary = json.loads((directory / "api/v2/summary.json").read_bytes())
    assert [i["name"] for i in summary["incidents"]] == ["Card payments are failing"]
    assert [m["name"] for m in summary["scheduled_maintenances"]] == ["Database upgrade"]


def test_the_feeds_hold_the_same_entries_as_the_live_feeds(world, client, tmp_path):
    directory = tmp_path / "export"
    snapshot_write(directory=directory)
    cache.clear()

    for name in ("history.rss", "history.atom"):
        live = client.get(f"/status/{name}")
        assert live.status_code == 200
        saved = feed_entries((directory / name).read_bytes())
        assert saved == feed_entries(live.content)
        assert "Slow dashboard last spring: Resolved" in [title for title, _ in saved]


def test_every_page_is_there_with_its_incidents_and_says_when_it_was_updated(world, tmp_path):
    directory = tmp_path / "export"
    snapshot_write(directory=directory)

    index = (directory / "index.html").read_text()
    assert "Card payments are failing" in index
    assert "Database upgrade" in index
    history = "".join(p.read_text() for p in directory.joinpath("history").rglob("index.html"))
    assert "Slow dashboard last spring" in history
    assert (directory / "history/page/2/index.html").exists()  # 200 days back: a later page
    for record in world.values():
        page = (directory / f"incidents/{record.public_id}/index.html").read_text()
        assert record.name in page
        assert record.updates.first().body in page
    for page in html_files(directory):
        assert "Last updated" in page.read_text(), page


def test_links_between_the_copied_pages_resolve_inside_the_directory(world, tmp_path):
    directory = tmp_path / "export"
    snapshot_write(directory=directory)

    reached = set()
    for page in html_files(directory):
        for link in LINK.findall(page.read_text()):
            if link.startswith(("http://", "https://", "#", "data:", "mailto:")):
                continue
            assert not link.startswith("/"), f"{page}: {link} needs the portal"
            target = (page.parent / link.split("#")[0]).resolve()
            if target.is_dir():
                target = target / "index.html"
            assert target.is_file(), f"{page.relative_to(directory)}: {link} leads nowhere"
            reached.add(PurePosixPath(target.relative_to(directory)).as_posix())
    assert f"incidents/{world['old'].public_id}/index.html" in reached
    assert "history/page/2/index.html" in reached
    assert "history.rss" in reached


def test_no_internal_data_reaches_the_snapshot(snapshot_dir, alice, payments, tmp_path):
    incident = factories.declared(
        alice, "P1", services=[payments], title="SECRET-MARKER db primary OOM"
    )
    public_update_publish(
        incident=incident,
        actor=alice,
        status="investigating",
        body="Some card payments fail.",
        name="Card payments are failing",
    )
    directory = tmp_path / "export"
    snapshot_write(directory=directory)

    files = [p for p in directory.rglob("*") if p.is_file()]
    assert any("Card payments are failing" in p.read_text() for p in files)
    for path in files:
        text = path.read_text()
        for internal in ("SECRET-MARKER", incident.reference, alice.username):
            assert internal not in text, f"{internal} in {path.relative_to(directory)}"


def test_a_publish_refreshes_the_snapshot_directory(
    snapshot_dir, alice, payments, django_capture_on_commit_callbacks
):
    incident = factories.declared(alice, "P1", services=[payments])
    with django_capture_on_commit_callbacks(execute=True):
        public_update_publish(
            incident=incident,
            actor=alice,
            status="investigating",
            body="Some card payments fail.",
            name="Card payments are failing",
        )

    assert "Card payments are failing" in (snapshot_dir / "index.html").read_text()
    manifest = json.loads((snapshot_dir / MANIFEST).read_text())
    assert manifest["status_version"] == status_version_current().number

    with django_capture_on_commit_callbacks(execute=True):
        public_update_publish(
            incident=incident, actor=alice, status="resolved", body="Payments work again."
        )
    summary = json.loads((snapshot_dir / "api/v2/summary.json").read_text())
    assert summary["incidents"] == []
    assert summary["status"]["indicator"] == "none"


def test_the_task_is_safe_to_run_twice(world, snapshot_dir, bump_status):
    first = json.loads((snapshot_dir / MANIFEST).read_text())  # written by the last change
    assert statuspage_snapshot_task().startswith("skipped")
    assert json.loads((snapshot_dir / MANIFEST).read_text()) == first

    bump_status()  # a change: the receiver writes it, the task finds nothing left to do
    second = json.loads((snapshot_dir / MANIFEST).read_text())
    assert second["status_version"] == first["status_version"] + 1
    assert statuspage_snapshot_task().startswith("skipped")
    leftovers = [p.name for p in snapshot_dir.parent.iterdir() if ".new-" in p.name]
    assert leftovers == []


def test_the_periodic_run_renders_every_page_again_once_a_day(world, snapshot_dir, bump_status):
    bump_status()  # the change's refresh keeps the old incident's page
    manifest = json.loads((snapshot_dir / MANIFEST).read_text())
    assert manifest["incident_pages_kept"] == 1
    assert statuspage_snapshot_task(periodic=True).startswith("skipped")  # rendered today

    manifest["full_render_at"] = (timezone.now() - timedelta(days=2)).isoformat()
    (snapshot_dir / MANIFEST).write_text(json.dumps(manifest))
    assert statuspage_snapshot_task().startswith("skipped")  # after a change: still current
    assert statuspage_snapshot_task(periodic=True).startswith("wrote")
    assert json.loads((snapshot_dir / MANIFEST).read_text())["incident_pages_kept"] == 0


def test_a_second_writer_waits_for_the_first_and_never_mixes_in(world, tmp_path):
    directory = tmp_path / "export"
    snapshot_write(directory=directory)
    before = {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()}

    with snapshot_lock(directory.resolve()), pytest.raises(SnapshotBusy):
        snapshot_write(directory=directory, lock_wait=0.3)

    assert {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".export.new-")] == []
    snapshot_write(directory=directory)  # once the lock is free
    assert (directory / MANIFEST).exists()


def test_a_refresh_keeps_the_pages_of_old_incidents_that_did_not_change(
    world, snapshot_dir, make_public_incident, bump_status
):
    older = make_public_incident(
        "Queue delays two winters ago",
        status="resolved",
        started_at=timezone.now() - timedelta(days=300),
        updates=[("resolved", "Queues are back to normal.")],
    )  # its change wrote the snapshot
    older_page = snapshot_dir / f"incidents/{older.public_id}/index.html"
    old_page = snapshot_dir / f"incidents/{world['old'].public_id}/index.html"
    before = older_page.stat().st_ino

    # A rename that bypasses the model's save (no updated_at): the page still follows it.
    PublicIncident.objects.filter(pk=world["old"].pk).update(name="Slow dashboards, resolved")
    bump_status()

    assert older_page.stat().st_ino == before  # the same file, kept
    assert "Queue delays two winters ago" in older_page.read_text()
    assert "Slow dashboards, resolved" in old_page.read_text()
    assert json.loads((snapshot_dir / MANIFEST).read_text())["incident_pages_kept"] == 1

    # A new page name shows on every page: all are rendered again.
    PageSettings.objects.update_or_create(pk=page_settings_get().pk, defaults={"name": "Acme"})
    bump_status()
    assert older_page.stat().st_ino != before
    assert "Acme" in older_page.read_text()
    assert json.loads((snapshot_dir / MANIFEST).read_text())["incident_pages_kept"] == 0


def test_the_export_command_writes_and_lists_the_files(world, tmp_path):
    out = io.StringIO()
    call_command("statuspage_export", str(tmp_path / "site"), stdout=out)

    printed = out.getvalue()
    assert "index.html" in printed
    assert "api/v2/summary.json" in printed
    assert "incidents/… (3 pages)" in printed
    assert "Wrote" in printed
    assert (tmp_path / "site/index.html").exists()


def test_the_export_refuses_a_directory_with_other_files(world, tmp_path):
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")

    with pytest.raises(CommandError, match="holds other files"):
        call_command("statuspage_export", str(foreign), stdout=io.StringIO())
    with pytest.raises(SnapshotError):
        snapshot_write(directory=foreign)
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]
