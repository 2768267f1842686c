"""In a real headless Chromium: the IC publishes from the incident page; the public sees it."""

import pytest

from incidents.statuspage.models import PublicIncident
from tests import factories

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_ic_publishes_from_the_incident_page_and_the_status_page_shows_it(
    browser_page, update_templates, make_component
):
    page = browser_page
    alice = factories.responder("alice", first_name="Alice")
    payments = factories.ServiceFactory(name="Payments API", slug="payments-api")
    checkout = make_component("Checkout", group="Payments")
    checkout.services.add(payments)
    incident = factories.declared(alice, "P1", services=[payments])

    page.goto(f"{page.base_url}/incidents/{incident.pk}/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"**/incidents/{incident.pk}/")

    panel = page.locator("#status-page")
    sync_api.expect(panel).to_contain_text("Nothing published on the status page yet.")
    # The runbook's initial text is there to edit; the component is preselected.
    message = panel.get_by_label("Message")
    sync_api.expect(message).to_have_value(update_templates["initial"].body)
    sync_api.expect(panel.get_by_label("Checkout", exact=False)).to_have_value("major_outage")

    panel.get_by_label("Public title").fill("Card payments are failing")
    message.fill(
        "We are currently investigating reports of failing card payments.\n"
        "Our team has been alerted and is actively working on a resolution."
    )
    panel.get_by_role("button", name="Publish to the status page").click()
    page.wait_for_url(f"**/incidents/{incident.pk}/#status-page")
    sync_api.expect(page.locator(".messages")).to_contain_text(
        "Published to the status page: investigating."
    )
    sync_api.expect(panel).to_contain_text("failing card payments")
    public = PublicIncident.objects.get(incident=incident)

    # Anyone, signed out, sees it on the public page.
    page.get_by_role("button", name="Log out").click()
    page.goto(f"{page.base_url}/status/")
    main = page.locator("body")
    sync_api.expect(main).to_contain_text("Card payments are failing")
    sync_api.expect(main).to_contain_text("failing card payments")
    assert incident.reference not in page.content()
    assert public.public_id in page.content()
