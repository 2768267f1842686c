"""On-call health figures on hand-built data whose answers are worked out in the comments.

Percentiles are PostgreSQL's percentile_cont: sorted values v[0..n-1], position p·(n-1), linear
interpolation between the two closest ranks. The same tests run on SQLite (Python) and on
PostgreSQL (aggregated in the database).
"""

import random
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.health import metrics
from incidents.health.metrics import (
    AlertQuality,
    Durations,
    NoisyAlert,
    PersonWeek,
    RotationWeek,
    TrendPoint,
    false_positive_total,
    false_positives,
    noisy_alerts,
    pages_per_person,
    pages_per_rotation,
    response_times,
    weekly_trend,
    window_for,
)
from incidents.health.models import ToilFollowUp
from incidents.models import Severity, Source
from incidents.oncall.models import Page
from incidents.services import (
    incident_acknowledge,
    incident_change_severity,
    incident_reopen,
    incident_resolve,
    incident_trigger,
)
from postmortems.models import ActionItem

from .builders import BERLIN, UTC, at, minutes

NOTHING = Durations(count=0, median=None, p90=None, mean=None)


def durations(count: int, median: float, p90: float, mean: float) -> Durations:
    """Return Durations given in minutes."""
    return Durations(count=count, median=minutes(median), p90=minutes(p90), mean=minutes(mean))


class TestResponseTimes:
    @pytest.fixture
    def week(self, build):
        """Six incidents in the week of 2026-11-02 (UTC), five opened by an alert."""
        # Minutes after detection: acknowledged, resolved; minutes the detection was late.
        # A, B, C: opened by alerts, acknowledged and resolved.
        build.incident(
            at("2026-11-02 10:00"),
            code="P2",
            acknowledged=minutes(1),
            resolved=minutes(30),
            detection_delay=minutes(5),
        )
        build.incident(
            at("2026-11-03 10:00"), code="P2", acknowledged=minutes(2), resolved=minutes(60)
        )
        build.incident(
            at("2026-11-04 10:00"),
            code="P1",
            acknowledged=minutes(4),
            resolved=minutes(120),
            detection_delay=minutes(15),
        )
        # D: never resolved; detected exactly 10 minutes late.
        build.incident(
            at("2026-11-05 10:00"), code="P3", acknowledged=minutes(10), detection_delay=minutes(10)
        )
        # E: never acknowledged (the alert source resolved it).
        build.incident(at("2026-11-06 10:00"), code="P3", resolved=minutes(20))
        # F: declared by a person, who acknowledges by declaring.
        build.incident(
            at("2026-11-06 12:00"),
            code="P1",
            source=Source.WEB,
            acknowledged=minutes(0),
            resolved=minutes(90),
            detection_delay=minutes(30),
        )
        return build.window(at("2026-11-02 00:00"), at("2026-11-09 00:00"))

    def test_mtta_over_alert_opened_incidents_only(self, week):
        times = response_times(window=week)
        # A B C D acknowledged after 1 2 4 10 min; F (declared) excluded, E never acknowledged.
        # median (2+4)/2 = 3; p90 at 0.9·3 = 2.7: 4 + 0.7·(10-4) = 8.2; mean 17/4 = 4.25.
        assert times.mtta == durations(4, 3, 8.2, 4.25)
        assert times.never_acknowledged == 1

    def test_mttr_over_resolved_incidents(self, week):
        times = response_times(window=week)
        # A B C E F resolved after 30 60 120 20 90 → 20 30 60 90 120: median 60;
        # p90 at 0.9·4 = 3.6: 90 + 0.6·30 = 108; mean 320/5 = 64. D is unresolved.
        assert times.mttr == durations(5, 60, 108, 64)
        assert times.unresolved == 1

    def test_time_to_detect_and_slow_detections(self, week, settings):
        settings.FIREBREAK_SLOW_DETECTION_MINUTES = 10
        times = response_times(window=week)
        # 5 0 15 10 0 30 → 0 0 5 10 15 30: median at 2.5: 7.5; p90 at 4.5: 15 + 0.5·15 = 22.5;
        # mean 60/6 = 10. Slow (> 10 min): C and F; D at exactly 10 is not.
        assert times.time_to_detect == durations(6, 7.5, 22.5, 10)
        assert times.slow_detections == 2

    def test_the_slow_detection_threshold_is_a_setting(self, week, settings):
        settings.FIREBREAK_SLOW_DETECTION_MINUTES = 4
        assert response_times(window=week).slow_detections == 4  # A (5), C, D (10), F

    def test_by_peak_severity_most_severe_first(self, week):
        times = response_times(window=week)
        # P1: C acknowledged after 4 (F declared); resolved 120 and 90: median 105,
        # p90 at 0.9: 90 + 0.9·30 = 117. P2: acknowledged 1 and 2: median 1.5, p90 1.9;
        # resolved 30 and 60: median 45, p90 57. P3: D acknowledged after 10, E resolved after 20.
        assert list(times.mtta_by_severity) == ["P1", "P2", "P3"]
        assert times.mtta_by_severity == {
            "P1": durations(1, 4, 4, 4),
            "P2": durations(2, 1.5, 1.9, 1.5),
            "P3": durations(1, 10, 10, 10),
        }
        assert times.mttr_by_severity == {
            "P1": durations(2, 105, 117, 105),
            "P2": durations(2, 45, 57, 45),
            "P3": durations(1, 20, 20, 20),
        }

    def test_severity_filter_reads_the_peak_severity(self, week, build):
        p2 = build.window(week.start, week.end, severity="P2")
        assert response_times(window=p2).mttr == durations(2, 45, 57, 45)

    def test_an_empty_window_has_no_figures(self, build):
        times = response_times(window=build.window(at("2026-11-02"), at("2026-11-09")))
        assert (times.mtta, times.mttr, times.time_to_detect) == (NOTHING, NOTHING, NOTHING)
        assert (times.never_acknowledged, times.unresolved, times.slow_detections) == (0, 0, 0)
        assert times.mttr_by_severity == {} and times.mttr_by_team == {}

    def test_only_declared_incidents_give_no_mtta(self, build):
        build.incident(
            at("2026-11-03 10:00"), source=Source.WEB, acknowledged=minutes(0), resolved=minutes(45)
        )
        build.incident(at("2026-11-03 11:00"), source=Source.SLACK, acknowledged=minutes(0))
        times = response_times(window=build.window(at("2026-11-02"), at("2026-11-09")))
        assert times.mtta == NOTHING
        assert times.never_acknowledged == 0
        assert times.mttr == durations(1, 45, 45, 45)


class TestLifecycle:
    """Incidents moved by the real lifecycle services, as responders move them."""

    def test_a_reopened_incident_is_measured_to_its_final_resolution(self, alice):
        t0 = at("2026-11-03 10:00")
        incident = incident_trigger(
            title="PaymentsDown", severity=Severity.objects.get(code="P3"), at=t0
        )
        incident_acknowledge(incident=incident, actor=alice, at=t0 + minutes(5))
        incident_resolve(incident=incident, actor=alice, at=t0 + minutes(30))
        incident_reopen(incident=incident, actor=alice, reason="503s are back", at=t0 + minutes(60))
        window = window_for(
            days=7, team=None, service=None, severity=None, now=at("2026-11-05 12:00")
        )

        while_reopened = response_times(window=window)
        assert (while_reopened.mttr, while_reopened.unresolved) == (NOTHING, 1)

        incident_resolve(incident=incident, actor=alice, at=t0 + minutes(120))
        final = response_times(window=window)
        assert final.mttr == durations(1, 120, 120, 120)  # not the first 30 minutes
        assert final.unresolved == 0
        assert final.mtta == durations(1, 5, 5, 5)

    def test_a_severity_raised_and_lowered_counts_under_its_peak(self, alice):
        t0 = at("2026-11-03 10:00")
        incident = incident_trigger(
            title="CheckoutSlow", severity=Severity.objects.get(code="P3"), at=t0
        )
        incident_acknowledge(incident=incident, actor=alice, at=t0 + minutes(3))
        incident_change_severity(
            incident=incident,
            actor=alice,
            severity=Severity.objects.get(code="P1"),
            at=t0 + minutes(10),
        )
        incident_change_severity(
            incident=incident,
            actor=alice,
            severity=Severity.objects.get(code="P3"),
            at=t0 + minutes(20),
        )
        incident_resolve(incident=incident, actor=alice, at=t0 + minutes(40))

        def window(severity: str | None = None):
            return window_for(
                days=7,
                team=None,
                service=None,
                now=at("2026-11-05 12:00"),
                severity=Severity.objects.get(code=severity) if severity else None,
            )

        times = response_times(window=window())
        assert times.mttr_by_severity == {"P1": durations(1, 40, 40, 40)}
        assert times.mtta_by_severity == {"P1": durations(1, 3, 3, 3)}
        assert response_times(window=window("P1")).mttr.count == 1
        assert response_times(window=window("P3")).mttr.count == 0


class TestTeamsAndServices:
    @pytest.fixture
    def setup(self, build):
        payments = build.team("Payments")
        search = build.team("Search", zone="UTC")
        api = build.service("Payments API", payments)
        checkout = build.service("Checkout", payments)
        search_api = build.service("Search API", search)
        day = at("2026-11-03 10:00")
        build.incident(day, team=payments, services=(api, checkout), resolved=minutes(30))
        build.incident(day, team=payments, services=(api,), resolved=minutes(90))
        build.incident(day, team=search, services=(search_api,), resolved=minutes(10))
        build.incident(day, resolved=minutes(5))  # no team, no service
        build.incident(day, team=payments, services=(checkout,))  # unresolved
        return payments, search, checkout

    def test_mttr_by_team_and_by_service(self, build, setup):
        times = response_times(window=build.window(at("2026-11-02"), at("2026-11-09")))
        assert times.mttr.count == 4
        # Payments: 30 and 90: median 60, p90 30 + 0.9·60 = 84. The incident with no team is
        # in the totals but under no team.
        assert times.mttr_by_team == {
            "Payments": durations(2, 60, 84, 60),
            "Search": durations(1, 10, 10, 10),
        }
        # An incident of two services counts for each; Checkout's other incident is unresolved.
        assert times.mttr_by_service == {
            "Checkout": durations(1, 30, 30, 30),
            "Payments API": durations(2, 60, 84, 60),
            "Search API": durations(1, 10, 10, 10),
        }

    def test_service_filter_keeps_that_service_only(self, build, setup):
        _, _, checkout = setup
        window = build.window(at("2026-11-02"), at("2026-11-09"), service=checkout)
        times = response_times(window=window)
        assert (times.mttr, times.unresolved) == (durations(1, 30, 30, 30), 1)
        assert times.mttr_by_service == {"Checkout": durations(1, 30, 30, 30)}

    def test_team_filter(self, build, setup):
        _, search, _ = setup
        times = response_times(window=build.window(at("2026-11-02"), at("2026-11-09"), team=search))
        assert times.mttr == durations(1, 10, 10, 10)
        assert list(times.mttr_by_team) == ["Search"]


class TestWindows:
    NOW = at("2026-11-10 12:00")

    @pytest.fixture
    def berlin(self, build):
        team = build.team("Payments")
        for detected in (
            "2026-11-02 22:59:59",  # 23:59:59 on 2 Nov in Berlin: before the window
            "2026-11-02 23:00:00",  # 00:00 on 3 Nov in Berlin: the window's first instant
            "2026-11-02 23:30:00",  # 00:30 on 3 Nov in Berlin, still 2 Nov in UTC
            "2026-11-10 11:59:59",  # just before now
            "2026-11-10 12:00:00",  # now: the window ends before it
        ):
            build.incident(at(detected), team=team, acknowledged=minutes(1), resolved=minutes(10))
        return team

    def test_the_window_starts_at_the_local_midnight_days_ago(self, berlin):
        window = window_for(days=7, team=berlin, service=None, severity=None, now=self.NOW)
        assert window.start == at("2026-11-03 00:00", BERLIN)
        assert window.end == self.NOW
        assert response_times(window=window).mttr.count == 3

    def test_without_a_team_the_portal_zone_decides(self, berlin, settings):
        settings.TIME_ZONE = "UTC"
        window = window_for(days=7, team=None, service=None, severity=None, now=self.NOW)
        assert window.start == at("2026-11-03 00:00", UTC)
        assert response_times(window=window).mttr.count == 1  # only 10 Nov 11:59:59


class TestAlertQuality:
    @pytest.fixture
    def window(self, build):
        prod, grafana = build.source("prod-alertmanager"), build.source("grafana")
        payments = build.team("Payments")
        api = build.service("Payments API", payments)
        incident = build.incident(at("2026-11-03 10:00"), team=payments)
        day = at("2026-11-04 10:00")
        # prod HighLatency: no, no, yes, unreviewed → 2 of 3 verdicts are false positives.
        for actionable in (False, False, True, None):
            build.episode(
                prod, "HighLatency", day, actionable=actionable, service=api, incident=incident
            )
        # DiskFull: both actionable, no incident (alerts waiting in triage still count).
        build.episode(prod, "DiskFull", day, actionable=True)
        build.episode(prod, "DiskFull", day, actionable=True, code="P1")
        build.episode(prod, "PodRestart", day)  # nobody has judged it
        build.episode(grafana, "HighLatency", day, actionable=False)  # 1 of 1
        build.episode(prod, "DiskFull", at("2026-11-01 23:59"), actionable=False)  # before
        build.episode(prod, "DiskFull", at("2026-11-09 00:00"), actionable=False)  # after
        return build.window(at("2026-11-02 00:00"), at("2026-11-09 00:00"))

    def test_rate_per_source_and_alert_name_worst_first(self, window):
        rows = false_positives(window=window)
        assert [(row.source, row.alert_name) for row in rows] == [
            ("grafana", "HighLatency"),  # 100 %
            ("prod-alertmanager", "HighLatency"),  # 67 %
            ("prod-alertmanager", "DiskFull"),  # 0 %
            ("prod-alertmanager", "PodRestart"),  # no verdict yet
        ]
        high_latency = rows[1]
        assert (high_latency.episodes, high_latency.not_actionable) == (4, 2)
        assert (high_latency.with_verdict, high_latency.unreviewed) == (3, 1)
        assert high_latency.rate == 2 / 3
        assert rows[2].rate == 0.0 and rows[2].episodes == 2
        assert rows[3].rate is None and rows[3].unreviewed == 1

    def test_total_over_all_sources(self, window):
        # 8 episodes, 3 not actionable of 6 with a verdict, 2 unreviewed.
        assert false_positive_total(window=window) == AlertQuality(
            source_id=0,
            source="",
            alert_name="",
            episodes=8,
            not_actionable=3,
            with_verdict=6,
            unreviewed=2,
            rate=0.5,
        )

    def test_team_and_service_of_the_alert_and_its_own_severity(self, window, build):
        payments = build.team("Payments")
        by_team = build.window(window.start, window.end, team=payments)
        assert [row.alert_name for row in false_positives(window=by_team)] == ["HighLatency"]
        p1 = build.window(window.start, window.end, severity="P1")
        assert false_positive_total(window=p1).episodes == 1  # the P1 DiskFull


class TestNoisyAlerts:
    @pytest.fixture
    def episodes(self, build, settings):
        settings.TIME_ZONE = "UTC"
        prod, grafana = build.source("prod-alertmanager"), build.source("grafana")
        payments = build.team("Payments")  # Europe/Berlin
        api = build.service("Payments API", payments)

        def fire(source, name, count, first_seen="2026-11-10 12:00"):
            for _ in range(count):
                build.episode(source, name, at(first_seen), service=api)

        fire(prod, "Flappy", 6)  # 6: automate or fix
        fire(prod, "Steady", 5)  # exactly 5: not more than 5
        fire(grafana, "Steady", 1)  # another source's alert of the same name
        fire(prod, "Edge", 5)
        fire(prod, "Edge", 1, "2026-10-31 23:30")  # 1 Nov 00:30 in Berlin, October in UTC
        fire(prod, "Late", 5)
        fire(prod, "Late", 1, "2026-11-30 23:30")  # 1 Dec 00:30 in Berlin, November in UTC
        incident = build.incident(at("2026-11-10 12:00"), team=payments)
        item = ActionItem.objects.create(incident=incident, title="Fix Flappy")
        ToilFollowUp.objects.create(
            source=prod, alert_name="Flappy", month=date(2026, 11, 1), action_item=item
        )
        older = ActionItem.objects.create(incident=incident, title="Fix Edge (October)")
        ToilFollowUp.objects.create(
            source=prod, alert_name="Edge", month=date(2026, 10, 1), action_item=older
        )
        return prod, payments, item

    def test_more_than_five_episodes_in_the_calendar_month(self, episodes):
        prod, _, item = episodes
        assert noisy_alerts(month=date(2026, 11, 17)) == [
            NoisyAlert(
                source_id=prod.pk,
                source="prod-alertmanager",
                alert_name="Flappy",
                month=date(2026, 11, 1),
                episodes=6,
                follow_up_id=item.pk,
            ),
            NoisyAlert(
                source_id=prod.pk,
                source="prod-alertmanager",
                alert_name="Late",
                month=date(2026, 11, 1),
                episodes=6,
                follow_up_id=None,
            ),
        ]

    def test_the_month_is_the_teams_local_month(self, episodes):
        _, payments, item = episodes
        noisy = noisy_alerts(month=date(2026, 11, 1), team=payments)
        assert [(row.alert_name, row.episodes, row.follow_up_id) for row in noisy] == [
            ("Edge", 6, None),  # October's follow-up is not November's
            ("Flappy", 6, item.pk),
        ]


class TestPages:
    @pytest.fixture
    def pages(self, build, alice, bob, carol):
        payments = build.team("Payments")
        primary = build.rotation("Payments primary", payments)
        incident = build.incident(at("2026-11-03 10:00"), team=payments, code="P2")
        other_team = build.incident(at("2026-11-03 10:00"), team=build.team("Search"))
        berlin = lambda text: at(text, BERLIN)  # noqa: E731
        # Sunday 23:59 in Berlin: ISO week 45; Monday 00:00 in Berlin: week 46.
        build.page(
            incident,
            alice,
            berlin("2026-11-08 23:59"),
            schedule=primary,
            actionable=True,
            manual=True,
        )
        build.page(incident, alice, berlin("2026-11-09 00:00"), schedule=primary, actionable=False)
        build.page(incident, bob, berlin("2026-11-03 10:00"), schedule=primary, actionable=True)
        build.page(
            incident, bob, berlin("2026-11-04 10:00"), kind=Page.Kind.MANUAL, actionable=True
        )  # the IC paged Bob: no rotation
        # Not pages: an FYI, a failed and a pending one.
        build.page(
            incident, bob, berlin("2026-11-04 11:00"), schedule=primary, kind=Page.Kind.NOTIFY
        )
        build.page(
            incident, alice, berlin("2026-11-04 11:00"), schedule=primary, state=Page.State.FAILED
        )
        build.page(
            incident, carol, berlin("2026-11-04 11:00"), schedule=primary, state=Page.State.PENDING
        )
        build.page(other_team, carol, berlin("2026-11-05 11:00"), schedule=primary, actionable=True)
        return payments, primary

    def test_per_rotation_and_local_iso_week(self, build, pages, bob):
        payments, primary = pages
        window = build.window(
            at("2026-11-02 00:00", BERLIN), at("2026-11-16 00:00", BERLIN), BERLIN, team=payments
        )
        assert pages_per_rotation(window=window) == [
            RotationWeek(
                schedule_id=primary.pk,
                schedule="Payments primary",
                iso_year=2026,
                iso_week=45,
                pages=2,
                actionable=2,
                manual_action=1,
            ),
            RotationWeek(
                schedule_id=primary.pk,
                schedule="Payments primary",
                iso_year=2026,
                iso_week=46,
                pages=1,
                actionable=0,
                manual_action=0,
            ),
            # The IC paged Bob directly: his own line, after the rotations.
            RotationWeek(
                schedule_id=None,
                schedule="",
                iso_year=2026,
                iso_week=45,
                pages=1,
                actionable=1,
                manual_action=0,
                user_id=bob.pk,
                person="Bob",
            ),
        ]

    def test_weeks_are_read_in_the_windows_zone(self, build, pages):
        payments, _ = pages
        # In UTC, Monday 00:00 in Berlin is still Sunday 23:00: both pages fall in week 45.
        window = build.window(at("2026-11-02 00:00"), at("2026-11-16 00:00"), UTC, team=payments)
        weeks = [row for row in pages_per_rotation(window=window) if row.schedule_id]
        assert [(row.iso_week, row.pages) for row in weeks] == [(45, 3)]

    def test_per_person(self, build, pages, alice, bob):
        payments, _ = pages
        window = build.window(
            at("2026-11-02 00:00", BERLIN), at("2026-11-16 00:00", BERLIN), BERLIN, team=payments
        )
        assert pages_per_person(window=window) == [
            PersonWeek(
                user_id=alice.pk,
                person="Alice",
                iso_year=2026,
                iso_week=45,
                pages=1,
                actionable=1,
                manual_action=1,
            ),
            PersonWeek(
                user_id=alice.pk,
                person="Alice",
                iso_year=2026,
                iso_week=46,
                pages=1,
                actionable=0,
                manual_action=0,
            ),
            PersonWeek(
                user_id=bob.pk,
                person="Bob",
                iso_year=2026,
                iso_week=45,
                pages=2,
                actionable=2,
                manual_action=0,
            ),
        ]

    def test_severity_filter_is_the_incidents_peak_severity(self, build, pages):
        window = build.window(at("2026-11-02"), at("2026-11-16"), severity="P2")
        assert sum(row.pages for row in pages_per_rotation(window=window)) == 4


class TestIsoYear:
    def test_2026_has_53_iso_weeks(self):
        assert date(2026, 12, 28).isocalendar()[:2] == (2026, 53)
        assert date(2027, 1, 3).isocalendar()[:2] == (2026, 53)
        assert date(2027, 1, 4).isocalendar()[:2] == (2027, 1)

    def test_week_53_and_week_1_across_the_new_year(self, build, alice):
        team = build.team("Payments")
        primary = build.rotation("Payments primary", team)
        sunday = at("2027-01-03 23:59", BERLIN)
        monday = at("2027-01-04 00:00", BERLIN)
        for moment in (sunday, monday):
            incident = build.incident(
                moment, team=team, acknowledged=minutes(2), resolved=minutes(20)
            )
            build.page(incident, alice, moment, schedule=primary, actionable=True)
        window = build.window(
            at("2026-12-21 00:00", BERLIN), at("2027-01-11 00:00", BERLIN), BERLIN, team=team
        )

        assert [(row.iso_year, row.iso_week) for row in pages_per_rotation(window=window)] == [
            (2026, 53),
            (2027, 1),
        ]
        trend = weekly_trend(window=window)
        assert [(p.iso_year, p.iso_week, p.week_start, p.incidents, p.pages) for p in trend] == [
            (2026, 52, date(2026, 12, 21), 0, 0),  # an empty week is still a point
            (2026, 53, date(2026, 12, 28), 1, 1),
            (2027, 1, date(2027, 1, 4), 1, 1),
        ]


class TestWeeklyTrend:
    def test_one_point_per_week_with_means_pages_and_false_positives(self, build, alice):
        prod = build.source("prod-alertmanager")
        # Week 45: alert-opened incidents acknowledged after 2 and 4 min, resolved after 30 and
        # 50; a declared one resolved after 60. MTTA mean 3 min; MTTR mean 140/3 min = 2800 s.
        build.incident(at("2026-11-02 10:00"), acknowledged=minutes(2), resolved=minutes(30))
        build.incident(at("2026-11-04 10:00"), acknowledged=minutes(4), resolved=minutes(50))
        build.incident(
            at("2026-11-05 10:00"), source=Source.WEB, acknowledged=minutes(0), resolved=minutes(60)
        )
        build.episode(prod, "HighLatency", at("2026-11-03 10:00"), actionable=False)
        build.episode(prod, "HighLatency", at("2026-11-03 11:00"), actionable=True)
        # Week 46: nothing. Week 47: one incident nobody acknowledged, two pages, 1 of 3
        # verdicts a false positive (one episode unreviewed).
        late = build.incident(at("2026-11-16 10:00"))
        build.page(late, alice, at("2026-11-16 10:01"), actionable=True)
        build.page(late, alice, at("2026-11-16 10:06"), actionable=False)
        for actionable in (False, True, True, None):
            build.episode(prod, "DiskFull", at("2026-11-17 10:00"), actionable=actionable)

        trend = weekly_trend(window=build.window(at("2026-11-02"), at("2026-11-23")))
        assert trend == [
            TrendPoint(
                iso_year=2026,
                iso_week=45,
                week_start=date(2026, 11, 2),
                incidents=3,
                mtta=minutes(3),
                mttr=timedelta(seconds=2800),
                pages=0,
                actionable_pages=0,
                false_positive_rate=0.5,
            ),
            TrendPoint(
                iso_year=2026,
                iso_week=46,
                week_start=date(2026, 11, 9),
                incidents=0,
                mtta=None,
                mttr=None,
                pages=0,
                actionable_pages=0,
                false_positive_rate=None,
            ),
            TrendPoint(
                iso_year=2026,
                iso_week=47,
                week_start=date(2026, 11, 16),
                incidents=1,
                mtta=None,
                mttr=None,
                pages=2,
                actionable_pages=1,
                false_positive_rate=1 / 3,
            ),
        ]


def _dashboard(window, month):
    response_times(window=window)
    false_positives(window=window)
    false_positive_total(window=window)
    pages_per_rotation(window=window)
    pages_per_person(window=window)
    noisy_alerts(month=month)
    weekly_trend(window=window)


def test_the_query_count_does_not_grow_with_the_data(build, alice, bob):
    team = build.team("Payments")
    api = build.service("Payments API", team)
    primary = build.rotation("Payments primary", team)
    prod = build.source("prod-alertmanager")
    window = build.window(at("2026-11-02"), at("2026-11-30"))

    def add(count):
        for number in range(count):
            moment = at("2026-11-02 10:00") + timedelta(hours=7 * number)
            incident = build.incident(
                moment,
                team=team,
                services=(api,),
                acknowledged=minutes(number),
                resolved=minutes(60),
            )
            build.page(incident, alice if number % 2 else bob, moment, schedule=primary)
            for _ in range(3):
                build.episode(prod, f"Alert{number % 4}", moment, service=api, incident=incident)

    add(2)
    with CaptureQueriesContext(connection) as few:
        _dashboard(window, date(2026, 11, 1))
    add(40)
    with CaptureQueriesContext(connection) as many:
        _dashboard(window, date(2026, 11, 1))
    assert len(many) == len(few)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="compares PostgreSQL's aggregation with Python's"
)
def test_postgresql_and_python_give_identical_answers(build, monkeypatch):
    rng = random.Random(8)
    teams = [build.team("Payments"), build.team("Search", zone="America/New_York")]
    services = [build.service(f"Service {n}", teams[n % 2]) for n in range(4)]
    start = at("2026-12-14 00:00")
    for _ in range(120):
        detected = start + timedelta(
            seconds=rng.randrange(0, 30 * 86400), microseconds=rng.randrange(10**6)
        )
        acknowledged = timedelta(microseconds=rng.randrange(1, 40 * 60 * 10**6))
        build.incident(
            detected,
            code=rng.choice(["P1", "P2", "P3", "P4"]),
            source=rng.choice([Source.ALERT, Source.ALERT, Source.WEB]),
            acknowledged=acknowledged if rng.random() < 0.8 else None,
            resolved=acknowledged + timedelta(microseconds=rng.randrange(10**10))
            if rng.random() < 0.7
            else None,
            detection_delay=timedelta(microseconds=rng.randrange(30 * 60 * 10**6)),
            team=rng.choice([*teams, None]),
            services=tuple(rng.sample(services, rng.randrange(3))),
        )
    windows = [
        build.window(start, start + timedelta(days=30), BERLIN),
        build.window(start, start + timedelta(days=30), UTC, team=teams[0]),
        build.window(start, start + timedelta(days=30), UTC, service=services[1]),
        build.window(start, start + timedelta(days=30), UTC, severity="P2"),
    ]
    in_database = [(response_times(window=w), weekly_trend(window=w)) for w in windows]
    monkeypatch.setattr(metrics, "percentiles_in_database", lambda qs: False)
    in_python = [(response_times(window=w), weekly_trend(window=w)) for w in windows]
    assert in_python == in_database
    assert in_database[0][0].mttr.count > 40  # the data exercised the figures
