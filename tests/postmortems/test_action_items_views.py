"""Action item pages: my action items, an item's page, adding one, the quick status change."""

from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from postmortems.models import ActionItem
from postmortems.services import action_item_create, action_item_set_status

pytestmark = pytest.mark.django_db

MINE = "/postmortems/action-items/mine/"


@pytest.fixture
def incident(alice, incident_of):
    return incident_of(alice, title="Checkout times out")


@pytest.fixture
def postmortem(incident, postmortem_of):
    return postmortem_of(incident)


def add(incident, postmortem, actor, title, *, owner=None, due_in=None, **fields):
    due = timezone.localdate() + timedelta(days=due_in) if due_in is not None else None
    return action_item_create(
        incident=incident,
        postmortem=postmortem,
        title=title,
        owner=owner,
        due_date=due,
        actor=actor,
        **fields,
    )


def make_overdue(item, days=2):
    ActionItem.objects.filter(pk=item.pk).update(due_date=timezone.localdate() - timedelta(days))


def test_the_url_names_are_stable():
    assert reverse("postmortems:my_action_items") == MINE
    assert reverse("postmortems:action_item_edit", kwargs={"pk": 7}) == (
        "/postmortems/action-items/7/"
    )


def test_my_items_come_overdue_first_then_by_due_date_then_finished(
    client, incident, postmortem, alice, bob
):
    later = add(incident, postmortem, alice, "Later item", owner=bob, due_in=20)
    soon = add(incident, postmortem, alice, "Soon item", owner=bob, due_in=3)
    undated = add(incident, postmortem, alice, "Undated item", owner=bob)
    late = add(incident, postmortem, alice, "Late item", owner=bob, due_in=1)
    make_overdue(late)
    finished = add(incident, postmortem, alice, "Finished item", owner=bob, due_in=5)
    action_item_set_status(item=finished, status="done", actor=bob)
    add(incident, postmortem, alice, "Alice's own item", owner=alice, due_in=2)

    client.force_login(bob)
    response = client.get(MINE)
    assert response.status_code == 200
    mine = response.context["mine"]
    assert [i.title for i in mine.unfinished] == [
        late.title,
        soon.title,
        later.title,
        undated.title,
    ]
    assert [i.title for i in mine.recently_finished] == [finished.title]
    page = response.content.decode()
    assert "Alice&#x27;s own item" not in page and "Alice's own item" not in page
    # Overdue is said in words, on the overdue row only.
    late_row = page[page.index("Late item") : page.index("Soon item")]
    assert "Overdue" in late_row
    assert "1 overdue" in page
    # Finished lately comes after the open ones.
    assert page.index("Undated item") < page.index("Finished item")


def test_the_owner_changes_status_inline_and_comes_back(client, incident, postmortem, alice, bob):
    item = add(incident, postmortem, alice, "Add a dashboard", owner=bob, due_in=3)
    client.force_login(bob)
    url = reverse("postmortems:action_item_status", kwargs={"pk": item.pk})
    response = client.post(url, {"status": "done", "next": MINE})
    assert response.status_code == 302
    assert response["Location"] == MINE
    item.refresh_from_db()
    assert item.status == "done" and item.completed_at is not None
    page = client.get(MINE).content.decode()
    assert "is done" in page


def test_a_status_change_never_redirects_off_site(client, incident, postmortem, alice, bob):
    item = add(incident, postmortem, alice, "Add a dashboard", owner=bob)
    client.force_login(bob)
    url = reverse("postmortems:action_item_status", kwargs={"pk": item.pk})
    response = client.post(url, {"status": "in_progress", "next": "https://evil.example/"})
    assert response["Location"] == reverse("postmortems:action_item_edit", kwargs={"pk": item.pk})


def test_a_viewer_cannot_change_status(client, incident, postmortem, alice, bob, viewer_user):
    item = add(incident, postmortem, alice, "Add a dashboard", owner=bob)
    client.force_login(viewer_user)
    url = reverse("postmortems:action_item_status", kwargs={"pk": item.pk})
    response = client.post(url, {"status": "done"})
    assert response.status_code == 403
    item.refresh_from_db()
    assert item.status == "open"
    # ...but may read the item, without an edit form.
    page = client.get(reverse("postmortems:action_item_edit", kwargs={"pk": item.pk}))
    assert page.status_code == 200
    assert page.context["form"] is None
    assert 'name="status"' not in page.content.decode()


def test_an_outsider_is_refused_and_anonymous_goes_to_login(client, outsider):
    client.force_login(outsider)
    assert client.get(MINE).status_code == 403
    client.logout()
    response = client.get(MINE)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_item_page_renders_markdown_safely(client, incident, postmortem, alice, bob):
    item = add(
        incident,
        postmortem,
        alice,
        "Harden the <b>parser</b>",
        owner=bob,
        description="**Bold** <script>alert(1)</script> [x](javascript:alert(2))",
        tracker_url="https://linear.app/acme/issue/PAY-1",
    )
    client.force_login(bob)
    page = client.get(reverse("postmortems:action_item_edit", kwargs={"pk": item.pk}))
    html = page.content.decode()
    assert "<strong>Bold</strong>" in html
    assert "<script>alert(1)" not in html
    assert 'href="javascript' not in html.lower()
    assert "Harden the &lt;b&gt;parser&lt;/b&gt;" in html
    assert 'href="https://linear.app/acme/issue/PAY-1"' in html


def test_the_owner_edits_the_item(client, incident, postmortem, alice, bob, carol):
    item = add(incident, postmortem, alice, "Add a dashboard", owner=bob, due_in=3)
    client.force_login(bob)
    url = reverse("postmortems:action_item_edit", kwargs={"pk": item.pk})
    due = timezone.localdate() + timedelta(days=10)
    response = client.post(
        url,
        {
            "title": "Add a latency dashboard",
            "owner": carol.pk,
            "due_date": due.isoformat(),
            "priority": "P2",
            "tracker_url": "",
            "description": "Line one\r\nLine two",
        },
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.title, item.owner, item.due_date, item.priority) == (
        "Add a latency dashboard",
        carol,
        due,
        "P2",
    )
    assert item.description == "Line one\nLine two"


def test_a_bad_edit_says_why_and_changes_nothing(client, incident, postmortem, alice, bob):
    item = add(incident, postmortem, alice, "Add a dashboard", owner=bob, due_in=3)
    client.force_login(bob)
    url = reverse("postmortems:action_item_edit", kwargs={"pk": item.pk})
    past = timezone.localdate() - timedelta(days=4)
    response = client.post(
        url,
        {"title": "Renamed", "owner": bob.pk, "due_date": past.isoformat(), "priority": "P1"},
    )
    assert response.status_code == 400
    assert "in the past" in response.content.decode()
    item.refresh_from_db()
    assert (item.title, item.priority) == ("Add a dashboard", "P3")


def test_adding_from_the_postmortem_goes_back_to_it(client, incident, postmortem, alice, bob):
    client.force_login(alice)
    back = f"/incidents/{incident.pk}/#action-items"
    response = client.post(
        reverse("postmortems:action_item_new"),
        {
            "postmortem": postmortem.pk,
            "next": back,
            "title": "Load-test checkout",
            "owner": bob.pk,
            "due_date": (timezone.localdate() + timedelta(days=14)).isoformat(),
            "priority": "P2",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == back
    item = ActionItem.objects.get()
    assert (item.postmortem, item.incident, item.owner, item.created_by) == (
        postmortem,
        incident,
        bob,
        alice,
    )


def test_adding_without_a_title_shows_the_form_again(client, incident, postmortem, alice):
    client.force_login(alice)
    response = client.post(
        reverse("postmortems:action_item_new"),
        {"postmortem": postmortem.pk, "title": "", "priority": "P2"},
    )
    assert response.status_code == 400
    assert "This field is required" in response.content.decode()
    assert not ActionItem.objects.exists()


def test_a_viewer_may_not_add(client, incident, postmortem, viewer_user):
    client.force_login(viewer_user)
    response = client.post(
        reverse("postmortems:action_item_new"),
        {"postmortem": postmortem.pk, "title": "Sneaky", "priority": "P2"},
    )
    assert response.status_code == 403
    assert not ActionItem.objects.exists()


def _panel(postmortem, user) -> str:
    request = RequestFactory().get(f"/postmortems/{postmortem.pk}/")
    request.user = user
    return render_to_string(
        "postmortems/_action_items.html", {"postmortem": postmortem}, request=request
    )


def test_the_postmortem_block_shows_items_and_offers_editors_the_forms(
    incident, postmortem, alice, bob, viewer_user
):
    overdue = add(incident, postmortem, alice, "Rotate the keys", owner=bob, due_in=1)
    make_overdue(overdue)
    add(incident, postmortem, alice, "Write the runbook", owner=alice, due_in=9, priority="P1")

    for_ic = _panel(postmortem, alice)
    assert "Rotate the keys" in for_ic and "Write the runbook" in for_ic
    assert "Overdue" in for_ic
    assert "Add an action item" in for_ic
    assert for_ic.count('name="status"') == 2

    for_viewer = _panel(postmortem, viewer_user)
    assert "Rotate the keys" in for_viewer and "Overdue" in for_viewer
    assert "Add an action item" not in for_viewer
    assert 'name="status"' not in for_viewer

    # The owner changes their own item, not the IC's.
    for_bob = _panel(postmortem, bob)
    assert for_bob.count('name="status"') == 1
    assert "Add an action item" not in for_bob
