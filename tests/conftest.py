import pytest

from tests import factories
from tests.fakes.argocd import fake_argocd  # noqa: F401 - a fixture for every test module
from tests.fakes.helm_cli import fake_helm  # noqa: F401 - a fixture for every test module
from tests.fakes.kubernetes import fake_kubernetes  # noqa: F401 - a fixture for every test module
from tests.fakes.slack import fake_slack  # noqa: F401 - a fixture for every test module


@pytest.fixture
def alice(db):
    return factories.responder("alice", first_name="Alice")


@pytest.fixture
def bob(db):
    return factories.responder("bob", first_name="Bob")


@pytest.fixture
def carol(db):
    return factories.responder("carol", first_name="Carol")


@pytest.fixture
def viewer_user(db):
    return factories.viewer("vera")


@pytest.fixture
def manager_user(db):
    return factories.manager("max")


@pytest.fixture
def staff_user(db):
    return factories.staff("sam")


@pytest.fixture
def outsider(db):
    """Signed in, but in no portal group."""
    return factories.UserFactory(username="otto")


@pytest.fixture
def payments(db):
    team = factories.TeamFactory(name="Payments", slug="payments", email="payments@example.com")
    return factories.ServiceFactory(name="Payments API", slug="payments-api", team=team)


def ensure_reference_data() -> None:
    """Re-create what data migrations seed (groups, severities, manager permissions).

    Transactional tests end with a flush that also empties migration-seeded tables.
    """
    import importlib

    from django.apps import apps

    for module in (
        "portal.migrations.0002_groups",
        "incidents.migrations.0002_seed_severity_policy",
        "incidents.migrations.0003_manager_permissions",
        "incidents.oncall.migrations.0002_manager_permissions",
        "incidents.statuspage.migrations.0002_seed_update_templates",
        "postmortems.migrations.0002_manager_permissions",
        "incidents.runbooks.migrations.0002_seed_runbooks",
    ):
        migration = importlib.import_module(module)
        forward = getattr(migration, "create_groups", None) or getattr(migration, "seed", None)
        (forward or migration.grant)(apps, None)


@pytest.fixture
def live_db(transactional_db):
    """A database committed for real (other threads and processes see it), seeded."""
    ensure_reference_data()


@pytest.fixture(autouse=True)
def status_page_process_caches():
    """Each test starts without the status version and pages a previous test's process kept."""
    from incidents.statuspage.publiccache import public_cache_forget_local
    from incidents.statuspage.version import status_version_forget_local

    status_version_forget_local()
    public_cache_forget_local()


@pytest.fixture(autouse=True)
def alert_routing_process_cache():
    """Each test routes alerts with its own rules and severities, not a previous test's."""
    from incidents.alerting.routing import routing_policy_forget

    routing_policy_forget()


@pytest.fixture(autouse=True)
def eager_tasks(request):
    """Run tasks in-process even on a real broker; `worker` tests use a real worker instead."""
    from portal.celery import app

    if request.node.get_closest_marker("worker"):
        yield
        return
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def browser_page(live_server, live_db):
    """A page in headless Debian Chromium, `page.base_url` pointing at the live test server.

    Skipped where Chromium is missing, except in CI, where the browser tests must run.
    """
    import os
    from pathlib import Path

    from django.db import connections

    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {CHROMIUM} is missing: the browser tests must run in CI.")
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; the test's ORM calls stay
    # synchronous and safe here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        page = context.new_page()
        page.base_url = live_server.url
        yield page
        # Inside Playwright's sync API the test's ORM calls get their own connection context:
        # close what they opened while still in it, so the test database can be dropped.
        connections.close_all()
        context.close()
        browser.close()
