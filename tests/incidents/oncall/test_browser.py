"""On-call pages in a real headless Chromium: a schedule, and acknowledging from a link."""

import re
from datetime import date

import pytest
from django.core import mail

from incidents.oncall.acks import ack_token
from incidents.oncall.models import Page
from incidents.oncall.paging import incident_engage
from portal.timers import timers_sweep
from tests import factories

from .conftest import make_rotation, make_schedule

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_schedule_shows_who_is_on_call_and_a_page_is_acknowledged_from_its_link(
    browser_page, team, people
):
    page = browser_page
    team.email = "payments@example.com"
    team.save()
    team.engineering_managers.add(people.em)
    schedule = make_schedule(team)
    make_rotation(schedule, [people.oncall], start_date=date(2020, 1, 6))

    # Olga, on call, finds herself on the schedule page.
    page.goto(page.base_url + "/schedules/payments-primary/")
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/schedules/payments-primary/")
    sync_api.expect(page.locator("main")).to_contain_text("Olga")
    page.get_by_role("button", name="Log out").click()

    # An alert pages her; she opens the link from the mail, signed out, and acknowledges.
    incident = factories.triggered("P2", team=team)
    incident_engage(incident_id=incident.pk)
    timers_sweep()
    sent = Page.objects.get(incident=incident, recipient=people.oncall, kind="escalation")
    assert any(m.to == ["olga@example.com"] for m in mail.outbox)
    page.goto(f"{page.base_url}/ack/{ack_token(sent)}/")
    sync_api.expect(page.locator("main")).to_contain_text(incident.title)
    page.get_by_role("button", name="Acknowledge as Olga").click()
    sync_api.expect(page.locator("main")).to_contain_text("cknowledged")

    incident.refresh_from_db()
    assert incident.status == "acknowledged"
    # The link is single-use.
    page.goto(f"{page.base_url}/ack/{ack_token(sent)}/")
    sync_api.expect(page.locator("main")).to_contain_text("already used")


def test_the_next_escalation_counts_down_live_on_the_incident_page(browser_page, team, people):
    page = browser_page
    team.engineering_managers.add(people.em)
    schedule = make_schedule(team)
    make_rotation(schedule, [people.oncall], start_date=date(2020, 1, 6))
    incident = factories.triggered("P2", team=team)
    incident_engage(incident_id=incident.pk)
    timers_sweep()  # step 1 pages Olga; step 2 (the EM) waits 5 minutes

    page.goto(f"{page.base_url}/incidents/{incident.pk}/")
    page.get_by_label("Username").fill("olga")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    countdown = page.locator(".next-escalation .countdown")
    sync_api.expect(countdown).to_have_text(re.compile(r"^[45] min \d\d s$"))
    first = countdown.inner_text()
    sync_api.expect(countdown).not_to_have_text(first)  # it ticks without a reload
