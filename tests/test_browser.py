"""A responder drives incidents through the portal in a real headless Chromium."""

from pathlib import Path

import pytest

from incidents.models import Incident, IncidentStatus, ServiceLink
from tests import factories

SCREENSHOT = Path("/tmp/incident.png")  # noqa: S108 - a file for people to look at


sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser_page):
    return browser_page


def log_in(page, username: str) -> None:
    page.goto(page.base_url + "/incidents/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/incidents/")


def expect_message(page, text: str) -> None:
    sync_api.expect(page.locator(".messages")).to_contain_text(text)


def timeline_lines(page) -> list[str]:
    return [line.strip() for line in page.locator("#timeline li.event").all_inner_texts()]


def assert_in_order(lines: list[str], expected: list[str]) -> None:
    position = 0
    for text in expected:
        matches = [i for i, line in enumerate(lines) if i >= position and text in line]
        assert matches, f"{text!r} is not in the timeline after line {position}: {lines}"
        position = matches[0] + 1


def post_status_update(page, *, status: str | None = None, resolve: bool = False) -> None:
    form = page.locator("#status-update-form")
    if status:
        form.get_by_label("Status").select_option(status)
    form.get_by_label("Impact").fill("Card payments fail for all users")
    form.get_by_label("Last action").fill("Rolled back payments-api to v41")
    form.get_by_label("Next action").fill("Watch the error rate for 15 minutes")
    if resolve:
        form.get_by_label("Also resolve the incident").check()
    form.get_by_role("button", name="Post update").click()


def test_a_responder_drives_incidents_from_declaration_to_resolution(page, payments):
    factories.responder("alice", first_name="Alice")
    factories.responder("bob", first_name="Bob")
    ServiceLink.objects.create(
        service=payments, kind="dashboard", title="API p99 latency", url="https://grafana/p99"
    )
    ServiceLink.objects.create(
        service=payments, kind="runbook", title="Payments 503 runbook", url="https://wiki/503"
    )
    alert = factories.triggered("P2", title="PaymentsDown alert", services=[payments])

    log_in(page, "alice")
    sync_api.expect(page.get_by_role("heading", name="Incidents")).to_be_visible()
    sync_api.expect(page.get_by_text("PaymentsDown alert")).to_be_visible()

    # Declare a P1: declaring acknowledges it and makes the declarer Incident Commander.
    page.get_by_role("link", name="Declare", exact=True).click()
    page.get_by_label("Title").fill("Payments service returning 503")
    page.get_by_label("P1 Critical").check()
    page.get_by_label("Payments API").check()
    page.get_by_label("Impact", exact=True).fill("Checkout fails with 503 for every user.")
    page.get_by_label("Users affected (%)").fill("100")
    page.get_by_role("button", name="Declare incident").click()
    declared = Incident.objects.get(title="Payments service returning 503")
    page.wait_for_url(f"**/incidents/{declared.pk}/")
    expect_message(page, f"{declared.reference} declared")
    sync_api.expect(page.locator(".incident-head")).to_contain_text("P1 Critical")
    sync_api.expect(page.get_by_role("link", name="API p99 latency")).to_be_visible()
    assert_in_order(
        timeline_lines(page), ["Declared P1: Payments service returning 503", "Alice is Incident"]
    )

    post_status_update(page)
    expect_message(page, "Status update posted.")
    sync_api.expect(page.locator("#updates")).to_contain_text("Rolled back payments-api to v41")
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # The alert's incident: acknowledge, investigate, take command, update, resolve.
    page.goto(f"{page.base_url}/incidents/{alert.pk}/")
    page.get_by_role("button", name="Acknowledge").click()
    expect_message(page, f"{alert.reference} acknowledged.")
    page.get_by_role("button", name="Start investigating").click()
    expect_message(page, "is being investigated")
    sync_api.expect(page.locator(".incident-head")).to_contain_text("No Incident Commander")

    page.get_by_role("button", name="Take the Incident Commander role").click()
    expect_message(page, "Alice is Incident Commander.")
    sync_api.expect(page.locator(".incident-head")).not_to_contain_text("No Incident Commander")

    post_status_update(page)
    expect_message(page, "Status update posted.")

    page.get_by_label("Resolution note").fill("Rollback held for 15 minutes")
    page.get_by_role("button", name="Resolve", exact=True).click()
    expect_message(page, f"{alert.reference} resolved.")
    sync_api.expect(page.locator(".incident-head .status")).to_have_text("Resolved")
    assert_in_order(
        timeline_lines(page),
        [
            "Triggered P2: PaymentsDown alert",
            "Acknowledged by Alice",
            "Investigating",
            "Alice is Incident Commander",
            "Status update",
            "Rollback held for 15 minutes",
        ],
    )
    assert timeline_lines(page)[-1].count("Resolved") >= 1

    # The P1: hand command to Bob, who resolves it with his RESOLVED status update.
    page.goto(f"{page.base_url}/incidents/{declared.pk}/")
    page.locator("#assign_role").select_option("commander")
    page.locator("#assign_user").select_option(label="Bob (bob)")
    page.get_by_role("button", name="Assign role").click()
    expect_message(page, "Bob is Incident Commander.")
    sync_api.expect(page.get_by_role("button", name="Resolve", exact=True)).to_have_count(0)

    page.get_by_role("button", name="Log out").click()
    log_in(page, "bob")
    page.goto(f"{page.base_url}/incidents/{declared.pk}/")
    resolve_option = page.get_by_label("Also resolve the incident")
    sync_api.expect(resolve_option).to_be_hidden()
    post_status_update(page, status="RESOLVED", resolve=True)
    expect_message(page, f"Status update posted and {declared.reference} resolved.")
    assert_in_order(
        timeline_lines(page),
        [
            "Declared P1",
            "Alice is Incident Commander",
            "Status update",
            "Incident Commander handed over from Alice to Bob",
            "Status: RESOLVED",
            "Resolved with the status update.",
        ],
    )
    assert Incident.objects.get(pk=declared.pk).status == IncidentStatus.RESOLVED
    assert Incident.objects.get(pk=alert.pk).status == IncidentStatus.RESOLVED
