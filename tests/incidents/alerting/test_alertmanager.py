"""Alertmanager v4 and Grafana v1 webhooks, from the real samples: episodes, groups, resolves."""

from datetime import UTC, datetime

import pytest

from incidents.alerting.hooks import MAX_BODY_BYTES
from incidents.alerting.models import Alert, AlertSource
from incidents.models import Incident, IncidentStatus, TimelineEvent
from incidents.services import incident_acknowledge, incident_resolve
from tests import factories

from .conftest import firing, hook_url, make_source, padded, resolved, sample

pytestmark = pytest.mark.django_db

STARTED = datetime(2026, 11, 27, 9, 21, 14, 639674, tzinfo=UTC)


def alert_events(incident: Incident) -> list[str]:
    return list(
        incident.timeline.filter(kind=TimelineEvent.Kind.ALERT)
        .order_by("occurred_at", "id")
        .values_list("message", flat=True)
    )


class TestFiring:
    def test_the_firing_sample_opens_a_triggered_p1_incident_for_its_service(
        self, send_am, payments_rule, payments
    ):
        reply = send_am(sample("alertmanager-v4-firing.json"))

        alert = Alert.objects.get()
        incident = Incident.objects.get()
        assert reply["incidents_opened"] == [incident.reference]
        assert (alert.status, alert.fingerprint, alert.starts_at, alert.ends_at) == (
            "firing",
            "440d54076bcd8569",
            STARTED,
            None,
        )
        assert alert.incident == incident
        assert (incident.status, incident.severity.code, incident.source) == (
            "triggered",
            "P1",
            "alert",
        )
        assert list(incident.services.all()) == [payments]
        assert incident.team == payments.team
        assert incident.title == "PaymentsDown: payments returning 503"
        assert incident.impact_started_at == STARTED
        assert incident.timeline.filter(kind="triggered").count() == 1
        assert "PaymentsDown: payments returning 503" in alert_events(incident)[0]

    def test_repeats_count_on_the_same_episode_and_never_open_a_second_incident(
        self, send_am, payments_rule
    ):
        for _ in range(3):
            send_am(sample("alertmanager-v4-firing.json"))

        alert = Alert.objects.get()
        assert alert.receive_count == 3
        assert alert.last_seen_at > alert.first_seen_at
        assert Incident.objects.count() == 1
        assert Incident.objects.get().timeline.filter(kind="triggered").count() == 1

    def test_a_repeat_that_brings_a_new_alert_counts_each_episode_once(
        self, send_am, payments_rule
    ):
        send_am(firing())
        both = firing()
        both["alerts"].append(firing(fingerprint="aaaa000000000001")["alerts"][0])

        send_am(both)
        send_am(both)

        counts = dict(Alert.objects.values_list("fingerprint", "receive_count"))
        assert counts == {"440d54076bcd8569": 3, "aaaa000000000001": 2}
        assert Incident.objects.count() == 1

    def test_a_repeat_after_the_ic_resolved_the_incident_does_not_reopen_anything(
        self, send_am, payments_rule, alice
    ):
        send_am(firing())
        incident = Incident.objects.get()
        incident_acknowledge(incident=incident, actor=alice)
        incident_resolve(incident=incident, actor=alice)

        send_am(firing())  # Alertmanager's repeat_interval: the same episode again

        assert Incident.objects.count() == 1
        assert Alert.objects.get().receive_count == 2

    def test_a_new_alert_in_the_same_group_joins_the_open_incident(self, send_am, payments_rule):
        send_am(firing())
        send_am(firing(fingerprint="aaaa000000000001", annotations={"summary": "EU too"}))

        incident = Incident.objects.get()
        assert incident.alerts.count() == 2
        assert any("Alert fired: PaymentsDown: EU too" in m for m in alert_events(incident))

    def test_a_more_severe_alert_joining_says_so_on_the_timeline(self, send_am, payments_rule):
        send_am(firing(labels={"severity": "warning"}))
        send_am(firing(fingerprint="bbbb", labels={"severity": "critical"}))

        incident = Incident.objects.get()
        assert incident.severity.code == "P3"
        assert "more severe than the incident's P3" in alert_events(incident)[-1]

    def test_a_second_group_opens_a_second_incident(self, send_am, payments_rule):
        send_am(firing())
        send_am(
            firing(
                fingerprint="ffff000000000002",
                groupKey='{}:{alertname="LatencyHigh", service="payments"}',
                labels={"alertname": "LatencyHigh"},
            )
        )

        assert Incident.objects.count() == 2
        assert {a.incident_id for a in Alert.objects.all()} == set(
            Incident.objects.values_list("pk", flat=True)
        )

    def test_several_alerts_of_a_new_group_open_one_incident_at_the_highest_severity(
        self, send_am, payments_rule
    ):
        payload = firing(labels={"severity": "warning"})
        second = dict(payload["alerts"][0], fingerprint="cccc")
        second["labels"] = dict(second["labels"], severity="critical")
        payload["alerts"].append(second)

        send_am(payload)

        incident = Incident.objects.get()
        assert incident.severity.code == "P1"
        assert incident.alerts.count() == 2


def test_a_body_of_exactly_512_kb_is_accepted(post_hook, am_source):
    source, secret = am_source

    response = post_hook(hook_url("alertmanager", source), padded(MAX_BODY_BYTES), secret)

    assert response.status_code == 200
    assert Alert.objects.count() == 1


class TestResolved:
    def test_the_resolved_sample_resolves_an_incident_nobody_acknowledged(
        self, send_am, payments_rule
    ):
        send_am(sample("alertmanager-v4-firing.json"))
        reply = send_am(sample("alertmanager-v4-resolved.json"))

        assert reply["resolved"] == 1
        alert = Alert.objects.get()
        assert alert.status == "resolved"
        assert alert.ends_at == datetime(2026, 11, 27, 9, 21, 19, tzinfo=UTC)
        incident = Incident.objects.get()
        assert incident.status == IncidentStatus.RESOLVED
        resolution = incident.timeline.get(kind="resolved")
        assert (resolution.actor, resolution.source) == (None, "alert")
        assert "before anyone acknowledged" in resolution.message
        assert any("Alert resolved at the source" in m for m in alert_events(incident))

    def test_an_acknowledged_incident_stays_open_and_the_timeline_shows_the_resolve(
        self, send_am, payments_rule, alice
    ):
        send_am(firing())
        incident_acknowledge(incident=Incident.objects.get(), actor=alice)

        send_am(resolved())

        incident = Incident.objects.get()
        assert incident.status == IncidentStatus.ACKNOWLEDGED
        assert Alert.objects.get().status == "resolved"
        assert any("Alert resolved at the source" in m for m in alert_events(incident))

    def test_the_incident_resolves_only_when_every_alert_has(self, send_am, payments_rule):
        send_am(firing())
        send_am(firing(fingerprint="dddd"))

        send_am(resolved())
        assert Incident.objects.get().status == IncidentStatus.TRIGGERED

        send_am(resolved(fingerprint="dddd"))
        assert Incident.objects.get().status == IncidentStatus.RESOLVED

    def test_a_repeated_resolve_changes_nothing_more(self, send_am, payments_rule):
        send_am(firing())
        send_am(resolved())
        events = TimelineEvent.objects.count()

        send_am(resolved())

        assert TimelineEvent.objects.count() == events
        assert Alert.objects.get().receive_count == 3

    def test_a_resolve_whose_firing_never_arrived_is_recorded_but_opens_nothing(
        self, send_am, payments_rule
    ):
        send_am(resolved())

        alert = Alert.objects.get()
        assert (alert.status, alert.incident) == ("resolved", None)
        assert Incident.objects.count() == 0


class TestEpisodes:
    def test_a_refire_while_the_incident_is_open_is_a_new_episode_on_it(
        self, send_am, payments_rule, alice
    ):
        send_am(firing())
        incident_acknowledge(incident=Incident.objects.get(), actor=alice)
        send_am(resolved())

        send_am(firing(starts_at="2026-11-27T09:30:00.000000001Z"))

        episodes = Alert.objects.filter(fingerprint="440d54076bcd8569").order_by("starts_at")
        assert [e.status for e in episodes] == ["resolved", "firing"]
        assert Incident.objects.count() == 1
        assert {e.incident_id for e in episodes} == {Incident.objects.get().pk}

    def test_a_refire_after_the_incident_resolved_opens_a_new_incident(
        self, send_am, payments_rule
    ):
        send_am(firing())
        send_am(resolved())  # nobody acknowledged: resolved with it

        send_am(firing(starts_at="2026-11-27T09:30:00Z"))

        first, second = Incident.objects.order_by("pk")
        assert (first.status, second.status) == ("resolved", "triggered")
        latest = Alert.objects.get(status="firing")
        assert latest.incident == second
        assert Alert.objects.filter(fingerprint="440d54076bcd8569").count() == 2

    def test_the_same_start_in_nanoseconds_is_the_same_episode(self, send_am, payments_rule):
        send_am(firing(starts_at="2026-11-27T09:21:14.639674242Z"))
        send_am(firing(starts_at="2026-11-27T09:21:14.639674999Z"))
        send_am(firing(starts_at="2026-11-27T10:21:14.639674+01:00"))

        assert Alert.objects.get().receive_count == 3

    def test_an_alert_that_fires_again_with_the_same_start_is_firing_again(
        self, send_am, payments_rule, alice
    ):
        send_am(firing())
        incident_acknowledge(incident=Incident.objects.get(), actor=alice)
        send_am(resolved())

        send_am(firing())  # resolve_timeout elapsed, then the rule kept firing

        alert = Alert.objects.get()
        assert (alert.status, alert.ends_at) == ("firing", None)
        assert any("fired again" in m for m in alert_events(Incident.objects.get()))


class TestTriage:
    def test_an_alert_no_rule_routes_waits_in_triage(self, send_am):
        send_am(sample("alertmanager-v4-firing.json"))

        alert = Alert.objects.get()
        assert alert.incident is None
        assert alert.severity.code == "P1"
        assert Incident.objects.count() == 0

    def test_the_source_default_service_routes_what_no_rule_matches(self, post_hook, payments):
        source, secret = make_source(
            AlertSource.Kind.ALERTMANAGER, "with default", default_service=payments
        )
        post_hook(hook_url("alertmanager", source), firing(), secret)

        assert Alert.objects.get().incident.services.get() == payments

    def test_group_alerts_waiting_in_triage_join_the_incident_the_group_gets(
        self, send_am, payments
    ):
        send_am(firing(labels={"service": "unknown"}))
        factories.ServiceFactory(name="Unknown", slug="unknown")
        from incidents.alerting.models import RoutingRule

        RoutingRule.objects.create(
            name="db", match_labels={"alertname": "PaymentsDown", "region": "eu"}, service=payments
        )
        send_am(firing(fingerprint="eeee", labels={"service": "unknown", "region": "eu"}))

        incident = Incident.objects.get()
        assert incident.alerts.count() == 2


class TestGrafana:
    def grafana_payload(self) -> dict:
        payload = firing(labels={"grafana_folder": "Payments"})
        payload.update(
            version="1",
            orgId=1,
            title="[FIRING:1] PaymentsDown",
            state="alerting",
            message="**Firing**",
        )
        payload["alerts"][0].update(
            dashboardURL="https://grafana.example.com/d/pay",
            panelURL="https://grafana.example.com/d/pay?viewPanel=2",
            silenceURL="https://grafana.example.com/alerting/silence/new",
            values={"B": 0.38},
            valueString="[ var='B' value=0.38 ]",
            generatorURL="javascript:alert(1)",
        )
        return payload

    def test_grafana_alerts_keep_their_dashboard_and_panel_links(self, post_hook, payments_rule):
        source, secret = make_source(AlertSource.Kind.GRAFANA, "grafana")

        response = post_hook(hook_url("grafana", source), self.grafana_payload(), secret)

        assert response.status_code == 200, response.content
        alert = Alert.objects.get()
        assert alert.dashboard_url == "https://grafana.example.com/d/pay"
        assert alert.panel_url == "https://grafana.example.com/d/pay?viewPanel=2"
        assert alert.details == {"values": {"B": 0.38}, "valueString": "[ var='B' value=0.38 ]"}
        assert alert.generator_url == ""  # only http(s) links are kept
        assert alert.incident is not None

    def test_a_grafana_source_posting_to_the_alertmanager_address_is_told_where_to_post(
        self, post_hook
    ):
        source, secret = make_source(AlertSource.Kind.GRAFANA, "grafana")

        response = post_hook(hook_url("alertmanager", source), self.grafana_payload(), secret)

        assert response.status_code == 404
        assert f"/hooks/grafana/{source.pk}/" in response.json()["detail"]
        assert Alert.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_repeats_outside_a_transaction_count_once_each(live_db, client):
    """Hooks run in autocommit, where a single-alert repeat is one UPDATE."""
    from tests.incidents.alerting.conftest import make_source

    service = factories.ServiceFactory(slug="payments-api")
    source, secret = make_source("alertmanager", default_service=service)

    def send(payload):
        return client.post(
            f"/hooks/alertmanager/{source.pk}/",
            payload,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
        )

    for _ in range(3):
        assert send(firing()).status_code == 200
    assert send(firing(fingerprint="bbbb000000000002")).status_code == 200

    counts = dict(Alert.objects.values_list("fingerprint", "receive_count"))
    assert counts == {"440d54076bcd8569": 3, "bbbb000000000002": 1}
    assert Incident.objects.count() == 1
