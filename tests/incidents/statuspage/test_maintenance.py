"""Scheduled maintenance: announced, started and completed on time by itself, and by hand."""

from datetime import timedelta

import pytest

from incidents.statuspage.maintenance import fire_maintenance_start
from incidents.statuspage.models import ComponentStatusChange, PublicIncident, StatusVersion
from incidents.statuspage.services import (
    MaintenanceTransitionNotAllowed,
    component_status_set,
    maintenance_reschedule,
    maintenance_schedule,
    maintenance_transition,
    maintenance_update,
)
from portal.errors import InvalidInputError, PermissionDeniedError
from portal.models import Timer

pytestmark = pytest.mark.django_db


def version() -> int:
    row = StatusVersion.objects.filter(pk=1).first()
    return row.version if row else 0


@pytest.fixture
def database(make_component):
    return make_component("Database", group="Platform")


@pytest.fixture
def search(make_component):
    return make_component("Search", group="Platform", status="degraded_performance")


@pytest.fixture
def window(status_clock):
    """Tonight's window: starts in two hours, lasts one."""
    start = status_clock.now + timedelta(hours=2)
    return start, start + timedelta(hours=1)


def schedule(actor, window, components, **fields):
    fields.setdefault("name", "Database upgrade")
    fields.setdefault("body", "We are upgrading the database; the dashboard may be slow.")
    return maintenance_schedule(
        scheduled_for=window[0],
        scheduled_until=window[1],
        components=components,
        actor=actor,
        **fields,
    )


def updates(maintenance: PublicIncident) -> list[tuple[str, str]]:
    return [(u.status, u.body) for u in maintenance.updates.order_by("display_at", "id")]


def test_a_maintenance_runs_itself_and_gives_components_back(
    status_clock, staff_user, window, database, search
):
    before = version()
    maintenance = schedule(staff_user, window, [database, search])
    assert maintenance.kind == "maintenance"
    assert maintenance.status == "scheduled"
    assert (maintenance.scheduled_for, maintenance.scheduled_until) == window
    assert updates(maintenance) == [
        ("scheduled", "We are upgrading the database; the dashboard may be slow.")
    ]
    assert version() > before

    status_clock.at(window[0] - timedelta(minutes=1))
    status_clock.sweep()
    maintenance.refresh_from_db()
    assert maintenance.status == "scheduled"

    started_version = version()
    status_clock.at(window[0] + timedelta(seconds=1))
    status_clock.sweep()
    maintenance.refresh_from_db()
    database.refresh_from_db()
    search.refresh_from_db()
    assert maintenance.status == "in_progress"
    assert database.status == search.status == "under_maintenance"
    assert updates(maintenance)[-1] == (
        "in_progress",
        "Scheduled maintenance is currently in progress. We will provide updates as necessary.",
    )
    latest = maintenance.updates.order_by("-display_at", "-id").first()
    assert {
        (a.component, a.old_status, a.new_status) for a in latest.affected_components.all()
    } == {
        (database, "operational", "under_maintenance"),
        (search, "degraded_performance", "under_maintenance"),
    }
    assert version() > started_version

    completed_version = version()
    status_clock.at(window[1] + timedelta(seconds=1))
    status_clock.sweep()
    maintenance.refresh_from_db()
    database.refresh_from_db()
    search.refresh_from_db()
    assert maintenance.status == "completed"
    assert maintenance.resolved_at is not None
    assert updates(maintenance)[-1] == (
        "completed",
        "The scheduled maintenance has been completed.",
    )
    # Each component is back to what it was before, and the history says so.
    assert database.status == "operational"
    assert search.status == "degraded_performance"
    assert [
        (c.old_status, c.new_status) for c in ComponentStatusChange.objects.filter(component=search)
    ] == [
        ("degraded_performance", "under_maintenance"),
        ("under_maintenance", "degraded_performance"),
    ]
    assert version() > completed_version
    assert not Timer.objects.filter(key__startswith=f"maint-{maintenance.pk}:", state="pending")


def test_a_component_changed_during_the_maintenance_keeps_its_new_status(
    status_clock, staff_user, window, database, search
):
    schedule(staff_user, window, [database, search])
    status_clock.at(window[0])
    status_clock.sweep()
    component_status_set(component=database, status="major_outage", actor=staff_user)
    status_clock.at(window[1])
    status_clock.sweep()
    database.refresh_from_db()
    search.refresh_from_db()
    assert database.status == "major_outage"
    assert search.status == "degraded_performance"


def test_late_or_duplicate_timers_do_nothing(status_clock, staff_user, window, database):
    maintenance = schedule(staff_user, window, [database])
    start_timer = Timer.objects.get(kind="statuspage.maintenance_start")
    status_clock.at(window[0])
    assert status_clock.sweep() >= 1
    count = maintenance.updates.count()

    # The same timer again (a duplicate wake-up) is not fired twice …
    assert status_clock.sweep() == 0
    # … and its handler, run once more anyway, sees the maintenance already started.
    assert fire_maintenance_start(Timer.objects.get(pk=start_timer.pk)) == "already in_progress"
    assert maintenance.updates.count() == count
    assert ComponentStatusChange.objects.filter(component=database).count() == 1


def test_a_missed_start_still_completes_with_both_updates(
    status_clock, staff_user, window, database
):
    maintenance = schedule(staff_user, window, [database])
    Timer.objects.filter(kind="statuspage.maintenance_start").update(state="failed")
    status_clock.at(window[1])
    status_clock.sweep()
    maintenance.refresh_from_db()
    database.refresh_from_db()
    assert maintenance.status == "completed"
    assert [status for status, _ in updates(maintenance)] == [
        "scheduled",
        "in_progress",
        "completed",
    ]
    assert database.status == "operational"


def test_subscribers_are_reminded_once_before_it_starts(
    status_clock, staff_user, window, database, notified, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        maintenance = schedule(
            staff_user, window, [database], remind_subscribers_before=timedelta(minutes=30)
        )
    announced = list(notified)
    assert announced == [f"update:{maintenance.updates.get().pk}"]

    status_clock.at(window[0] - timedelta(minutes=31))
    with django_capture_on_commit_callbacks(execute=True):
        status_clock.sweep()
    assert notified == announced
    status_clock.at(window[0] - timedelta(minutes=29))
    with django_capture_on_commit_callbacks(execute=True):
        status_clock.sweep()
        status_clock.sweep()
    reminders = [key for key in notified if key.startswith("maintenance:")]
    assert reminders == [f"maintenance:{maintenance.pk}:{int(window[0].timestamp())}"]


def test_no_reminder_for_a_cancelled_maintenance_or_when_not_asked(
    status_clock, staff_user, window, database, notified, django_capture_on_commit_callbacks
):
    cancelled = schedule(staff_user, window, [database])
    schedule(staff_user, window, [database], name="Quiet one", remind_subscribers_before=None)
    maintenance_transition(maintenance=cancelled, status="completed", actor=staff_user)
    cancelled.refresh_from_db()
    assert updates(cancelled)[-1] == ("completed", "The scheduled maintenance has been cancelled.")
    with django_capture_on_commit_callbacks(execute=True):
        status_clock.at(window[0] - timedelta(minutes=1))
        status_clock.sweep()
    assert not [key for key in notified if key.startswith("maintenance:")]
    database.refresh_from_db()
    assert database.status == "operational"


def test_rescheduling_moves_the_timers(status_clock, staff_user, window, database):
    maintenance = schedule(staff_user, window, [database])
    later = (window[0] + timedelta(days=1), window[1] + timedelta(days=1))
    update = maintenance_reschedule(
        maintenance=maintenance,
        actor=staff_user,
        scheduled_for=later[0],
        scheduled_until=later[1],
    )
    assert update.status == "scheduled"
    assert update.body.startswith("The maintenance window has changed")
    status_clock.at(window[0] + timedelta(minutes=1))
    status_clock.sweep()
    maintenance.refresh_from_db()
    assert maintenance.status == "scheduled"  # the old time passes quietly

    # Back to the first time: scheduled again, under new timer keys.
    maintenance_reschedule(
        maintenance=maintenance,
        actor=staff_user,
        scheduled_for=status_clock.now + timedelta(minutes=5),
        scheduled_until=window[1],
    )
    status_clock.advance(timedelta(minutes=6))
    status_clock.sweep()
    maintenance.refresh_from_db()
    assert maintenance.status == "in_progress"


def test_a_stale_timer_of_an_old_window_does_nothing(status_clock, staff_user, window, database):
    maintenance = schedule(staff_user, window, [database])
    stale = Timer.objects.get(kind="statuspage.maintenance_start")
    maintenance_reschedule(
        maintenance=maintenance,
        actor=staff_user,
        scheduled_for=window[0] + timedelta(hours=5),
        scheduled_until=window[1] + timedelta(hours=5),
    )
    assert fire_maintenance_start(stale) == "rescheduled"
    maintenance.refresh_from_db()
    assert maintenance.status == "scheduled"


def test_people_move_it_by_hand(status_clock, staff_user, window, database):
    maintenance = schedule(staff_user, window, [database])
    maintenance_transition(maintenance=maintenance, status="in_progress", actor=staff_user)
    maintenance_update(
        maintenance=maintenance,
        actor=staff_user,
        body="The upgrade is done; we are checking everything works.",
        status="verifying",
    )
    maintenance_update(maintenance=maintenance, actor=staff_user, body="Still checking.")
    maintenance.refresh_from_db()
    assert maintenance.status == "verifying"
    assert maintenance.monitoring_at is not None
    assert (
        maintenance_transition(maintenance=maintenance, status="verifying", actor=staff_user)
        is None
    )  # already there

    # Completed early: the timers at the window's start and end have nothing left to do.
    maintenance_transition(maintenance=maintenance, status="completed", actor=staff_user)
    status_clock.at(window[1] + timedelta(minutes=1))
    status_clock.sweep()
    maintenance.refresh_from_db()
    database.refresh_from_db()
    assert maintenance.status == "completed"
    assert database.status == "operational"
    assert [status for status, _ in updates(maintenance)] == [
        "scheduled",
        "in_progress",
        "verifying",
        "verifying",
        "completed",
    ]
    with pytest.raises(MaintenanceTransitionNotAllowed):
        maintenance_transition(maintenance=maintenance, status="in_progress", actor=staff_user)


def test_without_auto_transition_nothing_moves_by_itself(
    status_clock, staff_user, window, database
):
    maintenance = schedule(staff_user, window, [database], auto_transition=False)
    status_clock.at(window[1] + timedelta(minutes=1))
    status_clock.sweep()
    maintenance.refresh_from_db()
    assert maintenance.status == "scheduled"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": " "}, "name"),
        ({"body": ""}, "body"),
        ({"until": -timedelta(hours=2)}, "scheduled_until"),
        ({"shift": -timedelta(hours=5)}, "scheduled_until"),  # over already
        ({"remind_subscribers_before": timedelta(0)}, "remind_subscribers_before"),
    ],
)
def test_bad_maintenance_input_is_refused_and_nothing_is_written(
    status_clock, staff_user, window, database, change, field
):
    start, end = window
    if "until" in change:
        end = end + change.pop("until")
    if "shift" in change:
        shift = change.pop("shift")
        start, end = start + shift, end + shift
    before = version()
    with pytest.raises(InvalidInputError) as refused:
        schedule(staff_user, (start, end), [database], **change)
    assert refused.value.field == field
    assert PublicIncident.objects.count() == 0
    assert Timer.objects.filter(kind__startswith="statuspage.maintenance").count() == 0
    assert version() == before


def test_only_staff_schedule_or_move_maintenance(status_clock, staff_user, alice, window, database):
    with pytest.raises(PermissionDeniedError):
        schedule(alice, window, [database])
    maintenance = schedule(staff_user, window, [database])
    with pytest.raises(PermissionDeniedError):
        maintenance_transition(maintenance=maintenance, status="in_progress", actor=alice)
    with pytest.raises(PermissionDeniedError):
        maintenance_update(maintenance=maintenance, actor=alice, body="Hello")


def test_once_started_only_the_end_moves(status_clock, staff_user, window, database):
    maintenance = schedule(staff_user, window, [database])
    maintenance_transition(maintenance=maintenance, status="in_progress", actor=staff_user)
    with pytest.raises(InvalidInputError) as refused:
        maintenance_reschedule(
            maintenance=maintenance,
            actor=staff_user,
            scheduled_for=window[0] + timedelta(hours=1),
            scheduled_until=window[1] + timedelta(hours=1),
        )
    assert refused.value.field == "scheduled_for"
    maintenance.refresh_from_db()
    extended = window[1] + timedelta(hours=1)
    maintenance_reschedule(
        maintenance=maintenance,
        actor=staff_user,
        scheduled_for=maintenance.scheduled_for,
        scheduled_until=extended,
    )
    status_clock.at(window[1] + timedelta(minutes=1))
    status_clock.sweep()
    maintenance.refresh_from_db()
    assert maintenance.status == "in_progress"  # the old end passes
    status_clock.at(extended + timedelta(minutes=1))
    status_clock.sweep()
    maintenance.refresh_from_db()
    assert maintenance.status == "completed"
