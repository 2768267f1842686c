"""Public responses come from the shared cache under the status version, with 304s."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.http import http_date

from incidents.statuspage import publiccache
from incidents.statuspage.models import PublicIncident

pytestmark = pytest.mark.usefixtures("fresh_status_version")


@pytest.fixture
def incident(make_component, make_public_incident):
    api = make_component("API")
    return make_public_incident(
        "Slow API", components=[api], updates=[("investigating", "We are looking into it.")]
    )


def public_urls(incident: PublicIncident) -> list[str]:
    names = [
        "page",
        "history",
        "feed-rss",
        "feed-atom",
        "api-summary",
        "api-status",
        "api-components",
        "api-incidents",
        "api-incidents-unresolved",
        "api-maintenances",
        "api-maintenances-upcoming",
        "api-maintenances-active",
    ]
    return [reverse(f"status:{name}") for name in names] + [
        reverse("status:incident", args=[incident.public_id])
    ]


def test_every_public_url_answers_conditional_requests_without_a_query(
    client, incident, django_assert_num_queries
):
    for url in public_urls(incident):
        first = client.get(url)
        assert first.status_code == 200, url
        assert first["ETag"].startswith('"') and first["ETag"].endswith('"')
        assert first["Last-Modified"]
        assert "public" in first["Cache-Control"]
        assert "max-age=15" in first["Cache-Control"]
        with django_assert_num_queries(0):
            again = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
        assert again.status_code == 304, url
        assert again["ETag"] == first["ETag"]
        assert again.content == b""
        with django_assert_num_queries(0):
            cached = client.get(url)
        assert cached.status_code == 200
        assert cached.content == first.content
        assert cached["Content-Type"] == first["Content-Type"]


def test_publish_makes_the_next_request_render_the_new_state(
    client, incident, make_public_incident, bump_status
):
    url = reverse("status:api-summary")
    before = client.get(url)
    assert [i["name"] for i in before.json()["incidents"]] == ["Slow API"]
    assert client.get(url, HTTP_IF_NONE_MATCH=before["ETag"]).status_code == 304

    # A change that was not published (no version bump) stays invisible: the cache answers.
    PublicIncident.objects.create(
        name="Login errors", status="investigating", impact="major", started_at=timezone.now()
    )
    assert client.get(url, HTTP_IF_NONE_MATCH=before["ETag"]).status_code == 304
    assert client.get(url).content == before.content

    bump_status()

    after = client.get(url, HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200
    assert after["ETag"] != before["ETag"]
    assert {i["name"] for i in after.json()["incidents"]} == {"Slow API", "Login errors"}
    assert after.json()["status"]["indicator"] == "major"
    page = client.get(reverse("status:page"))
    assert "Login errors" in page.content.decode()


def test_if_modified_since(client, incident):
    url = reverse("status:page")
    first = client.get(url)
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 304
    earlier = http_date((timezone.now() - timedelta(days=1)).timestamp())
    assert client.get(url, HTTP_IF_MODIFIED_SINCE=earlier).status_code == 200


def test_unknown_incident_is_404_and_not_cached(client, incident):
    url = reverse("status:incident", args=["doesnotexist"])
    response = client.get(url)
    assert response.status_code == 404
    assert "ETag" not in response


def test_only_the_query_parameters_a_page_reads_make_a_new_entry(client, incident):
    history = reverse("status:history")
    plain = client.get(history)["ETag"]
    assert client.get(history, {"utm_source": "mail"})["ETag"] == plain
    assert client.get(history, {"page": "1"})["ETag"] != plain
    summary = reverse("status:api-summary")
    assert client.get(summary, {"x": "1"})["ETag"] == client.get(summary)["ETag"]


def test_time_dependent_pages_render_again_in_the_next_time_slot(client, incident, monkeypatch):
    page_url, json_url = reverse("status:page"), reverse("status:api-summary")
    now = timezone.now().timestamp()
    monkeypatch.setattr(publiccache, "_now_timestamp", lambda: now)
    page_etag, json_etag = client.get(page_url)["ETag"], client.get(json_url)["ETag"]

    # The uptime bars roll over to a new day without anything being published.
    monkeypatch.setattr(publiccache, "_now_timestamp", lambda: now + 15 * 60)
    assert client.get(page_url, HTTP_IF_NONE_MATCH=page_etag).status_code == 200
    assert client.get(json_url, HTTP_IF_NONE_MATCH=json_etag).status_code == 304


def test_responses_do_not_depend_on_who_asks(client, incident, alice):
    """The first rendering is shared with everyone: it must not carry the viewer's data."""
    from portal.models import UserProfile

    UserProfile.objects.update_or_create(user=alice, defaults={"time_zone": "Asia/Tokyo"})
    client.force_login(alice)
    signed_in = client.get(reverse("status:page")).content.decode()
    assert "alice" not in signed_in.lower()
    assert "csrfmiddlewaretoken" not in signed_in
    assert " UTC</time>" in signed_in  # the page's time zone, not the viewer's
    assert "JST" not in signed_in
    client.logout()
    assert client.get(reverse("status:page")).content.decode() == signed_in


def test_a_publish_in_another_process_shows_here_within_a_second(client, incident, monkeypatch):
    from django.core.cache import cache
    from django.db.models import F

    from incidents.statuspage import version
    from incidents.statuspage.models import StatusVersion

    clock = [version.time.monotonic()]
    monkeypatch.setattr(version.time, "monotonic", lambda: clock[0])
    before = client.get(reverse("status:api-status"))["ETag"]

    # Another web process published: it bumped the row and the shared cache.
    StatusVersion.objects.filter(pk=1).update(version=F("version") + 1, changed_at=timezone.now())
    row = StatusVersion.objects.get(pk=1)
    cache.set(version.CACHE_KEY, (row.version, row.changed_at))

    clock[0] += 0.5
    assert client.get(reverse("status:api-status"))["ETag"] == before  # this process's copy
    clock[0] += version.LOCAL_SECONDS
    assert client.get(reverse("status:api-status"))["ETag"] != before


def test_a_change_commits_and_shows_here_when_the_cache_cannot_be_written(
    db, monkeypatch, django_capture_on_commit_callbacks
):
    from django.core.cache import cache
    from django.db import transaction

    from incidents.statuspage import version

    before = version.status_version_current().number

    def hung(*args, **kwargs):
        raise TimeoutError("Timeout reading from socket")

    monkeypatch.setattr(cache, "set", hung)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        version.status_version_bump()  # no error: the change is committed
    assert version.status_version_current().number == before + 1
