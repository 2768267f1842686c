"""An alert arrives over HTTP and a responder triages it in a real headless Chromium."""

import json
import urllib.request
from pathlib import Path

import pytest

from incidents.alerting.models import Alert, AlertSource
from incidents.models import Incident
from tests import factories

from .conftest import make_source, sample

SCREENSHOT = Path("/tmp/alert-triage.png")  # noqa: S108 - a file for people to look at


sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser_page):
    return browser_page


def post_alert(base_url: str, source: AlertSource, secret: str) -> int:
    request = urllib.request.Request(  # noqa: S310 - the live test server's http URL
        f"{base_url}/hooks/alertmanager/{source.pk}/",
        data=json.dumps(sample("alertmanager-v4-firing.json")).encode(),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return response.status


def test_a_responder_opens_an_incident_from_an_unrouted_alert(page):
    factories.responder("alice", first_name="Alice")
    payments = factories.ServiceFactory(name="Payments API", slug="payments-api")
    source, secret = make_source(AlertSource.Kind.ALERTMANAGER, "prod-alertmanager")
    assert post_alert(page.base_url, source, secret) == 200
    assert Alert.objects.get().incident is None

    page.goto(page.base_url + "/incidents/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/incidents/")
    page.goto(page.base_url + "/alerts/")

    row = page.locator("tr", has_text="PaymentsDown")
    sync_api.expect(row).to_contain_text("payments returning 503")
    sync_api.expect(row).to_contain_text("No route")
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    row.get_by_label("Severity").select_option(label="P2 High")
    row.get_by_label("Service").select_option(label="Payments API")
    row.get_by_role("button", name="Open incident").click()

    page.wait_for_url("**/incidents/*/")
    sync_api.expect(page.locator(".messages")).to_contain_text("opened from the alert")
    incident = Incident.objects.get()
    assert (incident.status, incident.severity.code) == ("triggered", "P2")
    assert list(incident.services.all()) == [payments]
    sync_api.expect(page.locator("h1")).to_contain_text("PaymentsDown: payments returning 503")
