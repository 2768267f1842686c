"""The back-office: managers track action items with filters, bulk actions and a CSV export."""

import csv
import io
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from django.utils import timezone

from postmortems.models import ActionItem, Postmortem, Review
from postmortems.services import action_item_create, action_item_set_status, postmortem_submit
from tests import factories

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:postmortems_actionitem_changelist"


@pytest.fixture
def incident(alice, incident_of):
    """A resolved P1 of the Payments team, on the Payments API, commanded by Alice."""
    return incident_of(alice, title="Checkout times out")


@pytest.fixture
def other_incident(bob, incident_of):
    """An incident of another team, on another service."""
    team = factories.TeamFactory(name="Search", slug="search")
    search = factories.ServiceFactory(name="Search API", slug="search-api", team=team)
    return incident_of(bob, "P2", title="Search is slow", team=team, services=[search])


@pytest.fixture
def postmortem(incident, postmortem_of):
    return postmortem_of(incident)


@pytest.fixture
def items(incident, other_incident, postmortem, alice, bob, carol):
    today = timezone.localdate()

    def make(incident, title, **fields):
        return action_item_create(
            incident=incident, actor=factories.staff("boss"), title=title, **fields
        )

    made = {
        "late": make(incident, "Late one", postmortem=postmortem, owner=bob, priority="P1"),
        "week": make(incident, "This week", owner=bob, due_date=today, priority="P2"),
        "undated": make(incident, "Undated", postmortem=postmortem, owner=carol),
        "far": make(other_incident, "Far away", owner=alice, due_date=today + timedelta(days=60)),
        "done": make(other_incident, "Finished", owner=alice, due_date=today + timedelta(days=1)),
    }
    ActionItem.objects.filter(pk=made["late"].pk).update(due_date=today - timedelta(days=3))
    action_item_set_status(item=made["done"], status="done", actor=alice)
    return made


def titles(response) -> set[str]:
    return {item.title for item in response.context["cl"].result_list}


def post_action(client, action: str, items, **data):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, ACTION_CHECKBOX_NAME: [item.pk for item in items], **data},
    )


def test_a_manager_sees_the_list_with_overdue_in_words(client, manager_user, items):
    client.force_login(manager_user)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert response.context["cl"].result_count == 5
    html = response.content.decode()
    assert "Overdue by 3 days" in html
    assert f"INC-{items['late'].incident_id}" in html
    assert html.count("Overdue by") == 1


@pytest.mark.parametrize("who", ["alice", "viewer_user"])
def test_responders_and_viewers_stay_out(client, request, who, items):
    client.force_login(request.getfixturevalue(who))
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status__exact": "done"}, {"Finished"}),
        ({"priority__exact": "P1"}, {"Late one"}),
        ({"due": "overdue"}, {"Late one"}),
        ({"due": "this_week"}, {"This week"}),
        ({"due": "none"}, {"Undated"}),
        ({"q": "far away"}, {"Far away"}),
        ({"q": "Search is slow"}, {"Far away", "Finished"}),
        ({"q": "carol"}, {"Undated"}),
    ],
)
def test_filters_and_search(client, manager_user, items, query, expected):
    client.force_login(manager_user)
    response = client.get(reverse(CHANGELIST), query)
    assert response.status_code == 200
    assert titles(response) == expected


def test_filter_by_owner_team_and_service(client, manager_user, items, bob, payments):
    client.force_login(manager_user)
    url = reverse(CHANGELIST)
    assert titles(client.get(url, {"owner__id__exact": bob.pk})) == {"Late one", "This week"}
    payments_items = {"Late one", "This week", "Undated"}
    search_items = {"Far away", "Finished"}
    search = items["far"].incident
    for team, expected in ((payments.team, payments_items), (search.team, search_items)):
        assert titles(client.get(url, {"incident__team__id__exact": team.pk})) == expected
    by_service = client.get(url, {"incident__services__id__exact": payments.pk})
    assert titles(by_service) == payments_items
    other_service = search.services.get()
    assert titles(client.get(url, {"incident__services__id__exact": other_service.pk})) == (
        search_items
    )


def test_search_by_incident_reference(client, manager_user, items):
    client.force_login(manager_user)
    reference = f"INC-{items['far'].incident_id}"
    assert titles(client.get(reverse(CHANGELIST), {"q": reference})) == {"Far away", "Finished"}


def test_mark_done_records_completion(client, manager_user, items):
    client.force_login(manager_user)
    response = post_action(client, "mark_done", [items["late"], items["undated"]])
    assert response.status_code == 302
    for key in ("late", "undated"):
        items[key].refresh_from_db()
        assert items[key].status == "done"
        assert items[key].completed_at is not None
    items["week"].refresh_from_db()
    assert items["week"].status == "open"


def test_reassign_asks_who_then_reassigns(client, manager_user, items, carol):
    client.force_login(manager_user)
    chosen = [items["late"], items["week"]]
    page = post_action(client, "reassign", chosen)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Late one" in html and "This week" in html and 'name="owner"' in html

    response = post_action(client, "reassign", chosen, apply="yes", owner=carol.pk)
    assert response.status_code == 302
    for item in chosen:
        item.refresh_from_db()
        assert item.owner == carol
    items["undated"].refresh_from_db()
    assert items["undated"].owner == carol  # was already hers; others untouched
    items["far"].refresh_from_db()
    assert items["far"].owner.username == "alice"


def test_reassign_without_choosing_shows_the_form_again(client, manager_user, items):
    client.force_login(manager_user)
    response = post_action(client, "reassign", [items["late"]], apply="yes", owner="")
    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    items["late"].refresh_from_db()
    assert items["late"].owner.username == "bob"


def test_move_due_date_to_a_date(client, manager_user, items):
    client.force_login(manager_user)
    target = timezone.localdate() + timedelta(days=30)
    chosen = [items["late"], items["undated"]]
    assert post_action(client, "move_due_date", chosen).status_code == 200
    response = post_action(
        client, "move_due_date", chosen, apply="yes", due_date=target.isoformat()
    )
    assert response.status_code == 302
    for item in chosen:
        item.refresh_from_db()
        assert item.due_date == target


def test_move_due_date_by_days_skips_undated(client, manager_user, items):
    client.force_login(manager_user)
    week, far = items["week"].due_date, items["far"].due_date
    chosen = [items["week"], items["far"], items["undated"]]
    response = post_action(client, "move_due_date", chosen, apply="yes", shift_days="7")
    assert response.status_code == 302
    for item in chosen:
        item.refresh_from_db()
    assert items["week"].due_date == week + timedelta(days=7)
    assert items["far"].due_date == far + timedelta(days=7)
    assert items["undated"].due_date is None


def test_move_due_date_into_the_past_moves_nothing(client, manager_user, items):
    client.force_login(manager_user)
    far = items["far"].due_date
    chosen = [items["far"], items["week"]]
    response = post_action(client, "move_due_date", chosen, apply="yes", shift_days="-3")
    assert response.status_code == 200  # the form again, with the reason
    assert "Nothing was moved" in response.content.decode() or any(
        "Nothing was moved" in str(m) for m in response.context["messages"]
    )
    items["far"].refresh_from_db()
    assert items["far"].due_date == far


def test_move_due_date_needs_exactly_one_choice(client, manager_user, items):
    client.force_login(manager_user)
    response = post_action(
        client,
        "move_due_date",
        [items["week"]],
        apply="yes",
        due_date=(timezone.localdate() + timedelta(days=3)).isoformat(),
        shift_days="2",
    )
    assert response.status_code == 200
    assert "not both" in response.content.decode()


def test_csv_export_has_the_selected_rows_and_defuses_formulas(
    client, manager_user, items, incident, postmortem, alice
):
    hostile = action_item_create(
        incident=incident,
        postmortem=postmortem,
        title='=HYPERLINK("https://evil.example","click")',
        description="ignored",
        owner=alice,
        tracker_url="https://example.com/-1",
        actor=alice,
    )
    client.force_login(manager_user)
    response = post_action(client, "export_csv", [items["late"], items["done"], hostile])
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert list(rows[0].keys()) == [
        "id",
        "title",
        "status",
        "priority",
        "owner",
        "due date",
        "overdue",
        "incident",
        "team",
        "postmortem",
        "tracker URL",
        "created",
        "completed",
    ]
    by_id = {int(row["id"]): row for row in rows}
    assert set(by_id) == {items["late"].pk, items["done"].pk, hostile.pk}

    late = by_id[items["late"].pk]
    assert late["title"] == "Late one"
    assert (late["status"], late["priority"], late["overdue"]) == ("open", "P1", "yes")
    assert late["owner"] == "Bob (bob)"
    assert late["due date"] == (timezone.localdate() - timedelta(days=3)).isoformat()
    assert late["incident"] == f"INC-{incident.pk}"
    assert late["team"] == "Payments"
    assert late["postmortem"].endswith(f"/postmortems/{postmortem.pk}/") or late["postmortem"]
    assert late["completed"] == ""
    assert late["created"].endswith("Z")

    done = by_id[items["done"].pk]
    assert (done["status"], done["overdue"], done["postmortem"]) == ("done", "no", "")
    assert done["completed"].endswith("Z")

    evil = by_id[hostile.pk]
    assert evil["title"] == '\'=HYPERLINK("https://evil.example","click")'
    assert evil["tracker URL"] == "https://example.com/-1"


def test_adding_in_the_admin_goes_through_the_services(client, manager_user, incident, bob):
    client.force_login(manager_user)
    response = client.post(
        reverse("admin:postmortems_actionitem_add"),
        {
            "title": "Retire the old gateway",
            "description": "",
            "owner": bob.pk,
            "due_date": (timezone.localdate() + timedelta(days=5)).isoformat(),
            "priority": "P2",
            "status": "done",
            "tracker_url": "",
            "incident": incident.pk,
            "postmortem": "",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    item = ActionItem.objects.get()
    assert item.created_by == manager_user
    assert item.status == "done" and item.completed_at is not None


def test_editing_in_the_admin_refuses_a_past_due_date(client, manager_user, items, bob):
    client.force_login(manager_user)
    item = items["week"]
    response = client.post(
        reverse("admin:postmortems_actionitem_change", args=[item.pk]),
        {
            "title": "This week",
            "description": "",
            "owner": bob.pk,
            "due_date": (timezone.localdate() - timedelta(days=10)).isoformat(),
            "priority": "P2",
            "status": "open",
            "tracker_url": "",
        },
    )
    assert response.status_code == 200
    assert "in the past" in response.content.decode()
    item.refresh_from_db()
    assert item.due_date == timezone.localdate()


def test_reopening_in_the_admin_clears_the_completion(client, manager_user, items, alice):
    client.force_login(manager_user)
    item = items["done"]
    response = client.post(
        reverse("admin:postmortems_actionitem_change", args=[item.pk]),
        {
            "title": item.title,
            "description": "",
            "owner": alice.pk,
            "due_date": item.due_date.isoformat(),
            "priority": item.priority,
            "status": "open",
            "tracker_url": "",
        },
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.status, item.completed_at) == ("open", None)


def test_postmortems_list_with_overdue_filter(client, manager_user, postmortem, alice, incident_of):
    on_time = Postmortem.objects.get(incident=incident_of(alice, title="Second outage"))
    Postmortem.objects.filter(pk=postmortem.pk).update(
        due_at=timezone.now() - timedelta(days=2, hours=1)
    )
    client.force_login(manager_user)
    url = reverse("admin:postmortems_postmortem_changelist")
    response = client.get(url)
    assert response.status_code == 200
    assert "Overdue by 2 days" in response.content.decode()
    overdue = client.get(url, {"overdue": "yes"}).context["cl"].result_list
    assert [p.pk for p in overdue] == [postmortem.pk]
    not_overdue = client.get(url, {"overdue": "no"}).context["cl"].result_list
    assert [p.pk for p in not_overdue] == [on_time.pk]


def test_a_manager_reads_a_postmortem_with_its_timeline(client, manager_user, postmortem):
    client.force_login(manager_user)
    response = client.get(reverse("admin:postmortems_postmortem_change", args=[postmortem.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Declared" in html  # the first timeline row
    assert 'name="root_cause"' not in html  # content is edited on the postmortem page


def test_reviews_are_listed(client, manager_user, postmortem, alice, carol):
    postmortem_submit(postmortem=postmortem, actor=alice, reviewers=[carol])
    client.force_login(manager_user)
    response = client.get(reverse("admin:postmortems_review_changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == Review.objects.count() == 1


def test_the_list_is_soonest_due_first_undated_last(client, manager_user, items):
    client.force_login(manager_user)
    response = client.get(reverse(CHANGELIST))
    assert [item.title for item in response.context["cl"].result_list] == [
        "Late one",
        "This week",
        "Finished",
        "Far away",
        "Undated",
    ]
