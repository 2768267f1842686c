"""RSS and Atom history feeds: one entry per public update."""

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from incidents.statuspage.models import PublicUpdate

pytestmark = pytest.mark.usefixtures("fresh_status_version")

ATOM = "{http://www.w3.org/2005/Atom}"


def parse(content: bytes) -> ET.Element:
    return ET.fromstring(content)  # noqa: S314 - our own feed, under test


@pytest.fixture
def incidents(make_component, make_public_incident):
    api = make_component("API")
    now = timezone.now()
    slow = make_public_incident(
        "Slow API",
        status="resolved",
        started_at=now - timedelta(days=2),
        components=[api],
        updates=[("investigating", "Looking into it."), ("resolved", "Fixed.")],
    )
    upgrade = make_public_incident(
        "Database upgrade",
        kind="maintenance",
        status="scheduled",
        impact="none",
        started_at=now - timedelta(hours=1),
        scheduled_for=now + timedelta(days=1),
        updates=[("scheduled", "Upgrading the database tomorrow.")],
    )
    return slow, upgrade


def test_rss_has_one_item_per_update_newest_first(client, incidents):
    _slow, _upgrade = incidents
    response = client.get(reverse("status:feed-rss"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/rss+xml")
    channel = parse(response.content).find("channel")
    assert channel.findtext("link") == settings.FIREBREAK_BASE_URL + "/status/"
    assert channel.find(f"{ATOM}link").get("href") == (
        settings.FIREBREAK_BASE_URL + "/status/history.rss"
    )
    items = channel.findall("item")
    assert [i.findtext("title") for i in items] == [
        "Database upgrade: Scheduled",
        "Slow API: Resolved",
        "Slow API: Investigating",
    ]
    updates = list(PublicUpdate.objects.order_by("-display_at"))
    for item, update in zip(items, updates, strict=True):
        link = item.findtext("link")
        incident = update.public_incident
        assert link == (
            f"{settings.FIREBREAK_BASE_URL}/status/incidents/{incident.public_id}/"
            f"#update-{update.public_id}"
        )
        assert item.findtext("guid") == link
        published = parsedate_to_datetime(item.findtext("pubDate"))
        assert published == update.display_at.replace(microsecond=0)
        assert item.findtext("description") == update.body
    assert len({i.findtext("guid") for i in items}) == 3
    # The entry's link opens the incident page, which has the update's anchor.
    page = client.get(
        items[1].findtext("link").split("#")[0].removeprefix(settings.FIREBREAK_BASE_URL)
    )
    assert f'id="update-{updates[1].public_id}"' in page.content.decode()


def test_atom_entries(client, incidents):
    response = client.get(reverse("status:feed-atom"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/atom+xml")
    feed = parse(response.content)
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 3
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(set(ids)) == 3
    for entry in entries:
        datetime.fromisoformat(entry.findtext(f"{ATOM}published"))
        assert entry.find(f"{ATOM}link").get("href").startswith(settings.FIREBREAK_BASE_URL)
    assert entries[0].findtext(f"{ATOM}title") == "Database upgrade: Scheduled"


def test_feed_keeps_the_last_50_updates(client, make_public_incident, bump_status):
    record = make_public_incident("Long incident")
    start = timezone.now() - timedelta(days=3)
    PublicUpdate.objects.bulk_create(
        PublicUpdate(
            public_incident=record,
            status="investigating",
            body=f"Update {n}",
            display_at=start + timedelta(minutes=n),
        )
        for n in range(60)
    )
    bump_status()
    channel = parse(client.get(reverse("status:feed-rss")).content).find("channel")
    items = channel.findall("item")
    assert len(items) == 50
    assert items[0].findtext("description") == "Update 59"
    assert items[-1].findtext("description") == "Update 10"


def test_update_text_is_escaped_for_feed_readers(client, make_public_incident):
    make_public_incident(
        "Odd text", updates=[("investigating", "Errors from <b>checkout</b> & cart.\nMore soon.")]
    )
    channel = parse(client.get(reverse("status:feed-rss")).content).find("channel")
    description = channel.find("item").findtext("description")
    # Readers render the description as HTML: the text must reach them as text.
    assert description == "Errors from &lt;b&gt;checkout&lt;/b&gt; &amp; cart.<br>More soon."
