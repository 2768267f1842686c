"""Alert storms: more than N alert groups opening incidents on a service within M minutes.

Further alerts for the service join one storm incident, which pages once, resolves when every
member resolves, and takes the severity of its worst member.
"""

from datetime import datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import OperationalError
from django.db.models import F
from django.urls import reverse

from incidents.alerting.models import Alert, AlertSource, IncidentGrouping, RoutingRule
from incidents.alerting.services import ingest
from incidents.models import Incident, IncidentStatus
from incidents.services import (
    incident_acknowledge,
    incident_mitigate,
    incident_reopen,
    incident_role_assign,
    incident_start_investigating,
)
from tests.incidents.oncall.conftest import paging_team, people, team  # noqa: F401 (fixtures)

from .conftest import hook_url, make_source, sample
from .test_pages import text

pytestmark = pytest.mark.django_db


@pytest.fixture
def storm_at_three(settings):
    """The site's default: more than 3 alert groups within 5 minutes are a storm."""
    settings.FIREBREAK_STORM_THRESHOLD = 3
    settings.FIREBREAK_STORM_WINDOW_MINUTES = 5


def storms() -> list[IncidentGrouping]:
    return list(IncidentGrouping.objects.filter(kind="storm").order_by("pk"))


def incident_of(key: str) -> Incident:
    return Alert.objects.get(fingerprint=key).incident


def alerts_panel(response) -> str:
    """Return the words of the incident page's alerts panel only."""
    body = response.content.decode()
    start = body.index('<section id="alerts"')
    end = body.index("</section>", start)
    return text(SimpleNamespace(content=body[start:end].encode()))


def older(minutes: int) -> None:
    """Move every incident's detection this many minutes into the past."""
    shift = timedelta(minutes=minutes)
    Incident.objects.update(
        detected_at=F("detected_at") - shift, impact_started_at=F("impact_started_at") - shift
    )


class TestThreshold:
    def test_n_groups_open_their_own_incidents_the_next_starts_the_storm_later_ones_join(
        self, payments, send_check, storm_at_three
    ):
        for key in ("a", "b", "c"):
            send_check(key)
        assert Incident.objects.count() == 3
        assert storms() == []

        send_check("d")

        [storm] = storms()
        incident = storm.incident
        assert incident_of("d") == incident
        assert incident.title == "Alert storm on Payments API"
        assert storm.reason == (
            "4 alert groups opened incidents on Payments API within 5 minutes (more than 3)"
        )

        for key in ("e", "f", "g"):
            send_check(key)

        assert Incident.objects.count() == 4
        assert {incident_of(key).pk for key in "defg"} == {incident.pk}
        assert {incident_of(key).pk for key in "abc"}.isdisjoint({incident.pk})
        storm.refresh_from_db()
        assert storm.members == 4
        assert list(incident.services.all()) == [payments]

    def test_the_default_is_more_than_ten_groups(self, payments, send_check):
        for n in range(10):
            send_check(f"check-{n}")
        assert storms() == []

        send_check("check-10")
        send_check("check-11")

        [storm] = storms()
        assert Incident.objects.count() == 11
        assert storm.incident.alerts.count() == 2
        assert storm.reason.startswith("11 alert groups opened incidents on Payments API")

    def test_incidents_older_than_the_window_do_not_count(
        self, payments, send_check, storm_at_three
    ):
        for key in ("a", "b", "c"):
            send_check(key)
        older(6)

        send_check("d")
        send_check("e")

        assert storms() == []
        assert Incident.objects.count() == 5

    def test_a_repeat_of_a_known_group_is_not_a_new_group(
        self, payments, send_check, storm_at_three
    ):
        for key in ("a", "b", "c"):
            send_check(key)

        for _ in range(5):
            send_check("a")  # the same open alert, counted again

        assert storms() == []
        assert Alert.objects.get(fingerprint="a").receive_count == 6

    @pytest.mark.parametrize(
        ("threshold", "window"), [(0, 5), (3, 0)], ids=["threshold 0", "window 0"]
    )
    def test_zero_turns_storm_grouping_off(
        self, payments, send_check, storm_at_three, threshold, window
    ):
        payments.storm_threshold = threshold
        payments.storm_window_minutes = window
        payments.save()

        for n in range(15):
            send_check(f"check-{n}")

        assert storms() == []
        assert Incident.objects.count() == 15

    def test_the_site_default_of_zero_turns_it_off(self, payments, send_check, settings):
        settings.FIREBREAK_STORM_THRESHOLD = 0

        for n in range(12):
            send_check(f"check-{n}")

        assert storms() == []

    def test_the_service_setting_overrides_the_default(self, payments, send_check, storm_at_three):
        payments.storm_threshold = 1
        payments.storm_window_minutes = 60
        payments.save()
        send_check("a")
        older(30)  # inside the service's window, outside the default's

        send_check("b")

        [storm] = storms()
        assert storm.reason == (
            "2 alert groups opened incidents on Payments API within 60 minutes (more than 1)"
        )

    def test_a_routing_rule_overrides_the_service(self, payments, send_check, storm_at_three):
        RoutingRule.objects.create(
            name="Database checks",
            match_labels={"team": "db"},
            service=payments,
            storm_threshold=5,
        )
        for n in range(5):
            send_check(f"db-{n}", labels={"team": "db"})
        assert storms() == []

        send_check("db-5", labels={"team": "db"})

        [storm] = storms()
        assert incident_of("db-5") == storm.incident
        assert "(more than 5)" in storm.reason

    def test_a_routing_rule_turns_it_off_for_its_alerts(self, payments, send_check, storm_at_three):
        RoutingRule.objects.create(
            name="Synthetic checks",
            match_labels={"kind": "synthetic"},
            service=payments,
            storm_threshold=0,
        )
        for n in range(6):
            send_check(f"synthetic-{n}", labels={"kind": "synthetic"})
        assert storms() == []

        send_check("other")  # routed by no rule: the service's default applies

        assert incident_of("other") == storms()[0].incident

    def test_each_service_has_its_own_storm(self, payments, send_check, storm_at_three):
        from tests import factories

        factories.ServiceFactory(name="Checkout", slug="checkout", team=payments.team)
        for n in range(4):
            send_check(f"pay-{n}")
        send_check("checkout-0", service="checkout")

        [storm] = storms()
        assert storm.service == payments
        assert incident_of("checkout-0") != storm.incident


class TestStormIncident:
    @pytest.fixture
    def storm(self, payments, send_check, settings):
        """One own incident (a), then a storm opened by b and joined by c."""
        payments.storm_threshold = 1
        payments.save()
        for key in ("a", "b", "c"):
            send_check(key)
        return storms()[0]

    def test_joining_members_write_no_timeline_events_and_one_event_per_delivery(
        self, storm, send_check, grouped_events
    ):
        events_before = storm.incident.timeline.count()

        for n in range(20):
            send_check(f"joining-{n}")

        assert storm.incident.timeline.count() == events_before
        assert len(grouped_events) == 20
        assert [event.joined for event in grouped_events] == [1] * 20
        assert [event.members for event in grouped_events] == list(range(3, 23))
        assert {(e.incident_id, e.grouping_id, e.kind) for e in grouped_events} == {
            (storm.incident_id, storm.pk, "storm")
        }
        assert storm.incident.alerts.count() == 22

    def test_it_resolves_when_every_member_resolves_and_not_before(self, storm, send_check):
        send_check("b", resolved=True)
        storm.incident.refresh_from_db()
        assert storm.incident.status == IncidentStatus.TRIGGERED

        send_check("c", resolved=True)

        storm.refresh_from_db()
        assert storm.incident.status == IncidentStatus.RESOLVED
        assert not storm.is_open
        resolved = storm.incident.timeline.get(kind="resolved")
        assert resolved.message == "Every member alert resolved at the source."
        # Member resolutions write no events of their own.
        assert not storm.incident.timeline.filter(message__contains="resolved at the source:")

    def test_an_acknowledged_storm_resolves_too(self, storm, send_check, alice):
        incident_acknowledge(incident=storm.incident, actor=alice)

        send_check("b", resolved=True)
        send_check("c", resolved=True)

        storm.incident.refresh_from_db()
        assert storm.incident.status == IncidentStatus.RESOLVED

    @pytest.mark.parametrize("status", ["investigating", "mitigated"])
    def test_a_storm_being_worked_stays_open_with_a_note(self, storm, send_check, alice, status):
        incident_role_assign(incident=storm.incident, actor=alice, role="commander", user=alice)
        incident_start_investigating(incident=storm.incident, actor=alice)
        if status == "mitigated":
            incident_mitigate(incident=storm.incident, actor=alice)

        send_check("b", resolved=True)
        send_check("c", resolved=True)

        storm.incident.refresh_from_db()
        assert storm.incident.status == status
        assert (
            storm.incident.timeline.filter(
                kind="alert", message__startswith="Every member alert has resolved at the source"
            ).count()
            == 1
        )

    def test_after_it_resolves_the_next_alerts_start_a_new_storm(self, storm, send_check):
        send_check("b", resolved=True)
        send_check("c", resolved=True)

        send_check("d")
        send_check("e")

        first, second = storms()
        assert (first.is_open, second.is_open) == (False, True)
        assert incident_of("d") == incident_of("e") == second.incident
        assert second.incident != first.incident

    def test_a_reopened_storm_collects_alerts_again(self, storm, send_check, alice):
        send_check("b", resolved=True)
        send_check("c", resolved=True)
        incident_reopen(incident=storm.incident, actor=alice, reason="Still failing")

        send_check("d")

        storm.refresh_from_db()
        assert storm.is_open
        assert incident_of("d") == storm.incident
        assert len(storms()) == 1

    def test_a_storm_reopened_after_a_new_one_started_stays_closed(self, storm, send_check, alice):
        send_check("b", resolved=True)
        send_check("c", resolved=True)
        send_check("d")  # a new storm
        incident_reopen(incident=storm.incident, actor=alice, reason="Still failing")

        send_check("e")

        first, second = storms()
        assert (first.is_open, second.is_open) == (False, True)
        assert incident_of("e") == second.incident

    def test_a_member_of_a_known_group_follows_the_storm(self, storm, send_check):
        send_check("b", resolved=True)

        send_check("b")  # the same key fires again while the storm is open

        episodes = Alert.objects.filter(fingerprint="b")
        assert [a.status for a in episodes.order_by("pk")] == ["resolved", "firing"]
        assert {a.incident_id for a in episodes} == {storm.incident_id}
        storm.refresh_from_db()
        assert storm.members == 3

    def test_a_more_severe_member_raises_the_severity_with_a_reason(
        self, storm, send_check, grouped_events
    ):
        assert storm.incident.severity.code == "P3"

        send_check("fire", severity="critical", title="Card payments failing")

        storm.incident.refresh_from_db()
        assert (storm.incident.severity.code, storm.incident.peak_severity.code) == ("P1", "P1")
        changed = storm.incident.timeline.get(kind="severity_changed")
        assert changed.message == (
            "Raised severity P3 → P1: a P1 alert joined the alert storm: Card payments failing"
        )
        assert changed.actor is None and changed.source == "alert"
        assert len(grouped_events) == 1

        send_check("milder", severity="error")  # P2: never lowers it

        storm.incident.refresh_from_db()
        assert storm.incident.severity.code == "P1"
        assert storm.incident.timeline.filter(kind="severity_changed").count() == 1

    def test_a_flapping_member_reopens_the_storm_and_is_counted(
        self, storm, send_check, client, alice, grouped_events
    ):
        send_check("b", resolved=True)
        send_check("c", resolved=True)
        assert Incident.objects.get(pk=storm.incident_id).status == IncidentStatus.RESOLVED

        send_check("c")  # fires again at once: a new episode of the key, on the reopened storm
        send_check("d")

        storm.refresh_from_db()
        assert storm.is_open
        assert storm.incident.status == IncidentStatus.TRIGGERED
        assert storm.members == storm.incident.alerts.count() == 4
        assert [(e.joined, e.members) for e in grouped_events] == [(1, 3), (1, 4)]
        client.force_login(alice)
        panel = alerts_panel(client.get(reverse("incidents:detail", args=[storm.incident_id])))
        assert "; 4 alerts have joined since" in panel


BERLIN = ZoneInfo("Europe/Berlin")


def test_a_storm_pages_once_and_a_p1_joining_pages_per_p1_rules(
    paging_team,  # noqa: F811
    people,  # noqa: F811
    send_check,
    clock,
    django_capture_on_commit_callbacks,
):
    from incidents.models import Service

    clock.at(datetime(2026, 3, 4, 10, 0, tzinfo=BERLIN))  # a Wednesday: P3 pages too
    Service.objects.create(
        name="Payments API", slug="payments-api", team=paging_team, storm_threshold=1
    )

    def deliver(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            send_check(*args, **kwargs)
        clock.sweep()

    deliver("a")
    deliver("b")  # starts the storm
    for n in range(5):
        deliver(f"joining-{n}")

    [storm] = storms()
    pages = [m for m in mail.outbox if "PAGE" in m.subject]
    assert [m.to for m in pages] == [["olga@example.com"]] * 2  # a's incident, the storm
    assert sum(storm.incident.reference in m.subject for m in pages) == 1

    deliver("fire", severity="critical")
    clock.advance(timedelta(minutes=6))  # nobody acknowledges
    clock.sweep()

    storm.incident.refresh_from_db()
    assert storm.incident.severity.code == "P1"
    # P1: the EM and the VP are told at once, and the EM is paged 5 minutes in (P3 never).
    told = {
        (m.to[0], m.subject.split()[1])
        for m in mail.outbox
        if storm.incident.reference in m.subject
    }
    assert ("erin@example.com", "FYI") in told
    assert ("victor@example.com", "FYI") in told
    assert ("erin@example.com", "PAGE") in told


class TestIncidentPage:
    def test_the_page_explains_the_storm_and_lists_its_members(
        self, client, alice, payments, send_check, storm_at_three
    ):
        for n in range(9):
            send_check(f"check-{n}")
        storm = storms()[0]
        client.force_login(alice)

        page = text(client.get(reverse("incidents:detail", args=[storm.incident_id])))

        opened = storm.opened_at.astimezone(ZoneInfo("UTC")).strftime("%H:%M")
        assert (
            "Grouped as an alert storm: 4 alert groups opened incidents on Payments API within "
            f"5 minutes (more than 3); 6 alerts have joined since {opened}"
        ) in page
        assert "Alerts (6 firing of 6)" in page
        for n in range(3, 9):
            assert f"check-{n} failing" in page

    def test_a_large_storm_is_listed_a_page_at_a_time(
        self, client, alice, payments, send_check, settings
    ):
        payments.storm_threshold = 1
        payments.save()
        for n in range(62):
            send_check(f"check-{n:02}")
        storm = storms()[0]
        client.force_login(alice)
        url = reverse("incidents:detail", args=[storm.incident_id])

        first = alerts_panel(client.get(url))
        second = alerts_panel(client.get(url + "?alerts=2"))

        assert "Alerts (61 firing of 61)" in first
        assert "Alerts 1 to 50 of 61, firing first" in first
        assert "More alerts" in first
        assert "Alerts 51 to 61 of 61, firing first" in second
        assert "Previous alerts" in second
        shown = [n for n in range(1, 62) if f"check-{n:02} failing" in first]
        rest = [n for n in range(1, 62) if f"check-{n:02} failing" in second]
        assert (len(shown), len(rest)) == (50, 11)
        assert set(shown).isdisjoint(rest)

    def test_an_ordinary_incident_explains_no_grouping(self, client, alice, payments, send_check):
        send_check("a")
        client.force_login(alice)

        page = text(client.get(reverse("incidents:detail", args=[incident_of("a").pk])))

        assert "Grouped" not in page
        assert "More alerts" not in page


class TestAcknowledgedAtTheSource:
    """PagerDuty `acknowledge` events for members of a grouped incident (alert storm)."""

    @pytest.fixture
    def send_pd(self, post_hook, payments):
        """Send a PagerDuty event for Payments API, a P3 unless told otherwise."""
        payments.storm_threshold = 1
        payments.save()
        RoutingRule.objects.create(
            name="Payments API", match_labels={"component": "payments-api"}, service=payments
        )
        _, routing_key = make_source(AlertSource.Kind.PAGERDUTY, "pagerduty-compatible")

        def send(action: str, key: str, severity: str = "warning"):
            event = sample("pagerduty-events-v2-trigger.json")
            event.update(routing_key=routing_key, event_action=action, dedup_key=key)
            if action == "trigger":
                event["payload"]["severity"] = severity
                event["payload"]["summary"] = f"{key} failing"
            else:
                del event["payload"]
            response = post_hook(hook_url("pagerduty"), event)
            assert response.status_code == 202, response.content
            return response.json()

        return send

    @pytest.fixture
    def storm(self, send_pd):
        """One own incident (a), then a storm opened by b and joined by c and d."""
        for key in ("a", "b", "c", "d"):
            send_pd("trigger", key)
        [storm] = storms()
        assert set(storm.incident.alerts.values_list("fingerprint", flat=True)) == {"b", "c", "d"}
        return storm

    def test_one_members_acknowledgement_leaves_the_storm_triggered_and_writes_nothing(
        self, storm, send_pd
    ):
        events_before = storm.incident.timeline.count()

        send_pd("acknowledge", "b")

        storm.incident.refresh_from_db()
        assert storm.incident.status == IncidentStatus.TRIGGERED
        assert storm.incident.acknowledged_at is None
        assert storm.incident.timeline.count() == events_before
        assert Alert.objects.get(fingerprint="b").acknowledged_at is not None

    def test_the_storm_is_acknowledged_when_every_firing_member_is(self, storm, send_pd):
        send_pd("acknowledge", "b")
        send_pd("resolve", "c")  # a resolved member needs no acknowledgement
        storm.incident.refresh_from_db()
        assert storm.incident.status == IncidentStatus.TRIGGERED

        send_pd("acknowledge", "d")

        storm.incident.refresh_from_db()
        assert storm.incident.status == IncidentStatus.ACKNOWLEDGED
        event = storm.incident.timeline.get(kind="acknowledged")
        assert (event.actor, event.source, event.message) == (
            None,
            "alert",
            "Acknowledged by the alert source",
        )

    def test_a_member_joining_unacknowledged_keeps_it_triggered(self, storm, send_pd):
        for key in ("b", "c"):
            send_pd("acknowledge", key)
        send_pd("trigger", "e")

        send_pd("acknowledge", "d")

        storm.incident.refresh_from_db()
        assert storm.incident.status == IncidentStatus.TRIGGERED

    def test_an_ungrouped_incident_is_acknowledged_by_its_alert(self, storm, send_pd):
        send_pd("acknowledge", "a")

        assert incident_of("a").status == IncidentStatus.ACKNOWLEDGED


def test_a_p1_joining_an_acknowledged_p3_storm_tells_the_p1s_people_and_pages_nobody_again(
    paging_team,  # noqa: F811
    people,  # noqa: F811
    send_check,
    clock,
    django_capture_on_commit_callbacks,
):
    """As at PagerDuty: alerts joining an acknowledged incident don't page its responders again.

    The raised severity's notify list (the EM and the VP for a P1) still hears of it.
    """
    from incidents.models import Service
    from incidents.oncall.models import Page

    clock.at(datetime(2026, 3, 4, 10, 0, tzinfo=BERLIN))  # a Wednesday: P3 pages too
    Service.objects.create(
        name="Payments API", slug="payments-api", team=paging_team, storm_threshold=1
    )

    def deliver(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            send_check(*args, **kwargs)
        clock.sweep()

    deliver("a")
    deliver("b")  # starts the storm, which pages Olga
    [storm] = storms()
    with django_capture_on_commit_callbacks(execute=True):
        incident_acknowledge(incident=storm.incident, actor=people.oncall)
    clock.sweep()
    pages_before = set(Page.objects.filter(incident=storm.incident).values_list("pk", flat=True))
    mail.outbox.clear()

    deliver("fire", severity="critical", title="Card payments failing")
    for _ in range(6):  # an hour: any P1 escalation step would have fired
        clock.advance(timedelta(minutes=10))
        clock.sweep()

    storm.incident.refresh_from_db()
    assert (storm.incident.severity.code, storm.incident.status) == ("P1", "acknowledged")
    new_pages = Page.objects.filter(incident=storm.incident).exclude(pk__in=pages_before)
    assert {(page.recipient.username, page.kind) for page in new_pages} == {
        ("erin", Page.Kind.NOTIFY),
        ("victor", Page.Kind.NOTIFY),
    }
    told = {
        (m.to[0], m.subject.split()[1])
        for m in mail.outbox
        if storm.incident.reference in m.subject and {"PAGE", "FYI"} & set(m.subject.split())
    }
    assert told == {("erin@example.com", "FYI"), ("victor@example.com", "FYI")}


class TestAbortedDeliveries:
    """A delivery PostgreSQL aborts as a deadlock's victim is applied once more."""

    @pytest.fixture
    def aborting(self, monkeypatch):
        """Make the first `times` applications fail with this SQLSTATE, as psycopg reports it."""
        real = ingest._trigger
        calls: list[int] = []

        class PsycopgError(Exception):
            def __init__(self, sqlstate: str):
                super().__init__("aborted")
                self.sqlstate = sqlstate

        def arrange(sqlstate: str, times: int = 1) -> list[int]:
            def trigger(*args, **kwargs):
                calls.append(1)
                if len(calls) <= times:
                    raise OperationalError("aborted") from PsycopgError(sqlstate)
                return real(*args, **kwargs)

            monkeypatch.setattr(ingest, "_trigger", trigger)
            return calls

        return arrange

    @pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
    def test_a_deadlock_or_serialization_failure_is_applied_again(
        self, payments, send_check, aborting, sqlstate
    ):
        calls = aborting(sqlstate)

        send_check("a")

        assert len(calls) == 2
        assert incident_of("a").status == IncidentStatus.TRIGGERED

    def test_only_once(self, payments, aborting):
        calls = aborting("40P01", times=2)
        source, _ = make_source(AlertSource.Kind.GENERIC, "checks")

        with pytest.raises(OperationalError):
            ingest.generic_ingest(source=source, payload={"title": "a", "service": "payments-api"})
        assert len(calls) == 2
        assert not Alert.objects.exists()

    def test_other_errors_are_not_retried(self, payments, aborting):
        calls = aborting("57014")  # a statement timeout
        source, _ = make_source(AlertSource.Kind.GENERIC, "checks")

        with pytest.raises(OperationalError):
            ingest.generic_ingest(source=source, payload={"title": "a", "service": "payments-api"})
        assert len(calls) == 1
