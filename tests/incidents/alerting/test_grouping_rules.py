"""Grouping rules: alerts a rule routes with equal values of its labels join one open incident."""

from datetime import timedelta

import pytest
from django.urls import reverse

from incidents.alerting.models import Alert, AlertSource, IncidentGrouping, RoutingRule
from incidents.models import Incident, IncidentStatus

from .conftest import hook_url, make_source, sample
from .test_pages import text

pytestmark = pytest.mark.django_db


def incident_of(key: str) -> Incident:
    return Alert.objects.get(fingerprint=key).incident


@pytest.fixture
def critical_rule(payments):
    return RoutingRule.objects.create(
        name="Payments critical",
        match_labels={"service": "payments-api"},
        service=payments,
        group_by=["cluster", "alertname"],
    )


class TestGenericAlerts:
    def test_equal_label_values_join_one_incident(self, critical_rule, send_check):
        latency = {"cluster": "eu-1", "alertname": "HighLatency"}
        send_check("a", labels=latency)
        send_check("b", labels=latency)
        send_check("c", labels={"cluster": "us-1", "alertname": "HighLatency"})
        send_check("d", labels={"cluster": "eu-1", "alertname": "ErrorRate"})

        assert Incident.objects.count() == 3
        assert incident_of("a") == incident_of("b")
        grouping = IncidentGrouping.objects.get(incident=incident_of("a"))
        assert (grouping.kind, grouping.rule, grouping.members) == ("labels", critical_rule, 2)
        assert grouping.reason == (
            "Grouped by cluster=eu-1, alertname=HighLatency (rule 'Payments critical')"
        )
        assert grouping.labels == latency

    def test_a_missing_label_counts_as_empty(self, critical_rule, send_check):
        send_check("a", labels={"alertname": "HighLatency"})
        send_check("b", labels={"alertname": "HighLatency"})

        assert incident_of("a") == incident_of("b")
        assert IncidentGrouping.objects.get().reason == (
            "Grouped by cluster (none), alertname=HighLatency (rule 'Payments critical')"
        )

    def test_a_rule_without_labels_to_group_by_groups_nothing(self, payments, send_check):
        RoutingRule.objects.create(
            name="Payments", match_labels={"service": "payments-api"}, service=payments
        )
        send_check("a", labels={"cluster": "eu-1"})
        send_check("b", labels={"cluster": "eu-1"})

        assert Incident.objects.count() == 2
        assert not IncidentGrouping.objects.exists()

    def test_members_write_no_timeline_events_and_resolve_the_incident_together(
        self, critical_rule, send_check, grouped_events
    ):
        labels = {"cluster": "eu-1", "alertname": "HighLatency"}
        send_check("a", labels=labels)
        incident = incident_of("a")
        events_before = incident.timeline.count()
        send_check("b", labels=labels)
        send_check("c", labels=labels)
        assert incident.timeline.count() == events_before
        assert [(e.kind, e.joined, e.members) for e in grouped_events] == [
            ("labels", 1, 2),
            ("labels", 1, 3),
        ]

        send_check("a", resolved=True)
        send_check("b", resolved=True)
        incident.refresh_from_db()
        assert incident.status == IncidentStatus.TRIGGERED
        send_check("c", resolved=True)

        incident.refresh_from_db()
        assert incident.status == IncidentStatus.RESOLVED
        assert not IncidentGrouping.objects.get().is_open
        send_check("d", labels=labels)  # a new incident, grouped afresh
        assert incident_of("d") != incident
        assert IncidentGrouping.objects.filter(is_open=True).get().incident == incident_of("d")

    def test_a_flapping_member_reopens_the_grouped_incident_which_groups_again(
        self, critical_rule, send_check, clock, grouped_events
    ):
        labels = {"cluster": "eu-1", "alertname": "HighLatency"}
        send_check("a", labels=labels)
        send_check("a", resolved=True)
        incident = incident_of("a")
        clock.advance(timedelta(minutes=2))

        send_check("a", labels=labels)  # flaps: a new episode of the key, a member too
        send_check("b", labels=labels)

        incident.refresh_from_db()
        assert (Incident.objects.count(), incident.status) == (1, "triggered")
        assert incident_of("b") == incident
        grouping = IncidentGrouping.objects.get()
        assert grouping.is_open
        assert grouping.members == incident.alerts.count() == 3
        assert [(e.joined, e.members) for e in grouped_events] == [(1, 2), (1, 3)]

    def test_a_more_severe_member_raises_the_severity(self, critical_rule, send_check):
        labels = {"cluster": "eu-1", "alertname": "HighLatency"}
        send_check("a", labels=labels)

        send_check("b", labels=labels, severity="critical", title="Latency 10 s")

        incident = incident_of("a")
        assert incident.severity.code == "P1"
        assert incident.timeline.get(kind="severity_changed").message == (
            "Raised severity P3 → P1: a P1 alert joined the grouped incident: Latency 10 s"
        )

    def test_after_the_window_the_next_alert_opens_a_new_incident(
        self, critical_rule, send_check, clock
    ):
        critical_rule.group_window_minutes = 10
        critical_rule.save()
        labels = {"cluster": "eu-1", "alertname": "HighLatency"}
        send_check("a", labels=labels)
        clock.advance(timedelta(minutes=9))
        send_check("b", labels=labels)
        clock.advance(timedelta(minutes=2))

        send_check("c", labels=labels)

        assert incident_of("a") == incident_of("b") != incident_of("c")
        first, second = IncidentGrouping.objects.order_by("pk")
        assert (first.is_open, second.is_open) == (False, True)

    def test_grouped_alerts_count_as_one_group_towards_a_storm(
        self, critical_rule, send_check, settings
    ):
        settings.FIREBREAK_STORM_THRESHOLD = 2
        labels = {"cluster": "eu-1", "alertname": "HighLatency"}

        for key in "abcdef":
            send_check(key, labels=labels)

        assert Incident.objects.count() == 1
        assert not IncidentGrouping.objects.filter(kind="storm").exists()


def test_pagerduty_events_are_grouped_by_their_fields(post_hook, payments):
    RoutingRule.objects.create(
        name="Payments API",
        match_labels={"component": "payments-api"},
        service=payments,
        group_by=["class", "group"],
    )
    _, routing_key = make_source(AlertSource.Kind.PAGERDUTY, "pd")

    def trigger(dedup_key: str, event_class: str) -> None:
        event = sample("pagerduty-events-v2-trigger.json")
        event.update(routing_key=routing_key, dedup_key=dedup_key)
        event["payload"]["class"] = event_class
        assert post_hook(hook_url("pagerduty"), event).status_code == 202

    trigger("pay-1", "http-5xx")
    trigger("pay-2", "http-5xx")
    trigger("pay-3", "latency")

    assert incident_of("pay-1") == incident_of("pay-2") != incident_of("pay-3")
    assert IncidentGrouping.objects.get(incident=incident_of("pay-1")).reason == (
        "Grouped by class=http-5xx, group=production (rule 'Payments API')"
    )


def test_the_incident_page_explains_the_grouping(client, alice, critical_rule, send_check):
    labels = {"cluster": "eu-1", "alertname": "HighLatency"}
    for key in "abc":
        send_check(key, labels=labels)
    client.force_login(alice)

    page = text(client.get(reverse("incidents:detail", args=[incident_of("a").pk])))

    assert (
        "Grouped by cluster=eu-1, alertname=HighLatency (rule 'Payments critical'); "
        "3 alerts have joined since"
    ) in page
    assert "Alerts (3 firing of 3)" in page


class TestAdmin:
    def post_rule(self, client, payments, **fields):
        data = {
            "position": 0,
            "name": "Payments critical",
            "is_active": "on",
            "match_labels": '{"service": "payments-api"}',
            "match_regex": "{}",
            "service": payments.pk,
            "group_by": "",
            "group_window_minutes": "",
            "storm_threshold": "",
            "storm_window_minutes": "",
        }
        data.update(fields)
        return client.post(reverse("admin:alerting_routingrule_add"), data)

    def test_labels_are_written_separated_by_commas(self, client, staff_user, payments):
        client.force_login(staff_user)

        response = self.post_rule(
            client, payments, group_by=" cluster, alertname ", group_window_minutes="30"
        )

        assert response.status_code == 302, text(response)
        rule = RoutingRule.objects.get()
        assert (rule.group_by, rule.group_window_minutes) == (["cluster", "alertname"], 30)
        page = text(client.get(reverse("admin:alerting_routingrule_change", args=[rule.pk])))
        assert "cluster, alertname" in page
        assert "Label names separated by commas" in page
        assert "Overrides the service's storm threshold" in page

    @pytest.mark.parametrize(
        ("fields", "error"),
        [
            ({"group_by": "cluster,,alertname"}, "A label name is missing between two commas"),
            ({"group_by": "cluster, alert name"}, "'alert name' is not a label name"),
            ({"group_by": "cluster, cluster"}, "cluster is named more than once"),
            (
                {"group_by": ", ".join(f"l{n}" for n in range(11))},
                "Group by at most 10 labels",
            ),
            ({"group_window_minutes": "15"}, "A grouping window needs labels to group by"),
            ({"group_by": "cluster", "group_window_minutes": "0"}, "greater than or equal to 1"),
            ({"storm_threshold": "-1"}, "greater than or equal to 0"),
        ],
    )
    def test_bad_grouping_settings_are_refused_with_a_clear_error(
        self, client, staff_user, payments, fields, error
    ):
        client.force_login(staff_user)

        response = self.post_rule(client, payments, **fields)

        assert response.status_code == 200
        assert error in text(response)
        assert not RoutingRule.objects.exists()

    def test_groupings_are_listed_read_only(self, client, staff_user, critical_rule, send_check):
        send_check("a", labels={"cluster": "eu-1", "alertname": "HighLatency"})
        grouping = IncidentGrouping.objects.get()
        client.force_login(staff_user)

        listing = text(client.get(reverse("admin:alerting_incidentgrouping_changelist")))
        page = client.get(reverse("admin:alerting_incidentgrouping_change", args=[grouping.pk]))

        assert grouping.incident.reference in listing
        assert "Grouping rule" in listing
        assert page.status_code == 200
        assert "Save" not in text(page)

    def test_the_service_page_shows_the_storm_and_flapping_settings(
        self, client, staff_user, payments
    ):
        client.force_login(staff_user)
        url = reverse("admin:incidents_service_change", args=[payments.pk])

        page = text(client.get(url))

        assert "Alert storms and flapping" in page
        assert "0 turns storm grouping off" in page
        assert "reopens its resolved incident" in page
