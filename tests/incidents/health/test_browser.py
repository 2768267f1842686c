"""A manager reviews on-call health in a real headless Chromium, without JavaScript needed."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from incidents.health.models import ToilFollowUp
from postmortems.models import ActionItem
from tests import factories
from tests.incidents.health.builders import episode, known_week, weeks_since_now

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def month_start(zone: str) -> datetime:
    local = timezone.now().astimezone(ZoneInfo(zone))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def test_a_manager_reviews_the_month_follows_a_figure_and_opens_an_automate_or_fix_item(
    browser_page,
):
    page = browser_page
    expect = sync_api.expect
    week = known_week(shift=weeks_since_now(timezone.now()))
    # An alert that fired 6 times this month (Berlin), one episode opening an incident.
    first = month_start("Europe/Berlin")
    for minute in range(1, 7):
        episode(
            week.source,
            "PagerStorm",
            first + timedelta(minutes=minute),
            service=week.api,
            incident=week.incidents["p1"] if minute == 1 else None,
        )
    manager = factories.manager("max")
    manager.first_name = "Max"
    manager.save()

    page.goto(page.base_url + "/health/")
    assert "/accounts/login/" in page.url
    page.get_by_label("Username").fill("max")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/health/")
    expect(page.get_by_role("heading", name="On-call health")).to_be_visible()
    expect(page.get_by_role("link", name="7 days")).to_have_attribute("aria-current", "page")

    page.get_by_role("navigation", name="Period").get_by_role("link", name="30 days").click()
    page.wait_for_url("**/health/?days=30")
    expect(page.get_by_role("link", name="30 days")).to_have_attribute("aria-current", "page")

    page.get_by_label("Team").select_option(label="Payments")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/health/?days=30&team=payments&service=&severity=")
    expect(page.locator(".health-scope")).to_contain_text("Last 30 days")
    expect(page.locator(".health-scope")).to_contain_text("team Payments")

    mtta = page.locator(".figure", has_text="Mean time to acknowledge")
    expect(mtta).to_contain_text("Target < 5 min: missed")
    mtta.locator(".figure-value a").click()
    page.wait_for_url("**/health/incidents/?days=30&team=payments&figure=mtta")
    expect(page.get_by_role("heading", name="Time to acknowledge")).to_be_visible()
    rows = page.locator("table.incidents tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("Checkout down")
    expect(rows.nth(0)).to_contain_text("3 min")
    page.get_by_role("link", name="Checkout down").click()
    page.wait_for_url(f"**/incidents/{week.incidents['p1'].pk}/")

    page.go_back()
    page.get_by_role("link", name="← On-call health").click()
    page.wait_for_url("**/health/?days=30&team=payments")
    form = page.get_by_role("form", name="Automate or fix PagerStorm")
    expect(form.get_by_label("Owner")).to_have_value(str(manager.pk))
    form.get_by_role("button", name="Open action item").click()
    expect(page.locator(".messages")).to_contain_text("Action item opened")
    expect(page).to_have_url(re.compile(r"/health/\?days=30&team=payments"))
    noisy = page.locator("table.noisy tr", has_text="PagerStorm")
    expect(noisy.get_by_role("link", name="Action item opened")).to_be_visible()
    expect(noisy.locator("form")).to_have_count(0)

    page.reload()
    expect(page.get_by_role("form", name="Automate or fix PagerStorm")).to_have_count(0)
    follow_up = ToilFollowUp.objects.get(alert_name="PagerStorm")
    item = ActionItem.objects.get(pk=follow_up.action_item_id)
    assert item.owner_id == manager.pk
    assert ActionItem.objects.filter(title__contains="PagerStorm").count() == 1
