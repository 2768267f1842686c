"""My action items in a real headless Chromium: see what is overdue, finish it, edit another."""

from datetime import timedelta

import pytest
from django.utils import timezone

from postmortems.models import ActionItem, Postmortem
from postmortems.services import action_item_create

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_owner_finishes_an_overdue_item_and_edits_another(browser_page, alice, bob, incident_of):
    page = browser_page
    incident = incident_of(alice, "P1", title="Checkout times out")
    postmortem = Postmortem.objects.get(incident=incident)
    today = timezone.localdate()
    late = action_item_create(
        incident=incident,
        postmortem=postmortem,
        title="Add a saturation alert",
        owner=bob,
        due_date=today + timedelta(days=1),
        actor=alice,
    )
    ActionItem.objects.filter(pk=late.pk).update(due_date=today - timedelta(days=2))
    action_item_create(
        incident=incident,
        postmortem=postmortem,
        title="Write the failover runbook",
        owner=bob,
        due_date=today + timedelta(days=5),
        actor=alice,
    )

    page.goto(page.base_url + "/postmortems/action-items/mine/")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/postmortems/action-items/mine/")

    rows = page.locator("tr.action-item")
    sync_api.expect(rows.first).to_contain_text("Add a saturation alert")
    sync_api.expect(rows.first).to_contain_text("Overdue")
    sync_api.expect(rows.nth(1)).not_to_contain_text("Overdue")

    # Done, straight from the list (a plain form: no script needed).
    page.get_by_label("Status of “Add a saturation alert”").select_option("done")
    rows.first.get_by_role("button", name="Set status").click()
    page.wait_for_url("**/postmortems/action-items/mine/")
    sync_api.expect(page.locator(".messages")).to_contain_text("is done")
    finished = page.locator("section", has_text="Finished lately")
    sync_api.expect(finished).to_contain_text("Add a saturation alert")
    late.refresh_from_db()
    assert late.status == "done" and late.completed_at is not None

    # The other one gets a sharper title on its own page.
    page.get_by_role("link", name="Write the failover runbook").click()
    page.get_by_label("Title").fill("Write and rehearse the failover runbook")
    page.get_by_role("button", name="Save").click()
    sync_api.expect(page.locator("h1")).to_have_text("Write and rehearse the failover runbook")
