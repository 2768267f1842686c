"""Postmortem and action-item reminders: when, to whom, once a day, and when they stop."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core import mail

from incidents.models import CompanyHoliday
from portal import timers
from portal.models import Timer, UserProfile
from postmortems.models import Postmortem, Review
from postmortems.reminders import (
    ACTION_ITEM_OVERDUE,
    reminders_plan_action_item,
    reminders_plan_all,
    reminders_plan_postmortem,
)
from postmortems.services import (
    action_item_create,
    action_item_set_status,
    action_item_update,
    postmortem_author_add,
    postmortem_publish,
    postmortem_submit,
    review_decide,
    review_meeting_schedule,
)

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
DUE_SOON = "Postmortem due by the end of the next business day"
OVERDUE = "Postmortem overdue"
REVIEW = "Schedule the postmortem review meeting"


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def sent(subject_part: str, to: str | None = None) -> list:
    return [
        message
        for message in mail.outbox
        if subject_part in message.subject and (to is None or to in message.to)
    ]


@pytest.fixture
def checkout(team_of):
    return team_of("checkout", time_zone="Europe/Berlin", country="DE")


@pytest.fixture
def resolved_p1(pm_clock, checkout, alice, carol, incident_of):
    """A P1 of the Berlin team resolved on Monday 2 March 2026 at 10:00; Carol co-authors."""
    pm_clock.at(berlin(2026, 3, 2, 10, 0))
    incident = incident_of(alice, "P1", team=checkout, at=pm_clock.now)
    postmortem = Postmortem.objects.get(incident=incident)
    postmortem_author_add(postmortem=postmortem, actor=alice, users=[carol])
    return postmortem


# --- Postmortems ---------------------------------------------------------------------------


def test_due_in_one_business_day_is_reminded_before_the_weekend(resolved_p1, pm_clock):
    # Five business days after Monday 2 March: due at the end of Monday 9 March.
    due = resolved_p1.due_at.astimezone(BERLIN)
    assert due.date() == date(2026, 3, 9)

    pm_clock.at(berlin(2026, 3, 5, 18, 0))
    pm_clock.tick()
    pm_clock.at(berlin(2026, 3, 6, 8, 59))
    pm_clock.tick()
    assert sent(DUE_SOON) == []

    # Friday is the business day before the due day: reminded when it begins.
    pm_clock.at(berlin(2026, 3, 6, 9, 0, 1))
    pm_clock.tick()
    pm_clock.tick()
    (reminder,) = sent(DUE_SOON)
    assert sorted(reminder.to) == ["alice@example.com", "carol@example.com"]
    assert "Monday 9 March" in reminder.body
    assert f"/postmortems/{resolved_p1.pk}/" in reminder.body

    for moment in (berlin(2026, 3, 7, 9, 30), berlin(2026, 3, 8, 9, 30), berlin(2026, 3, 9, 9, 30)):
        pm_clock.at(moment)
        pm_clock.tick()
    assert len(sent(DUE_SOON)) == 1
    assert sent(OVERDUE) == []


def test_a_holiday_before_the_due_day_moves_the_reminder_earlier(
    pm_clock, checkout, alice, incident_of
):
    pm_clock.at(berlin(2026, 3, 3, 10, 0))  # Tuesday: due Tuesday 10 March
    incident = incident_of(alice, "P2", team=checkout, at=pm_clock.now)
    postmortem = Postmortem.objects.get(incident=incident)
    assert postmortem.due_at.astimezone(BERLIN).date() == date(2026, 3, 10)
    # The company takes Monday 9 March off after the due date was set.
    CompanyHoliday.objects.create(date=date(2026, 3, 9), name="Company day")

    pm_clock.at(berlin(2026, 3, 6, 9, 0, 1))
    pm_clock.tick()
    assert [m.to for m in sent(DUE_SOON)] == [["alice@example.com"]]
    pm_clock.at(berlin(2026, 3, 9, 9, 0, 1))
    pm_clock.tick()
    assert len(sent(DUE_SOON)) == 1


def test_overdue_is_reminded_each_business_morning_until_published(
    resolved_p1, pm_clock, alice, bob
):
    pm_clock.at(berlin(2026, 3, 9, 23, 0))  # still on time: due at the end of the day
    pm_clock.tick()
    assert sent(OVERDUE) == []

    pm_clock.at(berlin(2026, 3, 10, 9, 0, 1))
    pm_clock.tick()
    pm_clock.tick()
    (first,) = sent(OVERDUE)
    assert sorted(first.to) == ["alice@example.com", "carol@example.com"]
    assert "not published" in first.body

    pm_clock.at(berlin(2026, 3, 10, 16, 0))
    pm_clock.tick()
    assert len(sent(OVERDUE)) == 1  # once a day

    pm_clock.at(berlin(2026, 3, 11, 9, 0, 1))
    pm_clock.tick()
    assert len(sent(OVERDUE)) == 2

    postmortem_submit(postmortem=resolved_p1, actor=alice, reviewers=[bob])
    review_decide(review=Review.objects.get(postmortem=resolved_p1), actor=bob, decision="approved")
    postmortem_publish(postmortem=resolved_p1, actor=alice)

    for day in (12, 13, 16):
        pm_clock.at(berlin(2026, 3, day, 9, 0, 1))
        pm_clock.tick()
    assert len(sent(OVERDUE)) == 2


def test_overdue_waits_for_the_next_business_morning(resolved_p1, pm_clock):
    """Moved to be due on a Friday, it is first reminded on Monday, not at the weekend."""
    Postmortem.objects.filter(pk=resolved_p1.pk).update(
        due_at=datetime(2026, 3, 6, 23, 59, 59, 999999, tzinfo=BERLIN)
    )
    for day in (7, 8):
        pm_clock.at(berlin(2026, 3, day, 12, 0))
        pm_clock.tick()
    assert sent(OVERDUE) == []
    pm_clock.at(berlin(2026, 3, 9, 9, 0, 1))
    pm_clock.tick()
    assert len(sent(OVERDUE)) == 1


def test_an_unscheduled_p1_review_reminds_the_ic_after_24_hours(resolved_p1, pm_clock):
    pm_clock.at(berlin(2026, 3, 3, 9, 59))
    pm_clock.tick()
    assert sent(REVIEW) == []

    pm_clock.at(berlin(2026, 3, 3, 10, 0, 1))
    pm_clock.tick()
    pm_clock.tick()
    (reminder,) = sent(REVIEW)
    assert reminder.to == ["alice@example.com"]  # the IC, not the co-author
    assert "24 hours" in reminder.body

    pm_clock.at(berlin(2026, 3, 4, 9, 0, 1))
    pm_clock.tick()
    assert len(sent(REVIEW)) == 2  # again the next business morning


def test_scheduling_the_review_stops_its_reminders(resolved_p1, pm_clock, alice, bob):
    pm_clock.at(berlin(2026, 3, 3, 10, 0, 1))
    pm_clock.tick()
    assert len(sent(REVIEW)) == 1
    review_meeting_schedule(
        postmortem=resolved_p1, actor=alice, at=berlin(2026, 3, 5, 14, 0), attendees=[alice, bob]
    )
    for day in (4, 5, 6):
        pm_clock.at(berlin(2026, 3, day, 9, 0, 1))
        pm_clock.tick()
    assert len(sent(REVIEW)) == 1


def test_a_review_scheduled_in_time_is_never_reminded(resolved_p1, pm_clock, alice):
    pm_clock.at(berlin(2026, 3, 2, 15, 0))
    review_meeting_schedule(
        postmortem=resolved_p1, actor=alice, at=berlin(2026, 3, 3, 9, 30), attendees=[alice]
    )
    pm_clock.at(berlin(2026, 3, 3, 10, 0, 1))
    pm_clock.tick()
    assert sent(REVIEW) == []


def test_a_p2_needs_no_review_meeting(pm_clock, checkout, alice, incident_of):
    pm_clock.at(berlin(2026, 3, 2, 10, 0))
    incident_of(alice, "P2", team=checkout, at=pm_clock.now)
    pm_clock.at(berlin(2026, 3, 3, 10, 0, 1))
    pm_clock.tick()
    assert sent(REVIEW) == []


def test_duplicate_planning_and_firing_send_once(
    resolved_p1, pm_clock, django_capture_on_commit_callbacks
):
    pm_clock.at(berlin(2026, 3, 6, 9, 0, 1))
    with django_capture_on_commit_callbacks(execute=True):
        reminders_plan_all()
        reminders_plan_all()
        reminders_plan_postmortem(resolved_p1)
    keys = list(
        Timer.objects.filter(key__startswith=f"pm-{resolved_p1.pk}:due-soon:").values_list(
            "key", flat=True
        )
    )
    assert len(keys) == 1
    timer = Timer.objects.get(key=keys[0])
    with django_capture_on_commit_callbacks(execute=True):
        timers.timer_fire(timer_id=timer.pk)
        timers.timer_fire(timer_id=timer.pk)  # a duplicate wake-up
        timers.timers_sweep()
        timers.timers_sweep()  # a second beat
    assert len(sent(DUE_SOON)) == 1


# --- Action items --------------------------------------------------------------------------


@pytest.fixture
def item_due_friday(pm_clock, resolved_p1, alice, bob):
    """Bob's action item, added on Monday 2 March 12:00 UTC, due Friday 6 March."""
    pm_clock.at(utc(2026, 3, 2, 12, 0))
    return action_item_create(
        incident=resolved_p1.incident,
        postmortem=resolved_p1,
        title="Add a saturation alert",
        owner=bob,
        due_date=date(2026, 3, 6),
        actor=alice,
    )


def item_mails(kind: str) -> list:
    part = {"soon": "Action item due Fri 06 Mar", "overdue": "Action item overdue"}[kind]
    return sent(part, "bob@example.com")


def test_an_item_due_in_two_days_reminds_its_owner(item_due_friday, pm_clock):
    pm_clock.at(utc(2026, 3, 4, 8, 59))
    pm_clock.tick()
    assert item_mails("soon") == []
    pm_clock.at(utc(2026, 3, 4, 9, 0, 1))
    pm_clock.tick()
    pm_clock.tick()
    (reminder,) = item_mails("soon")
    assert reminder.to == ["bob@example.com"]
    assert "Add a saturation alert" in reminder.body
    assert f"/postmortems/action-items/{item_due_friday.pk}/" in reminder.body
    pm_clock.at(utc(2026, 3, 5, 9, 0, 1))
    pm_clock.tick()
    assert len(item_mails("soon")) == 1


def test_an_overdue_item_reminds_daily_until_done(item_due_friday, pm_clock, bob):
    pm_clock.at(utc(2026, 3, 6, 20, 0))  # due today: not overdue yet
    pm_clock.tick()
    assert item_mails("overdue") == []

    pm_clock.at(utc(2026, 3, 7, 9, 0, 1))
    pm_clock.tick()
    pm_clock.tick()
    (first,) = item_mails("overdue")
    assert "1 day ago" in first.body
    pm_clock.at(utc(2026, 3, 7, 18, 0))
    pm_clock.tick()
    assert len(item_mails("overdue")) == 1
    pm_clock.at(utc(2026, 3, 8, 9, 0, 1))
    pm_clock.tick()
    assert len(item_mails("overdue")) == 2

    action_item_set_status(item=item_due_friday, status="done", actor=bob)
    for day in (9, 10):
        pm_clock.at(utc(2026, 3, day, 9, 0, 1))
        pm_clock.tick()
    assert len(item_mails("overdue")) == 2


def test_wont_do_also_stops_reminders(item_due_friday, pm_clock, bob):
    action_item_set_status(item=item_due_friday, status="wont_do", actor=bob)
    for moment in (utc(2026, 3, 4, 9, 0, 1), utc(2026, 3, 7, 9, 0, 1)):
        pm_clock.at(moment)
        pm_clock.tick()
    assert sent("Action item", "bob@example.com") == []


def test_a_moved_due_date_moves_the_reminder(item_due_friday, pm_clock, alice):
    pm_clock.at(utc(2026, 3, 3, 12, 0))
    pm_clock.tick()  # plans Wednesday's reminder for a Friday due date
    action_item_update(item=item_due_friday, actor=alice, due_date=date(2026, 3, 13))
    pm_clock.at(utc(2026, 3, 4, 9, 0, 1))
    pm_clock.tick()
    pm_clock.at(utc(2026, 3, 7, 9, 0, 1))
    pm_clock.tick()
    assert sent("Action item", "bob@example.com") == []
    pm_clock.at(utc(2026, 3, 11, 9, 0, 1))
    pm_clock.tick()
    assert [m.subject for m in sent("Action item", "bob@example.com")] == [
        "Action item due Fri 13 Mar: Add a saturation alert"
    ]


def test_reminders_follow_the_owners_time_zone(item_due_friday, pm_clock, bob):
    UserProfile.objects.update_or_create(user=bob, defaults={"time_zone": "America/New_York"})
    pm_clock.at(utc(2026, 3, 4, 13, 59))  # 08:59 in New York
    pm_clock.tick()
    assert item_mails("soon") == []
    pm_clock.at(utc(2026, 3, 4, 14, 0, 1))  # 09:00 in New York
    pm_clock.tick()
    assert len(item_mails("soon")) == 1


def test_a_new_owner_gets_the_reminders(item_due_friday, pm_clock, alice, carol):
    action_item_update(item=item_due_friday, actor=alice, owner=carol)
    pm_clock.at(utc(2026, 3, 7, 9, 0, 1))
    pm_clock.tick()
    assert sent("Action item overdue", "carol@example.com")
    assert sent("Action item overdue", "bob@example.com") == []


def test_duplicate_runs_send_one_item_reminder(
    item_due_friday, pm_clock, django_capture_on_commit_callbacks
):
    pm_clock.at(utc(2026, 3, 7, 9, 0, 1))
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            reminders_plan_all()
            reminders_plan_action_item(item_due_friday)
    todays = Timer.objects.filter(kind=ACTION_ITEM_OVERDUE, key__endswith=":2026-03-07")
    assert todays.count() == 1
    timer_id = todays.get().pk
    with django_capture_on_commit_callbacks(execute=True):
        timers.timers_sweep()
        timers.timer_fire(timer_id=timer_id)
        timers.timers_sweep()
    assert len(item_mails("overdue")) == 1


def test_a_reminder_fired_far_too_late_is_dropped(
    item_due_friday, pm_clock, django_capture_on_commit_callbacks
):
    pm_clock.at(utc(2026, 3, 7, 8, 0))
    with django_capture_on_commit_callbacks(execute=True):
        reminders_plan_all()  # plans Saturday's 09:00 reminder
    pm_clock.at(utc(2026, 3, 7, 23, 30))  # the workers were down all day
    with django_capture_on_commit_callbacks(execute=True):
        timers.timers_sweep()
    assert item_mails("overdue") == []
    pm_clock.at(utc(2026, 3, 8, 9, 0, 1))
    pm_clock.tick()
    assert len(item_mails("overdue")) == 1
