"""Who is on call when: rotations across DST, order, layers, restrictions and overrides."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from incidents.oncall.models import Override, RotationParticipant
from incidents.oncall.selectors import (
    ShiftSource,
    oncall_at,
    schedule_days,
    schedule_oncall_status,
    shifts,
    user_shifts,
)

from .conftest import BERLIN, berlin, make_rotation, make_schedule

pytestmark = pytest.mark.django_db


def who(schedule, at: datetime) -> str | None:
    user = oncall_at(schedule=schedule, at=at)
    return user.username if user else None


def plan(schedule, start: datetime, end: datetime) -> list[tuple[str, datetime, datetime, str]]:
    """Return the shifts as (username, local start, local end, source) in Berlin time."""
    return [
        (s.user.username, s.start.astimezone(BERLIN), s.end.astimezone(BERLIN), s.source)
        for s in shifts(schedule=schedule, start=start, end=end)
    ]


def override(schedule, user, start: datetime, end: datetime, reason: str = "") -> Override:
    return Override.objects.create(
        schedule=schedule, user=user, start=start, end=end, reason=reason
    )


# --- DST ----------------------------------------------------------------------------------------


class TestDaylightSavingTime:
    def test_daily_handoff_stays_at_nine_local_across_spring_forward(self, schedule, alice, bob):
        # Clocks go from 02:00 CET to 03:00 CEST on Sunday 2026-03-29.
        make_rotation(schedule, [alice, bob], start_date=date(2026, 3, 27))

        assert who(schedule, berlin(2026, 3, 28, 8, 59)) == "alice"
        assert who(schedule, berlin(2026, 3, 28, 9, 0)) == "bob"
        # 08:59 CEST is 06:59 UTC: still Bob; 24 hours after Saturday's handoff (08:00 UTC)
        # would already be Alice if shifts were fixed UTC lengths.
        assert who(schedule, berlin(2026, 3, 29, 8, 59)) == "bob"
        assert who(schedule, datetime(2026, 3, 29, 6, 59, tzinfo=UTC)) == "bob"
        assert who(schedule, berlin(2026, 3, 29, 9, 0)) == "alice"
        assert who(schedule, datetime(2026, 3, 29, 7, 0, tzinfo=UTC)) == "alice"

        found = shifts(schedule=schedule, start=berlin(2026, 3, 28, 9), end=berlin(2026, 3, 30, 9))
        assert [(s.user.username, s.end - s.start) for s in found] == [
            ("bob", timedelta(hours=23)),
            ("alice", timedelta(hours=24)),
        ]

    def test_daily_handoff_stays_at_nine_local_across_fall_back(self, schedule, alice, bob):
        # Clocks go from 03:00 CEST back to 02:00 CET on Sunday 2026-10-25.
        make_rotation(schedule, [alice, bob], start_date=date(2026, 10, 24))

        assert who(schedule, berlin(2026, 10, 25, 8, 30)) == "alice"
        assert who(schedule, datetime(2026, 10, 25, 7, 30, tzinfo=UTC)) == "alice"  # 08:30 CET
        assert who(schedule, berlin(2026, 10, 25, 9, 0)) == "bob"
        assert who(schedule, datetime(2026, 10, 25, 8, 0, tzinfo=UTC)) == "bob"

        found = shifts(
            schedule=schedule, start=berlin(2026, 10, 24, 9), end=berlin(2026, 10, 26, 9)
        )
        assert [(s.user.username, s.end - s.start) for s in found] == [
            ("alice", timedelta(hours=25)),
            ("bob", timedelta(hours=24)),
        ]

    def test_weekly_rotation_hands_off_monday_nine_local_on_both_sides_of_a_change(
        self, schedule, alice, bob, carol
    ):
        make_rotation(
            schedule,
            [alice, bob, carol],
            shift_length=timedelta(days=7),
            start_date=date(2026, 3, 23),
        )

        assert plan(schedule, berlin(2026, 3, 23, 9), berlin(2026, 4, 20, 9)) == [
            ("alice", berlin(2026, 3, 23, 9), berlin(2026, 3, 30, 9), ShiftSource.ROTATION),
            ("bob", berlin(2026, 3, 30, 9), berlin(2026, 4, 6, 9), ShiftSource.ROTATION),
            ("carol", berlin(2026, 4, 6, 9), berlin(2026, 4, 13, 9), ShiftSource.ROTATION),
            ("alice", berlin(2026, 4, 13, 9), berlin(2026, 4, 20, 9), ShiftSource.ROTATION),
        ]
        first = shifts(schedule=schedule, start=berlin(2026, 3, 23, 9), end=berlin(2026, 3, 30, 9))
        assert first[0].end - first[0].start == timedelta(hours=167)
        assert who(schedule, datetime(2026, 3, 30, 6, 30, tzinfo=UTC)) == "alice"  # 08:30 CEST
        assert who(schedule, datetime(2026, 3, 30, 7, 30, tzinfo=UTC)) == "bob"  # 09:30 CEST

    def test_weekly_rotation_across_fall_back(self, schedule, alice, bob):
        make_rotation(
            schedule, [alice, bob], shift_length=timedelta(days=7), start_date=date(2026, 10, 19)
        )

        found = shifts(schedule=schedule, start=berlin(2026, 10, 19, 9), end=berlin(2026, 11, 2, 9))
        assert [(s.user.username, s.end - s.start) for s in found] == [
            ("alice", timedelta(hours=169)),
            ("bob", timedelta(hours=168)),
        ]
        assert who(schedule, berlin(2026, 10, 26, 8, 59)) == "alice"
        assert who(schedule, berlin(2026, 10, 26, 9, 0)) == "bob"

    def test_twelve_hour_shifts_keep_local_handoffs_so_the_night_shift_shrinks(
        self, schedule, alice, bob
    ):
        make_rotation(
            schedule, [alice, bob], shift_length=timedelta(hours=12), start_date=date(2026, 3, 28)
        )

        assert plan(schedule, berlin(2026, 3, 28, 9), berlin(2026, 3, 29, 21)) == [
            ("alice", berlin(2026, 3, 28, 9), berlin(2026, 3, 28, 21), ShiftSource.ROTATION),
            ("bob", berlin(2026, 3, 28, 21), berlin(2026, 3, 29, 9), ShiftSource.ROTATION),
            ("alice", berlin(2026, 3, 29, 9), berlin(2026, 3, 29, 21), ShiftSource.ROTATION),
        ]
        night = shifts(schedule=schedule, start=berlin(2026, 3, 28, 21), end=berlin(2026, 3, 29, 9))
        assert night[0].end - night[0].start == timedelta(hours=11)

    def test_handoff_in_the_skipped_hour_happens_when_clocks_show_it_an_hour_later(
        self, schedule, alice, bob
    ):
        make_rotation(schedule, [alice, bob], handoff=time(2, 30), start_date=date(2026, 3, 28))

        # 02:30 does not exist on 2026-03-29 in Berlin; the handoff is at 03:30 CEST.
        assert who(schedule, berlin(2026, 3, 29, 3, 29)) == "alice"
        assert who(schedule, berlin(2026, 3, 29, 3, 30)) == "bob"
        assert who(schedule, berlin(2026, 3, 30, 2, 30)) == "alice"

    def test_the_schedules_own_zone_decides_not_utc(self, team, alice, bob):
        schedule = make_schedule(team, name="US", time_zone="America/New_York")
        make_rotation(schedule, [alice, bob], start_date=date(2026, 3, 6))
        new_york = ZoneInfo("America/New_York")

        # The US changes clocks on Sunday 2026-03-08, three weeks before Berlin does.
        assert who(schedule, datetime(2026, 3, 8, 8, 59, tzinfo=new_york)) == "bob"
        assert who(schedule, datetime(2026, 3, 8, 9, 0, tzinfo=new_york)) == "alice"
        # 09:00 EDT is 13:00 UTC; the day before, the handoff was at 14:00 UTC.
        assert who(schedule, datetime(2026, 3, 8, 13, 30, tzinfo=UTC)) == "alice"
        assert who(schedule, datetime(2026, 3, 7, 13, 30, tzinfo=UTC)) == "alice"
        assert who(schedule, datetime(2026, 3, 7, 14, 0, tzinfo=UTC)) == "bob"


# --- Order, gaps, merging -----------------------------------------------------------------------


class TestRotationOrder:
    def test_participants_take_turns_in_position_order(self, schedule, alice, bob, carol):
        rotation = make_rotation(schedule, [], start_date=date(2026, 3, 2))
        # Created in another order than their positions.
        for user, position in ((carol, 3), (alice, 1), (bob, 2)):
            RotationParticipant.objects.create(rotation=rotation, user=user, position=position)

        found = shifts(schedule=schedule, start=berlin(2026, 3, 2, 9), end=berlin(2026, 3, 8, 9))
        assert [s.user.username for s in found] == ["alice", "bob", "carol"] * 2
        assert [s.start.astimezone(BERLIN).day for s in found] == [2, 3, 4, 5, 6, 7]

    def test_nobody_is_on_call_before_the_first_shift_or_after_the_layer_ends(
        self, schedule, alice
    ):
        make_rotation(
            schedule, [alice], start_date=date(2026, 3, 2), ends_at=berlin(2026, 3, 5, 12)
        )

        assert who(schedule, berlin(2026, 3, 2, 8, 59)) is None
        assert who(schedule, berlin(2026, 3, 2, 9)) == "alice"
        assert who(schedule, berlin(2026, 3, 5, 11, 59)) == "alice"
        assert who(schedule, berlin(2026, 3, 5, 12)) is None

    def test_consecutive_shifts_of_one_person_merge_and_the_window_clips(self, schedule, alice):
        make_rotation(schedule, [alice], start_date=date(2026, 3, 2))

        assert plan(schedule, berlin(2026, 3, 3, 12), berlin(2026, 3, 6, 18)) == [
            ("alice", berlin(2026, 3, 3, 12), berlin(2026, 3, 6, 18), ShiftSource.ROTATION)
        ]

    def test_deactivated_people_drop_out_of_the_order(self, schedule, alice, bob, carol):
        make_rotation(schedule, [alice, bob, carol], start_date=date(2026, 3, 2))
        bob.is_active = False
        bob.save()

        found = shifts(schedule=schedule, start=berlin(2026, 3, 2, 9), end=berlin(2026, 3, 6, 9))
        assert [s.user.username for s in found] == ["alice", "carol", "alice", "carol"]

    def test_a_rotation_without_participants_leaves_the_schedule_empty(self, schedule):
        make_rotation(schedule, [], start_date=date(2026, 3, 2))

        assert who(schedule, berlin(2026, 3, 3, 12)) is None
        assert shifts(schedule=schedule, start=berlin(2026, 3, 2), end=berlin(2026, 3, 9)) == []

    def test_naive_datetimes_are_refused(self, schedule):
        with pytest.raises(ValueError, match="aware"):
            oncall_at(schedule=schedule, at=datetime(2026, 3, 3, 12))


# --- Layers and restrictions --------------------------------------------------------------------


class TestLayers:
    def test_higher_layer_wins_within_its_business_hours_restriction(self, schedule, alice, bob):
        make_rotation(schedule, [alice], name="24/7", shift_length=timedelta(days=7))
        make_rotation(
            schedule,
            [bob],
            name="Office hours",
            priority=1,
            restrict_weekdays=[0, 1, 2, 3, 4],
            restrict_from=time(9),
            restrict_until=time(17),
        )

        assert who(schedule, berlin(2026, 3, 9, 10)) == "bob"  # Monday
        assert who(schedule, berlin(2026, 3, 9, 17)) == "alice"
        assert who(schedule, berlin(2026, 3, 14, 10)) == "alice"  # Saturday
        assert plan(schedule, berlin(2026, 3, 9, 0), berlin(2026, 3, 10, 0)) == [
            ("alice", berlin(2026, 3, 9, 0), berlin(2026, 3, 9, 9), ShiftSource.ROTATION),
            ("bob", berlin(2026, 3, 9, 9), berlin(2026, 3, 9, 17), ShiftSource.ROTATION),
            ("alice", berlin(2026, 3, 9, 17), berlin(2026, 3, 10, 0), ShiftSource.ROTATION),
        ]

    def test_one_persons_back_to_back_time_in_two_layers_is_one_shift(self, schedule, alice, carol):
        make_rotation(schedule, [alice, carol], name="24/7")  # Carol on Tuesday 2026-03-03
        office = make_rotation(
            schedule,
            [carol],
            name="Office",
            priority=1,
            restrict_from=time(9),
            restrict_until=time(17),
        )

        found = shifts(schedule=schedule, start=berlin(2026, 3, 3, 9), end=berlin(2026, 3, 4, 9))

        assert [(s.user, s.start, s.end, s.rotation) for s in found] == [
            (carol, berlin(2026, 3, 3, 9), berlin(2026, 3, 4, 9), office)
        ]

    def test_an_overnight_restriction_runs_past_midnight(self, schedule, alice, bob):
        make_rotation(schedule, [alice], name="Day")
        make_rotation(
            schedule,
            [bob],
            name="Nights",
            priority=5,
            restrict_from=time(22),
            restrict_until=time(6),
        )

        assert who(schedule, berlin(2026, 3, 10, 21, 59)) == "alice"
        assert who(schedule, berlin(2026, 3, 10, 23, 0)) == "bob"
        assert who(schedule, berlin(2026, 3, 11, 5, 59)) == "bob"
        assert who(schedule, berlin(2026, 3, 11, 6, 0)) == "alice"

    def test_a_restricted_layer_alone_leaves_gaps(self, schedule, bob):
        make_rotation(schedule, [bob], restrict_weekdays=[5, 6])

        assert who(schedule, berlin(2026, 3, 13, 12)) is None  # Friday
        assert who(schedule, berlin(2026, 3, 14, 0, 0)) == "bob"  # Saturday
        assert who(schedule, berlin(2026, 3, 15, 23, 59)) == "bob"
        assert who(schedule, berlin(2026, 3, 16, 0, 0)) is None


# --- Overrides ----------------------------------------------------------------------------------


class TestOverrides:
    def test_an_override_wins_and_splits_the_rotation_shift(self, schedule, alice, bob, carol):
        make_rotation(schedule, [alice, bob])  # daily from Monday 2026-03-02 09:00
        override(schedule, carol, berlin(2026, 3, 2, 12), berlin(2026, 3, 2, 15))

        assert who(schedule, berlin(2026, 3, 2, 13)) == "carol"
        assert plan(schedule, berlin(2026, 3, 2, 9), berlin(2026, 3, 3, 9)) == [
            ("alice", berlin(2026, 3, 2, 9), berlin(2026, 3, 2, 12), ShiftSource.ROTATION),
            ("carol", berlin(2026, 3, 2, 12), berlin(2026, 3, 2, 15), ShiftSource.OVERRIDE),
            ("alice", berlin(2026, 3, 2, 15), berlin(2026, 3, 3, 9), ShiftSource.ROTATION),
        ]

    def test_an_override_across_a_handoff_clips_both_shifts(self, schedule, alice, bob, carol):
        make_rotation(schedule, [alice, bob])
        override(schedule, carol, berlin(2026, 3, 2, 20), berlin(2026, 3, 3, 10))

        assert plan(schedule, berlin(2026, 3, 2, 9), berlin(2026, 3, 4, 9)) == [
            ("alice", berlin(2026, 3, 2, 9), berlin(2026, 3, 2, 20), ShiftSource.ROTATION),
            ("carol", berlin(2026, 3, 2, 20), berlin(2026, 3, 3, 10), ShiftSource.OVERRIDE),
            ("bob", berlin(2026, 3, 3, 10), berlin(2026, 3, 4, 9), ShiftSource.ROTATION),
        ]

    def test_an_override_fills_a_gap_and_is_clipped_to_the_window(self, schedule, carol):
        override(schedule, carol, berlin(2026, 3, 1, 0), berlin(2026, 3, 10, 0), "Launch week")

        found = shifts(schedule=schedule, start=berlin(2026, 3, 2), end=berlin(2026, 3, 3))
        assert [(s.user, s.start, s.end, s.source) for s in found] == [
            (carol, berlin(2026, 3, 2), berlin(2026, 3, 3), ShiftSource.OVERRIDE)
        ]
        assert found[0].override.reason == "Launch week"

    def test_where_overrides_overlap_the_newest_wins(self, schedule, alice, bob, carol):
        make_rotation(schedule, [alice])
        override(schedule, bob, berlin(2026, 3, 3, 10), berlin(2026, 3, 3, 18))
        override(schedule, carol, berlin(2026, 3, 3, 14), berlin(2026, 3, 3, 16))

        assert plan(schedule, berlin(2026, 3, 3, 9), berlin(2026, 3, 3, 20)) == [
            ("alice", berlin(2026, 3, 3, 9), berlin(2026, 3, 3, 10), ShiftSource.ROTATION),
            ("bob", berlin(2026, 3, 3, 10), berlin(2026, 3, 3, 14), ShiftSource.OVERRIDE),
            ("carol", berlin(2026, 3, 3, 14), berlin(2026, 3, 3, 16), ShiftSource.OVERRIDE),
            ("bob", berlin(2026, 3, 3, 16), berlin(2026, 3, 3, 18), ShiftSource.OVERRIDE),
            ("alice", berlin(2026, 3, 3, 18), berlin(2026, 3, 3, 20), ShiftSource.ROTATION),
        ]

    def test_an_override_for_the_person_already_on_call_stays_marked(self, schedule, alice):
        make_rotation(schedule, [alice])
        override(schedule, alice, berlin(2026, 3, 3, 12), berlin(2026, 3, 3, 13))

        assert [
            s.source
            for s in shifts(
                schedule=schedule, start=berlin(2026, 3, 3, 9), end=berlin(2026, 3, 3, 18)
            )
        ] == [ShiftSource.ROTATION, ShiftSource.OVERRIDE, ShiftSource.ROTATION]

    def test_overrides_of_another_schedule_do_not_count(self, team, schedule, alice, carol):
        make_rotation(schedule, [alice])
        other = make_schedule(team, name="Database")
        override(other, carol, berlin(2026, 3, 3, 0), berlin(2026, 3, 4, 0))

        assert who(schedule, berlin(2026, 3, 3, 12)) == "alice"
        assert who(other, berlin(2026, 3, 3, 12)) == "carol"


# --- Status, people, teams, days ----------------------------------------------------------------


class TestStatusAndViews:
    def test_status_names_the_next_handoff_and_who_takes_over(self, schedule, alice, bob, carol):
        make_rotation(schedule, [alice, bob])
        override(schedule, carol, berlin(2026, 3, 3, 9), berlin(2026, 3, 3, 12))

        status = schedule_oncall_status(schedule=schedule, at=berlin(2026, 3, 2, 15))

        assert status.user == alice
        assert status.next_handoff == berlin(2026, 3, 3, 9)
        assert status.next_user == carol

    def test_status_joins_a_persons_back_to_back_rotation_and_override(self, schedule, alice, bob):
        make_rotation(schedule, [alice, bob])
        override(schedule, alice, berlin(2026, 3, 3, 9), berlin(2026, 3, 3, 12))

        status = schedule_oncall_status(schedule=schedule, at=berlin(2026, 3, 2, 15))

        assert status.next_handoff == berlin(2026, 3, 3, 12)
        assert status.next_user == bob

    def test_status_when_nobody_is_on_call_says_when_someone_starts(self, schedule, alice):
        make_rotation(schedule, [alice], start_date=date(2026, 3, 10))

        status = schedule_oncall_status(schedule=schedule, at=berlin(2026, 3, 2, 15))

        assert status.user is None
        assert status.next_handoff == berlin(2026, 3, 10, 9)
        assert status.next_user == alice

    def test_status_of_an_endless_single_person_rotation_has_no_handoff(self, schedule, alice):
        make_rotation(schedule, [alice])

        status = schedule_oncall_status(schedule=schedule, at=berlin(2026, 3, 2, 15))

        assert status.user == alice
        assert status.next_handoff is None

    def test_user_shifts_span_schedules_and_include_overrides(
        self, team, schedule, alice, bob, carol
    ):
        make_rotation(schedule, [alice, bob])
        other = make_schedule(team, name="Database")
        make_rotation(other, [carol, alice], handoff=time(18))
        override(
            make_schedule(team, name="Launch"), alice, berlin(2026, 3, 4, 8), berlin(2026, 3, 4, 9)
        )

        found = user_shifts(user=alice, start=berlin(2026, 3, 2, 0), end=berlin(2026, 3, 5, 0))

        assert [(s.schedule.name, s.start, s.end, s.source) for s in found] == [
            ("Payments primary", berlin(2026, 3, 2, 9), berlin(2026, 3, 3, 9), "rotation"),
            ("Database", berlin(2026, 3, 3, 18), berlin(2026, 3, 4, 18), "rotation"),
            ("Launch", berlin(2026, 3, 4, 8), berlin(2026, 3, 4, 9), "override"),
            ("Payments primary", berlin(2026, 3, 4, 9), berlin(2026, 3, 5, 0), "rotation"),
        ]

    def test_schedule_days_cut_shifts_at_the_viewers_midnight_and_show_gaps(
        self, schedule, alice, bob, carol
    ):
        make_rotation(schedule, [alice, bob], start_date=date(2026, 3, 3))
        override(schedule, carol, berlin(2026, 3, 4, 12), berlin(2026, 3, 4, 14))

        days = schedule_days(schedule=schedule, first_day=date(2026, 3, 3), days=2, zone=BERLIN)

        first, second = days
        assert [(e.user.username if e.user else None, e.start, e.end) for e in first.entries] == [
            (None, berlin(2026, 3, 3, 0), berlin(2026, 3, 3, 9)),
            ("alice", berlin(2026, 3, 3, 9), berlin(2026, 3, 4, 0)),
        ]
        assert first.has_gap
        assert [
            (
                e.user.username,
                "start" if e.starts_at_day_start else e.start.astimezone(BERLIN).hour,
                e.is_override,
            )
            for e in second.entries
        ] == [
            ("alice", "start", False),
            ("bob", 9, False),
            ("carol", 12, True),
            ("bob", 14, False),
        ]
        assert second.entries[-1].ends_at_day_end
        assert not second.has_gap

    def test_schedule_days_follow_the_viewers_zone(self, schedule, alice, bob):
        make_rotation(schedule, [alice, bob], start_date=date(2026, 3, 2))
        tokyo = ZoneInfo("Asia/Tokyo")

        (day,) = schedule_days(schedule=schedule, first_day=date(2026, 3, 3), days=1, zone=tokyo)

        # 09:00 Berlin (CET) is 17:00 in Tokyo.
        assert [(e.user.username, e.start.astimezone(tokyo).hour) for e in day.entries] == [
            ("alice", 0),
            ("bob", 17),
        ]
