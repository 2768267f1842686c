"""An alert arrives over HTTP and a responder triages it in a real headless Chromium."""

import json
import os
import urllib.request
from pathlib import Path

import pytest
from django.db import connections

# Playwright's sync API runs an event loop in this thread; the ORM calls of the test are still
# synchronous and safe here.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from incidents.alerting.models import Alert, AlertSource
from incidents.models import Incident
from tests import factories

from .conftest import make_source, sample

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOT = Path("/tmp/alert-triage.png")  # noqa: S108 - a file for people to look at

if not CHROMIUM.exists() and not os.environ.get("CI"):
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium package to run the browser test",
        allow_module_level=True,
    )

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(live_server, live_db):
    if not CHROMIUM.exists():
        pytest.fail(f"CI is set but {CHROMIUM} is missing: the browser test must run in CI.")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        page = context.new_page()
        page.base_url = live_server.url
        yield page
        connections.close_all()
        context.close()
        browser.close()


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
