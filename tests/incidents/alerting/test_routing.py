"""Routing rules and the default severity mapping."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from incidents.alerting.formats import parse_timestamp
from incidents.alerting.models import Alert, AlertSource, RoutingRule
from incidents.alerting.routing import Router
from incidents.models import Incident, Severity
from tests import factories

from .conftest import firing, make_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def router(db):
    source, _ = make_source(AlertSource.Kind.ALERTMANAGER, "am")
    return Router(source)


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("critical", "P1"),
        ("CRITICAL", "P1"),
        ("error", "P2"),
        ("high", "P2"),
        ("warning", "P3"),
        ("info", "P4"),
        ("p2", "P2"),
    ],
)
def test_the_default_severity_mapping(router, label, code):
    severity, note = router.severity(label)

    assert (severity.code, note) == (code, "")


@pytest.mark.parametrize(
    ("label", "note"),
    [
        ("", "No severity given: P3 by default."),
        ("page", 'Unknown severity "page": P3 by default.'),
    ],
)
def test_a_missing_or_unknown_severity_is_p3_and_says_so(router, label, note):
    severity, said = router.severity(label)

    assert (severity.code, said) == ("P3", note)


def test_the_source_default_severity_replaces_p3_for_unknown_words(db):
    source, _ = make_source(
        AlertSource.Kind.ALERTMANAGER, "am", default_severity=Severity.objects.get(code="P2")
    )

    severity, note = Router(source).severity("page")

    assert (severity.code, note) == ("P2", 'Unknown severity "page": P2, the source\'s default.')


def test_an_unknown_severity_is_written_on_the_incident_timeline(send_am, payments_rule):
    send_am(firing(labels={"severity": "page"}))

    incident = Incident.objects.get()
    assert incident.severity.code == "P3"
    assert incident.timeline.filter(
        kind="alert", message__contains='Unknown severity "page": P3 by default.'
    ).exists()


class TestRules:
    def test_the_first_matching_rule_by_position_wins(self, router, payments):
        other = factories.ServiceFactory(name="Checkout", slug="checkout")
        RoutingRule.objects.create(
            position=20, name="later", match_labels={"service": "payments"}, service=other
        )
        RoutingRule.objects.create(
            position=10, name="first", match_labels={"service": "payments"}, service=payments
        )

        route = router.route(labels={"service": "payments"}, severity_label="")

        assert (route.service, route.rule.name) == (payments, "first")

    def test_every_matcher_must_hold(self, router, payments):
        RoutingRule.objects.create(
            name="eu payments",
            match_labels={"service": "payments", "region": "eu"},
            service=payments,
        )

        assert router.route(labels={"service": "payments"}, severity_label="").service is None
        assert (
            router.route(labels={"service": "payments", "region": "eu"}, severity_label="").service
            == payments
        )

    def test_regex_matchers_are_anchored(self, router, payments):
        RoutingRule.objects.create(name="db", match_regex={"instance": "db-.*"}, service=payments)

        assert router.route(labels={"instance": "db-7"}, severity_label="").service == payments
        assert router.route(labels={"instance": "old-db-7"}, severity_label="").service is None

    def test_a_rule_can_override_the_severity(self, router, payments):
        RoutingRule.objects.create(
            name="payments",
            match_labels={"service": "payments"},
            service=payments,
            severity=Severity.objects.get(code="P2"),
        )

        route = router.route(labels={"service": "payments"}, severity_label="critical")

        assert route.severity.code == "P2"

    def test_a_rule_for_another_source_or_an_inactive_rule_does_not_match(self, router, payments):
        other_source, _ = make_source(AlertSource.Kind.ALERTMANAGER, "other")
        RoutingRule.objects.create(
            name="other's", source=other_source, match_labels={}, service=payments
        )
        RoutingRule.objects.create(name="off", is_active=False, match_labels={}, service=payments)

        assert router.route(labels={}, severity_label="").service is None

    def test_an_empty_rule_catches_everything(self, router, payments):
        RoutingRule.objects.create(name="catch-all", position=999, service=payments)

        assert router.route(labels={"x": "y"}, severity_label="").service == payments

    def test_a_rule_routes_an_alert_end_to_end(self, send_am, payments):
        RoutingRule.objects.create(
            name="by alertname", match_labels={"alertname": "PaymentsDown"}, service=payments
        )

        send_am(firing())

        alert = Alert.objects.get()
        assert (alert.service, alert.routing_rule.name) == (payments, "by alertname")
        assert alert.incident.services.get() == payments

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("match_labels", {"service": 1}),
            ("match_labels", ["service"]),
            ("match_regex", {"instance": "db-("}),
        ],
    )
    def test_malformed_matchers_are_refused(self, payments, field, value):
        rule = RoutingRule(name="bad", service=payments, **{field: value})

        with pytest.raises(ValidationError):
            rule.full_clean()


class TestEditsWhileAlertsArrive:
    """Each process routes with a copy of the rules; an edit shows on the next alert."""

    def other_alert(self, number: int) -> dict:
        return firing(
            fingerprint=f"ffff00000000000{number}",
            groupKey=f'{{}}:{{alertname="Other{number}"}}',
            labels={"alertname": f"Other{number}"},
        )

    def test_a_rule_added_routes_the_next_alert(self, send_am, payments):
        send_am(self.other_alert(1))
        RoutingRule.objects.create(name="payments", match_labels={}, service=payments)

        send_am(self.other_alert(2))

        routed = dict(Alert.objects.values_list("fingerprint", "service__slug"))
        assert routed == {"ffff000000000001": None, "ffff000000000002": payments.slug}

    def test_a_rule_changed_or_deleted_routes_no_more(self, send_am, payments):
        rule = RoutingRule.objects.create(name="payments", match_labels={}, service=payments)
        send_am(self.other_alert(1))
        rule.match_labels = {"service": "nothing-sends-this"}
        rule.save()
        send_am(self.other_alert(2))
        rule.delete()

        send_am(self.other_alert(3))

        routed = dict(Alert.objects.values_list("fingerprint", "service__slug"))
        assert routed == {
            "ffff000000000001": payments.slug,
            "ffff000000000002": None,
            "ffff000000000003": None,
        }

    def test_a_severity_renamed_in_the_policy_is_used_by_the_next_alert(self, send_am):
        send_am(self.other_alert(1))
        p2 = Severity.objects.get(code="P2")
        Severity.objects.filter(code="P1").update(code="P1-old")
        p2.code = "P1"  # "critical" maps to P1: now this row
        p2.save()

        send_am(self.other_alert(2))

        severities = dict(Alert.objects.values_list("fingerprint", "severity__name"))
        assert severities["ffff000000000002"] == p2.name
        assert severities["ffff000000000001"] != p2.name

    def test_an_edit_made_by_another_process_shows_once_the_copy_is_old(
        self, send_am, payments, monkeypatch
    ):
        from incidents.alerting import routing

        rule = RoutingRule.objects.create(name="payments", match_labels={}, service=payments)
        send_am(self.other_alert(1))
        # What another process's edit looks like here: no signal, only the row changes.
        RoutingRule.objects.filter(pk=rule.pk).update(is_active=False)
        monkeypatch.setattr(routing, "POLICY_SECONDS", 0)

        send_am(self.other_alert(2))

        routed = dict(Alert.objects.values_list("fingerprint", "service__slug"))
        assert routed == {"ffff000000000001": payments.slug, "ffff000000000002": None}


class TestTimestamps:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2026-11-27T09:21:14.639674242Z", datetime(2026, 11, 27, 9, 21, 14, 639674, UTC)),
            ("2026-11-27T09:21:19Z", datetime(2026, 11, 27, 9, 21, 19, tzinfo=UTC)),
            ("2026-11-27T09:21:14.639+00:00", datetime(2026, 11, 27, 9, 21, 14, 639000, UTC)),
            ("2026-11-27T10:21:14.1234567+01:00", datetime(2026, 11, 27, 9, 21, 14, 123456, UTC)),
            ("2026-11-27T09:21:14", datetime(2026, 11, 27, 9, 21, 14, tzinfo=UTC)),
            ("0001-01-01T00:00:00Z", None),
        ],
    )
    def test_rfc3339_with_nanoseconds_and_go_zero_time(self, text, expected):
        assert parse_timestamp(text) == expected

    @pytest.mark.parametrize("text", ["soon", "2026-13-01T00:00:00Z", "9999-12-31T23:59:59Z"])
    def test_what_is_not_a_time_is_refused(self, text):
        with pytest.raises(ValueError):
            parse_timestamp(text)
