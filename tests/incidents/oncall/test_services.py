"""Overrides and calendar feed tokens: who may change what, and the checks on the input."""

from datetime import timedelta

import pytest

from incidents.oncall import services
from incidents.oncall.models import CalendarFeedToken, Override
from incidents.oncall.selectors import calendar_feed_owner, oncall_at
from portal.errors import InvalidInputError, PermissionDeniedError
from tests import factories

from .conftest import berlin, make_rotation, make_schedule

pytestmark = pytest.mark.django_db

NOW = berlin(2026, 3, 2, 10)


@pytest.fixture(autouse=True)
def clock(freeze):
    return freeze(NOW)


@pytest.fixture
def schedule(schedule, team, alice, bob):
    """Payments primary, whose team Alice and Bob are members of."""
    team.members.add(alice, bob)
    return schedule


@pytest.fixture
def other_schedule(db, carol):
    """Another team's schedule: Carol is its member, Alice and Bob are not."""
    search = factories.TeamFactory(name="Search", slug="search", time_zone="Europe/Berlin")
    search.members.add(carol)
    schedule = make_schedule(search, name="Search primary")
    make_rotation(schedule, [carol])
    return schedule


def create(schedule, user, actor, start=NOW, end=NOW + timedelta(hours=4), reason=""):
    return services.override_create(
        schedule=schedule, user=user, start=start, end=end, actor=actor, reason=reason
    )


class TestOverrideCreate:
    def test_a_responder_takes_a_shift_for_themselves(self, schedule, alice, bob):
        make_rotation(schedule, [alice])

        override = create(schedule, bob, bob, reason="  Alice at the dentist ")

        assert override.created_by == bob
        assert override.reason == "Alice at the dentist"
        assert oncall_at(schedule=schedule, at=NOW + timedelta(hours=1)) == bob
        assert oncall_at(schedule=schedule, at=NOW + timedelta(hours=4)) == alice

    def test_a_responder_cannot_put_someone_else_on_call(self, schedule, alice, bob):
        with pytest.raises(PermissionDeniedError, match="only for themselves"):
            create(schedule, bob, alice)
        assert not Override.objects.exists()

    @pytest.mark.parametrize("who", ["manager_user", "staff_user"])
    def test_managers_and_staff_put_anyone_on_call(self, request, schedule, bob, who):
        actor = request.getfixturevalue(who)

        override = create(schedule, bob, actor)

        assert override.user == bob
        assert override.created_by == actor

    def test_a_responder_of_another_team_cannot_take_its_shifts(self, other_schedule, alice):
        with pytest.raises(PermissionDeniedError) as error:
            create(other_schedule, alice, alice)

        assert error.value.message == (
            "Only members and engineering managers of Search (and managers and staff) may add "
            "overrides to Search primary; ask a manager to put you on call here."
        )
        assert not Override.objects.exists()
        assert oncall_at(schedule=other_schedule, at=NOW + timedelta(hours=1)).username == "carol"

    @pytest.mark.parametrize("how", ["engineering manager", "rotation"])
    def test_the_teams_engineering_managers_and_rotation_people_take_shifts(
        self, other_schedule, alice, how
    ):
        if how == "engineering manager":
            other_schedule.team.engineering_managers.add(alice)
        else:
            make_rotation(other_schedule, [alice], name="Secondary")

        override = create(other_schedule, alice, alice)

        assert oncall_at(schedule=other_schedule, at=NOW + timedelta(hours=1)) == alice
        assert override.created_by == alice

    def test_a_member_still_puts_only_themselves_on_call(self, other_schedule, carol, alice):
        with pytest.raises(PermissionDeniedError, match="only for themselves"):
            create(other_schedule, alice, carol)

    @pytest.mark.parametrize("who", ["manager_user", "staff_user"])
    def test_managers_and_staff_add_overrides_to_any_teams_schedule(
        self, request, other_schedule, bob, who
    ):
        override = create(other_schedule, bob, request.getfixturevalue(who))
        assert override.user == bob

    @pytest.mark.parametrize("who", ["viewer_user", "outsider"])
    def test_viewers_and_outsiders_cannot_add_overrides(self, request, schedule, who):
        actor = request.getfixturevalue(who)
        with pytest.raises(PermissionDeniedError, match="Only responders, managers and staff"):
            create(schedule, actor, actor)
        assert not Override.objects.exists()

    def test_the_person_must_be_a_responder(self, schedule, manager_user, viewer_user):
        with pytest.raises(InvalidInputError, match="not a responder") as error:
            create(schedule, viewer_user, manager_user)
        assert error.value.field == "user"

    def test_a_deactivated_responder_cannot_be_put_on_call(self, schedule, manager_user, bob):
        bob.is_active = False
        bob.save()
        with pytest.raises(InvalidInputError, match="not a responder"):
            create(schedule, bob, manager_user)

    def test_the_end_must_come_after_the_start(self, schedule, alice):
        with pytest.raises(InvalidInputError, match="end after it starts") as error:
            create(
                schedule, alice, alice, start=NOW + timedelta(hours=2), end=NOW + timedelta(hours=1)
            )
        assert error.value.field == "end"
        assert not Override.objects.exists()

    def test_an_override_wholly_in_the_past_is_refused(self, schedule, alice):
        with pytest.raises(InvalidInputError, match="in the past"):
            create(
                schedule, alice, alice, start=NOW - timedelta(days=1), end=NOW - timedelta(hours=1)
            )

    def test_an_override_may_start_a_little_earlier_than_now(self, schedule, alice):
        override = create(schedule, alice, alice, start=NOW - timedelta(minutes=5))
        assert override.start == NOW - timedelta(minutes=5)

    def test_an_override_lasts_at_most_92_days(self, schedule, alice):
        with pytest.raises(InvalidInputError, match="92 days"):
            create(schedule, alice, alice, end=NOW + timedelta(days=93))

    def test_the_reason_is_short(self, schedule, alice):
        with pytest.raises(InvalidInputError) as error:
            create(schedule, alice, alice, reason="x" * 201)
        assert error.value.field == "reason"


class TestOverrideDelete:
    def test_a_responder_removes_their_own_override(self, schedule, alice):
        override = create(schedule, alice, alice)

        services.override_delete(override=override, actor=alice)

        assert not Override.objects.exists()

    def test_a_responder_cannot_remove_someone_elses_override(self, schedule, alice, bob):
        override = create(schedule, alice, alice)

        with pytest.raises(PermissionDeniedError):
            services.override_delete(override=override, actor=bob)
        assert Override.objects.filter(pk=override.pk).exists()

    def test_a_responder_cannot_remove_an_override_a_manager_gave_them(
        self, schedule, alice, manager_user
    ):
        override = create(schedule, alice, manager_user)

        with pytest.raises(PermissionDeniedError, match="managers and staff"):
            services.override_delete(override=override, actor=alice)

    def test_a_manager_removes_any_override(self, schedule, alice, manager_user):
        override = create(schedule, alice, alice)

        services.override_delete(override=override, actor=manager_user)

        assert not Override.objects.exists()


class TestCalendarFeedToken:
    def test_the_token_is_made_once_and_is_long(self, alice):
        first = services.calendar_feed_token_get_or_create(user=alice)
        again = services.calendar_feed_token_get_or_create(user=alice)

        assert first.token == again.token
        assert len(first.token) >= 40
        assert calendar_feed_owner(token=first.token) == alice

    def test_replacing_the_token_revokes_the_old_address(self, alice):
        old = services.calendar_feed_token_get_or_create(user=alice).token

        new = services.calendar_feed_token_replace(user=alice).token

        assert new != old
        assert calendar_feed_owner(token=old) is None
        assert calendar_feed_owner(token=new) == alice
        assert CalendarFeedToken.objects.count() == 1

    def test_people_outside_the_portal_groups_get_no_token(self, outsider):
        with pytest.raises(PermissionDeniedError):
            services.calendar_feed_token_get_or_create(user=outsider)

    def test_a_deactivated_persons_feed_stops(self, alice):
        token = services.calendar_feed_token_get_or_create(user=alice).token
        alice.is_active = False
        alice.save()
        assert calendar_feed_owner(token=token) is None
