"""The public pages: /status/, its history and one incident, for anyone, without JavaScript."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from incidents.statuspage.models import (
    AffectedComponent,
    Component,
    ComponentStatusChange,
    PublicIncident,
    PublicUpdate,
)
from incidents.statuspage.selectors import page_settings_get

pytestmark = pytest.mark.usefixtures("fresh_status_version")


def html_of(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    assert response["Content-Type"].startswith("text/html")
    return response.content.decode()


def assert_standalone(html: str) -> None:
    """No script, no asset from elsewhere, and sized for phones."""
    assert "<script" not in html.lower()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert 'rel="stylesheet"' not in html
    assert not re.search(r'\ssrc="(https?:)?//', html)
    assert "@media" in html


def component_item(html: str, component: Component) -> str:
    match = re.search(rf'<li id="component-{component.public_id}">(.*?)</li>\n', html, re.S)
    assert match, f"{component.name} is not on the page"
    return match.group(1)


@pytest.fixture
def platform(make_component):
    api = make_component("API", group="Platform", position=1, description="REST and GraphQL")
    login = make_component("Login", group="Platform", position=2)
    website = make_component("Website", position=5)
    return api, login, website


def test_quiet_page(client, platform):
    _api, _login, _website = platform
    html = html_of(client, reverse("status:page"))
    assert_standalone(html)
    assert "All Systems Operational" in html
    assert "Active incidents" not in html
    assert "Platform" in html
    assert "REST and GraphQL" in html
    for component in platform:
        assert "Operational" in component_item(html, component)
    # Groups and components in position order.
    assert html.index("Platform") < html.index(">API<") < html.index(">Login<")
    assert html.index(">Login<") < html.index(">Website<")
    assert "Last updated <time" in html


def test_status_is_text_as_well_as_colour(client, platform, set_component_status):
    api, login, website = platform
    set_component_status(api, "major_outage")
    set_component_status(login, "degraded_performance")
    set_component_status(website, "under_maintenance")
    html = html_of(client, reverse("status:page"))
    assert "Major outage" in component_item(html, api)
    assert "s-major_outage" in component_item(html, api)
    assert "Degraded performance" in component_item(html, login)
    assert "Under maintenance" in component_item(html, website)
    assert "Major System Outage" in html


def test_hidden_components(client, make_component, set_component_status):
    make_component("Visible")
    make_component("Internal batch", showcase=False)
    quiet = make_component("Legacy export", only_show_if_degraded=True)
    html = html_of(client, reverse("status:page"))
    assert "Visible" in html
    assert "Internal batch" not in html
    assert "Legacy export" not in html

    set_component_status(quiet, "partial_outage")
    html = html_of(client, reverse("status:page"))
    assert "Partial outage" in component_item(html, quiet)


def test_active_incident_with_its_updates(client, platform, make_public_incident):
    api, _login, _website = platform
    record = make_public_incident(
        "Errors on the API",
        status="identified",
        impact="major",
        components=[api],
        updates=[
            (
                "investigating",
                "We are investigating errors.",
                [(api, "operational", "partial_outage")],
            ),
            ("identified", "A bad deploy; rolling back."),
        ],
    )
    html = html_of(client, reverse("status:page"))
    assert "Active incidents" in html
    assert f'href="/status/incidents/{record.public_id}/"' in html
    assert "Partial System Outage" in html
    section = html[html.index("Active incidents") : html.index("components-heading")]
    assert section.index("A bad deploy; rolling back.") < section.index(
        "We are investigating errors."
    )
    assert "API: partial outage" in section
    assert "impact: major" in section


def test_maintenance_upcoming_and_in_progress(client, platform, make_public_incident):
    _api, _login, _website = platform
    now = timezone.now()
    make_public_incident(
        "Database upgrade",
        kind="maintenance",
        status="scheduled",
        impact="none",
        started_at=now + timedelta(days=1),
        scheduled_for=now + timedelta(days=1),
        scheduled_until=now + timedelta(days=1, hours=2),
        updates=[("scheduled", "We will upgrade the database.")],
    )
    make_public_incident(
        "Network work",
        kind="maintenance",
        status="in_progress",
        impact="none",
        scheduled_for=now - timedelta(minutes=5),
        updates=[("in_progress", "Under way.")],
    )
    make_public_incident("Done long ago", kind="maintenance", status="completed", impact="none")
    html = html_of(client, reverse("status:page"))
    upcoming = html[html.index("Scheduled maintenance") :]
    assert "Database upgrade" in upcoming
    assert "We will upgrade the database." in upcoming
    in_progress = html[html.index("Maintenance in progress") : html.index("components-heading")]
    assert "Network work" in in_progress
    assert "Done long ago" not in html
    assert "Service Under Maintenance" in html


def test_page_name_logo_and_links_come_from_the_settings(client):
    page = page_settings_get()
    page.name = "Acme Cloud"
    page.logo_url = "/static/acme.svg"
    page.home_url = "https://acme.example/"
    page.support_url = "https://acme.example/support"
    page.save()
    html = html_of(client, reverse("status:page"))
    assert "<title>Acme Cloud</title>" in html
    assert '<img src="/static/acme.svg" alt="Acme Cloud">' in html
    assert 'href="https://acme.example/"' in html
    assert 'href="https://acme.example/support"' in html
    assert 'href="/status/history.rss"' in html


def test_footer_links_to_subscribe_when_subscriptions_exist(client):
    html = html_of(client, reverse("status:page"))
    try:
        subscribe = reverse("status:subscribe")
    except NoReverseMatch:
        assert "Subscribe to updates" not in html
    else:
        assert f'href="{subscribe}"' in html


def test_incident_page(client, platform, make_public_incident):
    api, login, _website = platform
    record = make_public_incident(
        "Errors on the API",
        status="resolved",
        impact="critical",
        components=[api, login],
        resolved_at=timezone.now(),
        updates=[
            ("investigating", "Looking.", [(api, "operational", "major_outage")]),
            ("resolved", "All good again.", [(api, "major_outage", "operational")]),
        ],
    )
    html = html_of(client, reverse("status:incident", args=[record.public_id]))
    assert_standalone(html)
    assert "<title>Errors on the API · Firebreak status</title>" in html
    assert "<h1>Errors on the API</h1>" in html
    assert "Critical" in html
    assert "API, Login" in html
    for update in record.updates.all():
        assert f'id="update-{update.public_id}"' in html
    assert html.index("All good again.") < html.index("Looking.")
    assert "Resolved" in html


def test_maintenance_page(client, make_public_incident):
    now = timezone.now()
    record = make_public_incident(
        "Database upgrade",
        kind="maintenance",
        status="scheduled",
        scheduled_for=now + timedelta(days=1),
        scheduled_until=now + timedelta(days=1, hours=2),
    )
    html = html_of(client, reverse("status:incident", args=[record.public_id]))
    assert "Scheduled maintenance" in html
    assert "Scheduled for" in html
    assert "No updates yet." in html


def test_unknown_incident_is_not_found(client):
    assert client.get(reverse("status:incident", args=["abcdefghijkl"])).status_code == 404


def months_ago(count: int):
    """Return a moment in the middle of the month `count` months before this one."""
    today = timezone.localdate()
    year, month = divmod(today.year * 12 + today.month - 1 - count, 12)
    return timezone.make_aware(timezone.datetime(year, month + 1, 15, 12))


def test_history_by_month_with_pages(client, make_public_incident):
    make_public_incident("Blip this month", status="resolved", started_at=months_ago(0))
    make_public_incident("Old outage", status="resolved", started_at=months_ago(4))
    make_public_incident(
        "Upgrade next week",
        kind="maintenance",
        status="scheduled",
        started_at=timezone.now() + timedelta(days=7),
    )
    first = html_of(client, reverse("status:history"))
    assert_standalone(first)
    assert "Blip this month" in first
    assert "Old outage" not in first
    assert "Upgrade next week" not in first  # not history yet
    assert first.count("No incidents reported.") == 2
    assert months_ago(1).strftime("%B %Y") in first
    assert 'href="?page=2"' in first
    assert "Newer" not in first

    second = html_of(client, reverse("status:history") + "?page=2")
    assert "Old outage" in second
    assert months_ago(4).strftime("%B %Y") in second
    assert 'href="?page=1"' in second
    assert "?page=3" not in second

    assert client.get(reverse("status:history") + "?page=3").status_code == 404
    assert client.get(reverse("status:history") + "?page=zero").status_code == 404
    assert client.get(reverse("status:history") + "?page=99999999").status_code == 404


def test_history_when_nothing_happened(client):
    html = html_of(client, reverse("status:history"))
    assert html.count("No incidents reported.") == 3
    assert "?page=2" not in html


def _current_state(components, make_public_incident, set_component_status):
    api, _login, website = components
    set_component_status(api, "partial_outage")
    make_public_incident(
        "Errors on the API",
        impact="major",
        components=[api],
        updates=[("investigating", "Looking.", [(api, "operational", "partial_outage")])],
    )
    make_public_incident(
        "Network work",
        kind="maintenance",
        status="in_progress",
        impact="none",
        scheduled_for=timezone.now(),
        components=[website],
        updates=[("in_progress", "Under way.", [(website, "operational", "under_maintenance")])],
    )


def _add_history(components, count: int) -> None:
    """Add `count` resolved incidents over two years, each with updates and status changes."""
    now = timezone.now()
    records = PublicIncident.objects.bulk_create(
        PublicIncident(
            name=f"Past incident {n}",
            status="resolved",
            impact="minor",
            started_at=now - timedelta(hours=53 * n + 1),
            resolved_at=now - timedelta(hours=53 * n),
        )
        for n in range(count)
    )
    updates = PublicUpdate.objects.bulk_create(
        PublicUpdate(
            public_incident=record,
            status=status,
            body=f"{status} text",
            display_at=record.started_at + timedelta(minutes=i),
        )
        for record in records
        for i, status in enumerate(["investigating", "resolved"])
    )
    for record in records:
        record.components.set(components[:2])
    AffectedComponent.objects.bulk_create(
        AffectedComponent(
            update=update,
            component=component,
            old_status="operational",
            new_status="degraded_performance",
        )
        for update in updates[::2]
        for component in components[:2]
    )
    ComponentStatusChange.objects.bulk_create(
        ComponentStatusChange(
            component=component,
            old_status=old,
            new_status=new,
            changed_at=record.started_at + timedelta(minutes=offset),
        )
        for record in records
        for component in components
        for old, new, offset in [
            ("operational", "degraded_performance", 0),
            ("degraded_performance", "operational", 60),
        ]
    )


@pytest.mark.parametrize("url_name", ["page", "api-summary"])
def test_queries_do_not_grow_with_history(
    client,
    platform,
    make_public_incident,
    set_component_status,
    bump_status,
    django_assert_max_num_queries,
    url_name,
):
    url = reverse(f"status:{url_name}")
    _current_state(platform, make_public_incident, set_component_status)
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200

    _add_history(platform, 300)
    bump_status()
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(url)
    assert response.status_code == 200
    assert len(small.captured_queries) <= 14
    if url_name == "api-summary":
        assert [i["name"] for i in response.json()["incidents"]] == ["Errors on the API"]
    else:
        assert "Past incident 1" not in response.content.decode()


@pytest.mark.parametrize("url_name", ["history", "feed-rss", "api-incidents"])
def test_other_public_urls_do_not_grow_with_history(
    client, platform, make_public_incident, set_component_status, bump_status, url_name
):
    url = reverse(f"status:{url_name}")
    _current_state(platform, make_public_incident, set_component_status)
    _add_history(platform, 5)
    bump_status()
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    _add_history(platform, 200)
    bump_status()
    with CaptureQueriesContext(connection) as large:
        assert client.get(url).status_code == 200
    assert len(large.captured_queries) == len(small.captured_queries)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_page_fits_a_phone_screen(browser_page, platform, make_public_incident):
    api, _login, _website = platform
    make_public_incident(
        "Errors on the API for a subset of customers in several regions",
        impact="major",
        components=[api],
        updates=[("investigating", "We are investigating elevated error rates. " * 5)],
    )
    page = browser_page
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(page.base_url + reverse("status:page"))
    assert page.get_by_role("heading", name="Partial System Outage").is_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375
    page.screenshot(path="/tmp/status-phone.png", full_page=True)  # noqa: S108 - for people
