import pytest

from incidents.statuspage.models import Component, ComponentGroup


@pytest.fixture
def make_component(db):
    """Create a component (optionally in a named group)."""

    def make(name: str, *, group: str | None = None, **fields) -> Component:
        if group is not None:
            fields["group"], _ = ComponentGroup.objects.get_or_create(name=group)
        return Component.objects.create(name=name, **fields)

    return make


# --- Public page data (built with the ORM, as the publishing services would leave it) ----------


@pytest.fixture
def fresh_status_version(db):
    """Start each test at a status version of its own, so no cached page of another test fits.

    Public pages are cached under the version's number and time; the database of every test
    starts with the same row, so give it a fresh time and forget the cached copy.
    """
    from django.core.cache import cache
    from django.utils import timezone

    from incidents.statuspage.models import StatusVersion
    from incidents.statuspage.version import CACHE_KEY

    StatusVersion.objects.update_or_create(pk=1, defaults={"changed_at": timezone.now()})
    cache.delete(CACHE_KEY)
    yield
    cache.delete(CACHE_KEY)


@pytest.fixture
def bump_status(db, django_capture_on_commit_callbacks):
    """Bump the status version and run its after-commit work (what every publish does)."""
    from incidents.statuspage.version import status_version_bump

    def bump() -> None:
        with django_capture_on_commit_callbacks(execute=True):
            status_version_bump()

    return bump


@pytest.fixture
def set_component_status(db, bump_status):
    """Change a component's status at a time, recording the history row, and bump."""
    from django.utils import timezone

    from incidents.statuspage.models import ComponentStatusChange

    def change(component: Component, status: str, *, at=None, bump: bool = True):
        at = at or timezone.now()
        ComponentStatusChange.objects.create(
            component=component, old_status=component.status, new_status=status, changed_at=at
        )
        component.status = status
        component.save(update_fields=["status", "updated_at"])
        if bump:
            bump_status()
        return component

    return change


@pytest.fixture
def make_public_incident(db, bump_status):
    """Create a public incident or maintenance with updates, then bump the status version.

    `updates` are (status, body) or (status, body, [(component, old, new), ...]) tuples, oldest
    first, one minute apart from `started_at`.
    """
    from datetime import timedelta

    from django.utils import timezone

    from incidents.statuspage.models import AffectedComponent, PublicIncident, PublicUpdate

    def make(
        name: str,
        *,
        kind: str = "incident",
        status: str = "investigating",
        impact: str = "minor",
        started_at=None,
        components=(),
        updates=(),
        bump: bool = True,
        **fields,
    ) -> PublicIncident:
        started_at = started_at or timezone.now() - timedelta(hours=1)
        record = PublicIncident.objects.create(
            name=name, kind=kind, status=status, impact=impact, started_at=started_at, **fields
        )
        record.components.set(components)
        for index, (update_status, body, *rest) in enumerate(updates):
            update = PublicUpdate.objects.create(
                public_incident=record,
                status=update_status,
                body=body,
                display_at=started_at + timedelta(minutes=index),
            )
            for component, old, new in rest[0] if rest else ():
                AffectedComponent.objects.create(
                    update=update, component=component, old_status=old, new_status=new
                )
        if bump:
            bump_status()
        return record

    return make


# --- Publishing, maintenance and reminders (the write side) -------------------------------------


@pytest.fixture
def notified(monkeypatch):
    """Record the event keys handed to the subscriber fan-out (instead of fanning out)."""
    from incidents.statuspage import subscribers

    keys: list[str] = []

    def record(*, event_key: str) -> int:
        keys.append(event_key)
        return 0

    monkeypatch.setattr(subscribers, "subscribers_notify", record)
    return keys


@pytest.fixture
def update_templates(db):
    """The runbook's three texts, as seeded (transactional tests flush migration data)."""
    import importlib

    from django.apps import apps

    from incidents.statuspage.models import UpdateTemplate

    importlib.import_module("incidents.statuspage.migrations.0002_seed_update_templates").seed(
        apps, None
    )
    return {template.kind: template for template in UpdateTemplate.objects.all()}


@pytest.fixture
def status_clock(monkeypatch):
    """Move "now" and fire whatever timers are due then, as the beat sweep would."""
    from datetime import datetime, timedelta

    from django.utils import timezone

    from portal import timers

    class Clock:
        now = timezone.now()

        def at(self, moment: datetime) -> datetime:
            self.now = moment
            monkeypatch.setattr(timezone, "now", lambda: moment)
            return moment

        def advance(self, delta: timedelta) -> datetime:
            return self.at(self.now + delta)

        def sweep(self) -> int:
            fired = 0
            while True:
                count = timers.timers_sweep()
                fired += count
                if not count:
                    return fired

    the_clock = Clock()
    the_clock.at(timezone.now())
    return the_clock


# --- Subscriptions and fan-out ------------------------------------------------------------------


@pytest.fixture
def subscribe_cache(db):
    """Start with empty rate-limit counters (they live in the cache)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def make_subscriber(db):
    """Create a subscriber directly: an active email address or webhook unless told otherwise."""
    from django.utils import timezone

    from incidents.statuspage.models import Subscriber
    from portal.integrations.webhooks import secret_new

    def make(
        *,
        email: str = "",
        url: str = "",
        components=(),
        active: bool = True,
        **fields,
    ) -> Subscriber:
        kind = Subscriber.Kind.WEBHOOK if url else Subscriber.Kind.EMAIL
        subscriber = Subscriber.objects.create(
            kind=kind,
            email=email,
            url=url,
            signing_secret=secret_new() if url else "",
            confirmed_at=timezone.now() if active else None,
            **fields,
        )
        subscriber.components.set(components)
        return subscriber

    return make


@pytest.fixture
def allow_loopback(db):
    """Let webhooks reach 127.0.0.1, where the tests' receiver listens."""
    from incidents.statuspage.models import WebhookAllowedNetwork

    return WebhookAllowedNetwork.objects.create(network="127.0.0.1/32", note="tests")


@pytest.fixture
def webhook_receiver():
    """A webhook receiver on 127.0.0.1 that checks Standard Webhooks signatures on its own.

    Set `receiver.secret` to make it verify (a bad signature is answered 401, as a real
    receiver would); `receiver.script` lists the status codes of its next answers (then 200).
    """
    from tests.incidents.statuspage.receiver import running_receiver

    with running_receiver() as receiver:
        yield receiver
