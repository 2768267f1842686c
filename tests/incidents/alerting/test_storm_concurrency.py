"""Concurrent deliveries on PostgreSQL: one storm per service, joins never race a resolution.

Each thread ingests with its own connection, as concurrent requests do.
"""

import time

import pytest
from django.db import connection

from incidents.alerting.models import Alert, AlertSource, IncidentGrouping, RoutingRule
from incidents.alerting.services import ingest as services
from incidents.models import Incident
from tests import factories

from .conftest import firing, make_source
from .test_concurrency import run_together

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks are PostgreSQL's (set DATABASE_URL)"
)


@pytest.fixture
def payments_storming_at(live_db):
    """Payments API, storming at more than `threshold` groups, and a generic source for it."""
    source, _ = make_source(AlertSource.Kind.GENERIC, "checks")

    def make(threshold: int):
        service = factories.ServiceFactory(
            name="Payments API", slug="payments-api", storm_threshold=threshold
        )
        return service, source

    return make


def check(source, key: str, *, resolved: bool = False):
    payload = {"title": f"{key} failing", "service": "payments-api", "dedup_key": key}
    if resolved:
        payload["status"] = "resolved"
    return lambda: services.generic_ingest(source=source, payload=payload)


@pytest.fixture
def slow_trigger(monkeypatch):
    """Widen the window between deciding to open an incident and opening it."""
    real = services.incident_trigger

    def slow(**kwargs):
        time.sleep(0.3)
        return real(**kwargs)

    monkeypatch.setattr(services, "incident_trigger", slow)


def test_concurrent_new_groups_open_one_storm_and_count_exactly(payments_storming_at, slow_trigger):
    _, source = payments_storming_at(2)

    errors = run_together([check(source, f"check-{n}") for n in range(8)])

    assert errors == []
    storm = IncidentGrouping.objects.get()
    # Exactly two groups opened their own incidents; the third started the storm.
    assert Incident.objects.count() == 3
    assert Alert.objects.filter(incident=storm.incident).count() == 6
    assert storm.members == 6
    assert Alert.objects.filter(incident__isnull=True).count() == 0


def test_concurrent_deliveries_past_the_threshold_join_one_storm(
    payments_storming_at, slow_trigger
):
    _, source = payments_storming_at(1)
    check(source, "first")()
    check(source, "second")()  # starts the storm

    errors = run_together([check(source, f"check-{n}") for n in range(8)])

    assert errors == []
    storm = IncidentGrouping.objects.get()
    assert Incident.objects.count() == 2
    assert storm.members == 9
    assert Alert.objects.filter(incident=storm.incident).count() == 9


def test_concurrent_alerts_of_a_grouping_rule_open_one_incident(payments_storming_at, slow_trigger):
    service, source = payments_storming_at(0)
    RoutingRule.objects.create(
        name="Payments",
        match_labels={"service": "payments-api"},
        service=service,
        group_by=["cluster"],
    )

    def labelled(key: str):
        payload = {
            "title": f"{key} failing",
            "service": "payments-api",
            "dedup_key": key,
            "labels": {"cluster": "eu-1"},
        }
        return lambda: services.generic_ingest(source=source, payload=payload)

    errors = run_together([labelled(f"check-{n}") for n in range(6)])

    assert errors == []
    grouping = IncidentGrouping.objects.get()
    assert Incident.objects.count() == 1
    assert Alert.objects.filter(incident=grouping.incident).count() == 6
    assert grouping.members == 6


def test_a_join_never_races_the_storms_resolution(payments_storming_at, monkeypatch):
    """The last member resolves while a new alert joins: never a resolved storm with a firing
    member. Both sides are slowed where, unlocked, they would interleave."""
    _, source = payments_storming_at(1)
    check(source, "first")()
    check(source, "member")()  # the storm, with one member

    real_count = services.grouping_count_members
    real_record = services._record_resolutions

    def slow_count(grouping_id, joined):  # the join holds its lock a while
        time.sleep(0.5)
        return real_count(grouping_id, joined)

    def slow_record(alerts, now):  # the resolution looks once the join has attached its alert
        time.sleep(0.2)
        return real_record(alerts, now)

    monkeypatch.setattr(services, "grouping_count_members", slow_count)
    monkeypatch.setattr(services, "_record_resolutions", slow_record)

    errors = run_together([check(source, "member", resolved=True), check(source, "joining")])

    assert errors == []
    joining = Alert.objects.select_related("incident").get(fingerprint="joining")
    assert joining.incident is not None
    assert joining.incident.is_open
    storm = IncidentGrouping.objects.order_by("pk").first()
    storm.incident.refresh_from_db()
    firing_on_closed = Alert.objects.filter(
        status="firing", incident__status__in=("resolved", "closed")
    )
    assert not firing_on_closed.exists()
    # The join came first and held its lock: the storm stays open for its firing member.
    assert joining.incident == storm.incident
    assert storm.incident.status == "triggered"


def test_deliveries_that_join_and_resolve_members_of_one_storm_at_once_never_deadlock(
    live_db, monkeypatch
):
    """Two Alertmanager groups following one storm each resolve a member and add a new one.

    Each delivery joins the storm and then resolves on it: were the join's lock shared, both
    would hold it and both ask to take it exclusively, and PostgreSQL would abort one. Both
    apply the first time, without a retry.
    """
    payments = factories.ServiceFactory(name="Payments", slug="payments", storm_threshold=1)
    RoutingRule.objects.create(name="p", match_labels={"service": "payments"}, service=payments)
    source, _ = make_source(AlertSource.Kind.ALERTMANAGER, "am")

    def group(name: str, *alerts: dict) -> dict:
        payload = firing(groupKey=f'{{}}:{{alertname="{name}"}}')
        payload["alerts"] = list(alerts)
        return payload

    def alert(fingerprint: str, *, ended: bool = False) -> dict:
        item = dict(firing(fingerprint=fingerprint)["alerts"][0])
        if ended:
            item.update(status="resolved", endsAt="2026-11-27T09:30:00Z")
        return item

    for name in ("own", "a", "b"):  # an incident of its own, then a storm, which b joins
        services.alertmanager_ingest(source=source, payload=group(name, alert(f"{name}-1")))
    storm = IncidentGrouping.objects.get()
    assert set(Alert.objects.values_list("incident", flat=True)) == {
        Incident.objects.exclude(pk=storm.incident_id).get().pk,
        storm.incident_id,
    }

    real_count = services.grouping_count_members
    applied = []
    real_apply = services._alertmanager_apply

    def slow_count(grouping_id, joined):  # both joins hold their lock before either resolves
        time.sleep(0.5)
        return real_count(grouping_id, joined)

    def counted_apply(*args, **kwargs):
        applied.append(kwargs["retry"])
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(services, "grouping_count_members", slow_count)
    monkeypatch.setattr(services, "_alertmanager_apply", counted_apply)

    errors = run_together(
        [
            lambda name=name: services.alertmanager_ingest(
                source=source,
                payload=group(name, alert(f"{name}-1", ended=True), alert(f"{name}-2")),
            )
            for name in ("a", "b")
        ]
    )

    assert errors == []
    assert applied == [False, False]  # neither was aborted and applied again
    storm.refresh_from_db()
    storm.incident.refresh_from_db()
    assert storm.incident.status == "triggered"
    assert storm.members == 4
    assert set(
        Alert.objects.filter(incident=storm.incident).values_list("fingerprint", "status")
    ) == {("a-1", "resolved"), ("b-1", "resolved"), ("a-2", "firing"), ("b-2", "firing")}
