"""A postmortem from resolution to publication in a real headless Chromium."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from postmortems.models import ActionItem, Postmortem
from tests import factories

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, username: str, then: str) -> None:
    page.goto(page.base_url + then)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(then) + "(#.*)?$"))


def log_out(page) -> None:
    page.get_by_role("button", name="Log out").click()


def add_action_item(page, title: str, owner: str, due: str, priority: str) -> None:
    block = page.locator("#action-items")
    details = block.locator("details.add-action-item")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    block.get_by_label("Title").fill(title)
    block.get_by_label("Owner").select_option(label=owner)
    block.get_by_label("Due date").fill(due)
    block.get_by_label("Priority").select_option(priority)
    block.get_by_role("button", name="Add action item").click()
    expect(page.locator("#action-items")).to_contain_text(title)


def test_resolve_write_review_publish_and_export(browser_page, payments):
    page = browser_page
    alice = factories.responder("alice", first_name="Alice")
    factories.responder("bob", first_name="Bob")
    incident = factories.declared(alice, "P1", services=[payments], impact="Card payments fail.")

    # Alice, the IC, resolves the P1: its postmortem starts as a draft.
    log_in(page, "alice", f"/incidents/{incident.pk}/")
    page.get_by_role("button", name="Resolve").click()
    expect(page.locator("#postmortem")).to_contain_text("Draft")
    page.locator("#postmortem").get_by_role("link", name="Open the postmortem").click()
    expect(page.locator("h1")).to_contain_text(f"Postmortem: {incident.reference}")
    expect(page.locator("#timeline")).to_contain_text("Resolved")

    # She writes the sections; the preview renders as she types.
    page.get_by_role("textbox", name="Root cause").fill(
        "A config push **removed** the connection pool limit."
    )
    expect(page.locator("#preview-root_cause strong")).to_have_text("removed")
    page.get_by_role("textbox", name="Contributing factors").fill(
        "- No canary stage\n- No load test"
    )
    page.get_by_role("textbox", name="What went well").fill("- Rollback took 2 minutes")
    page.get_by_role("textbox", name="Requests failed").fill("About 120k")
    page.get_by_role("textbox", name="Public summary").fill("Card payments failed for 20 minutes.")
    page.get_by_role("button", name="Save the postmortem").click()
    expect(page.locator(".messages")).to_contain_text("Postmortem saved.")

    # Two action items.
    soon = (timezone.localdate() + timedelta(days=14)).isoformat()
    later = (timezone.localdate() + timedelta(days=30)).isoformat()
    add_action_item(page, "Add a canary stage", "Bob (bob)", soon, "P1")
    add_action_item(page, "Load test the pool limit", "Alice (alice)", later, "P2")

    # She asks Bob to review.
    page.get_by_label("Reviewers").select_option(label="Bob (bob)")
    page.get_by_role("button", name="Ask for review").click()
    expect(page.locator(".messages")).to_contain_text("Review requested from Bob.")
    log_out(page)

    # Bob approves.
    postmortem = Postmortem.objects.get(incident=incident)
    log_in(page, "bob", f"/postmortems/{postmortem.pk}/")
    page.get_by_label("Approve").check()
    page.get_by_role("button", name="Send my review").click()
    expect(page.locator(".messages")).to_contain_text("You approved the postmortem.")
    log_out(page)

    # Alice publishes; the page becomes read-only and says who published it.
    log_in(page, "alice", f"/postmortems/{postmortem.pk}/")
    page.get_by_role("button", name="Publish the postmortem").click()
    expect(page.locator(".notice")).to_contain_text("by Alice. It is read-only.")
    expect(page.locator("#sections-form")).to_have_count(0)
    expect(page.locator("#root-cause")).to_contain_text("removed the connection pool limit")

    # And downloads the Markdown export.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download Markdown").click()
    download = download_info.value
    assert download.suggested_filename == f"{incident.reference}-postmortem.md"
    text = Path(download.path()).read_text(encoding="utf-8")
    assert f"# Postmortem: {incident.reference} " in text
    for heading in (
        "## Incident Summary",
        "## Timeline",
        "## Root Cause",
        "## Contributing Factors",
        "## What Went Well",
        "## Action Items",
    ):
        assert heading in text
    assert "A config push **removed** the connection pool limit." in text
    assert "Resolved" in text and "| Alice |" in text
    assert "| Add a canary stage | Bob |" in text
    assert "| Load test the pool limit | Alice |" in text
    assert "- Status: Published" in text

    postmortem.refresh_from_db()
    assert postmortem.is_published
    assert ActionItem.objects.filter(postmortem=postmortem).count() == 2
