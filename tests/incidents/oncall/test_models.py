"""Model-level checks of rotations, overrides, schedules and contact methods."""

from datetime import date, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from incidents.oncall.models import ContactMethod, Override, Rotation, Schedule

from .conftest import berlin

pytestmark = pytest.mark.django_db


def rotation(schedule, **fields) -> Rotation:
    values = {
        "schedule": schedule,
        "name": "Primary",
        "shift_length": timedelta(days=1),
        "handoff_time": time(9),
        "start_date": date(2026, 3, 2),
        **fields,
    }
    return Rotation(**values)


class TestRotation:
    def test_shifts_last_at_least_an_hour(self, schedule):
        with pytest.raises(ValidationError, match="at least one hour"):
            rotation(schedule, shift_length=timedelta(minutes=30)).full_clean()

    def test_the_daily_window_needs_both_ends(self, schedule):
        with pytest.raises(ValidationError, match="both ends"):
            rotation(schedule, restrict_from=time(9)).full_clean()
        with pytest.raises(IntegrityError), transaction.atomic():
            rotation(schedule, restrict_from=time(9)).save()

    def test_weekdays_are_numbers_from_monday(self, schedule):
        with pytest.raises(ValidationError, match="Monday = 0"):
            rotation(schedule, restrict_weekdays=["monday"]).full_clean()
        with pytest.raises(ValidationError, match="Monday = 0"):
            rotation(schedule, restrict_weekdays=[7]).full_clean()

    def test_the_restriction_reads_as_text(self, schedule):
        restricted = rotation(
            schedule, restrict_weekdays=[4, 0], restrict_from=time(9), restrict_until=time(17)
        )
        assert restricted.restriction_text == "Mon, Fri 09:00-17:00"


class TestSchedule:
    def test_slugs_that_are_portal_paths_are_refused(self, team):
        schedule = Schedule(name="iCal", slug="ical", team=team, time_zone="UTC")
        with pytest.raises(ValidationError, match="taken by the portal"):
            schedule.full_clean()

    def test_the_time_zone_must_exist(self, team):
        schedule = Schedule(name="Mars", slug="mars", team=team, time_zone="Mars/Olympus")
        with pytest.raises(ValidationError, match="IANA"):
            schedule.full_clean()


class TestOverride:
    def test_the_database_refuses_an_override_ending_before_it_starts(self, schedule, alice):
        with pytest.raises(IntegrityError), transaction.atomic():
            Override.objects.create(
                schedule=schedule, user=alice, start=berlin(2026, 3, 2), end=berlin(2026, 3, 1)
            )


class TestContactMethod:
    def test_each_kind_checks_its_address(self, alice):
        cases = [
            ("email", "not-an-address", "email address"),
            ("slack", "alice", "Slack member ID"),
            ("webhook", "ftp://gateway.example.com", r"http\(s\) URL"),
        ]
        for kind, address, message in cases:
            with pytest.raises(ValidationError, match=message):
                ContactMethod(user=alice, kind=kind, address=address).full_clean()

    def test_a_webhook_gets_a_signing_secret(self, alice):
        method = ContactMethod(user=alice, kind="webhook", address="https://sms.example.com/hook")
        method.full_clean()
        assert len(method.secret) >= 40

    def test_methods_are_ordered_by_position(self, alice):
        ContactMethod.objects.create(
            user=alice, kind="webhook", address="https://x.test/", position=2
        )
        ContactMethod.objects.create(user=alice, kind="slack", address="U024BE7LH", position=1)
        ContactMethod.objects.create(user=alice, kind="email", address="a@example.com", position=0)
        assert [m.kind for m in alice.contact_methods.all()] == ["email", "slack", "webhook"]
