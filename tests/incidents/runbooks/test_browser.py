"""The IC rolls back a Deployment from a runbook in a real headless Chromium."""

import importlib

import pytest
from django.apps import apps

from incidents.runbooks.models import Cluster, Job, KubernetesTarget, Runbook
from tests import factories
from tests.test_browser import log_in, timeline_lines

from .conftest import DEPLOYMENT, IMAGES, NS

sync_api = pytest.importorskip("playwright.sync_api")

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def seed_runbooks() -> None:
    """Seed the playbooks again: a transactional test's database starts flushed."""
    importlib.import_module("incidents.runbooks.migrations.0002_seed_runbooks").seed(apps, None)


def test_the_ic_previews_and_confirms_a_rollback_and_sees_it_succeed_on_the_timeline(
    browser_page, fake_kubernetes
):
    page = browser_page
    fake, config = fake_kubernetes
    fake.add_namespace(NS)
    fake.add_deployment(NS, DEPLOYMENT, image=IMAGES[2], revisions=IMAGES[:2], pods=2)
    fake.auto_rollout = True  # the Deployment controller finishes rollouts at once
    seed_runbooks()
    alice = factories.responder("alice", first_name="Alice")
    team = factories.TeamFactory(name="Payments", slug="payments")
    payments = factories.ServiceFactory(name="Payments API", slug="payments-api", team=team)
    cluster = Cluster.objects.create(
        name="prod-eu", kubeconfig_path=config.kubeconfig_path, context=config.context
    )
    KubernetesTarget.objects.create(
        service=payments,
        name="production",
        cluster=cluster,
        namespace=NS,
        deployments=[DEPLOYMENT],
    )
    Runbook.objects.get(slug="all-pods-crashing").services.add(payments)
    incident = factories.declared(alice, services=[payments])  # a P1; Alice is IC

    log_in(page, "alice")
    page.goto(f"{page.base_url}/incidents/{incident.pk}/")
    page.locator("#runbooks").get_by_role("link", name="All pods crashing").click()
    sync_api.expect(page.get_by_role("heading", name="All pods crashing")).to_be_visible()
    sync_api.expect(page.locator(".guidance")).to_contain_text("kubectl rollout undo deployment")

    offer = page.locator(f"#form-t{KubernetesTarget.objects.get().pk}-rollback-{DEPLOYMENT}")
    offer.get_by_label("Revision").select_option("1")
    offer.get_by_role("button", name="Preview").click()

    sync_api.expect(page.locator("#job-state")).to_contain_text("Awaiting confirmation")
    preview = page.locator("#preview")
    sync_api.expect(preview).to_contain_text("to revision 1")
    sync_api.expect(preview.locator(".diff .add")).to_contain_text(f"image: {IMAGES[0]}")
    sync_api.expect(preview.locator(".diff .del")).to_contain_text(f"image: {IMAGES[2]}")
    assert (
        fake.get("deployments", NS, DEPLOYMENT)["spec"]["template"]["spec"]["containers"][0][
            "image"
        ]
        == IMAGES[2]
    ), "the preview changed nothing"

    page.get_by_role("button", name="Confirm").click()
    sync_api.expect(page.locator("#job-state")).to_contain_text("Succeeded")
    sync_api.expect(page.locator("#result")).to_contain_text(
        "Rolled deployment payments-api back to revision 1."
    )

    page.goto(f"{page.base_url}/incidents/{incident.pk}/")
    lines = timeline_lines(page)
    assert any(
        "Confirmed after the preview: roll back deployment payments-api" in line for line in lines
    )
    assert any(
        "Succeeded: roll back deployment payments-api to revision 1" in line for line in lines
    )
    assert any("Succeeded: wait for deployment payments-api to roll out" in line for line in lines)
    rollback = Job.objects.get(kind="rollback")
    assert rollback.state == Job.State.SUCCEEDED and rollback.confirmed_by == alice
