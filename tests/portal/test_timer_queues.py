"""Queues per timer kind, a priority per timer: one sweep per queue, most urgent first."""

import importlib
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from incidents.oncall import paging, reminders
from incidents.runbooks.services.jobs import wakeups
from portal import events, timers
from portal.celery import QUEUES, app, enqueue
from portal.models import Timer
from tests import factories
from tests.celery_worker import publishing_to, redis_server

fired: list[str] = []


@timers.timer_handler("test.queues.page", queue="paging")
def page(timer: Timer) -> str:
    fired.append(timer.key)
    return "paged"


@timers.timer_handler("test.queues.mail")
def mail(timer: Timer) -> str:
    fired.append(timer.key)
    return "mailed"


@timers.timer_handler("test.queues.job", queue="jobs")
def job(timer: Timer) -> str:
    fired.append(timer.key)
    return "ran"


@pytest.fixture(autouse=True)
def clear_fired():
    fired.clear()


def schedule(key: str, kind: str = "test.queues.page", *, seconds_ago: int = 1, **options):
    return timers.timer_schedule(
        kind=kind, key=key, due_at=timezone.now() - timedelta(seconds=seconds_ago), **options
    )


# --- Registration and scheduling ----------------------------------------------------------------


def test_a_kind_registers_its_queue_and_a_timer_takes_it(db):
    assert timers.timer_queue("test.queues.page") == "paging"
    assert timers.timer_queue("test.queues.mail") == "default"  # unless it says otherwise
    assert schedule("a").queue == "paging"
    assert schedule("b", "test.queues.mail").queue == "default"
    assert schedule("c", "test.queues.job").queue == "jobs"


def test_an_unknown_queue_is_refused():
    with pytest.raises(ValueError, match="Unknown queue"):
        timers.timer_handler("test.queues.nowhere", queue="urgent")


def test_the_priority_is_stored_nine_unless_given_and_kept_within_the_brokers_range(db):
    assert schedule("p1", priority=1).priority == 1
    assert schedule("none").priority == timers.PRIORITY_NONE == 9
    assert schedule("too-low", priority=-3).priority == 0
    assert schedule("too-high", priority=12).priority == 9  # a severity ranked past 9, say


def test_the_timer_queues_are_the_celery_queues_and_each_has_its_sweep():
    assert set(Timer.Queue.values) == set(QUEUES) == {q.name for q in app.conf.task_queues}
    sweeps = {
        entry["kwargs"]["queue"]: entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "portal.tasks.timers_sweep_task"
    }
    assert set(sweeps) == set(QUEUES)
    for queue, entry in sweeps.items():
        assert entry["options"]["queue"] == queue  # each sweep goes to its own queue's worker


def test_on_redis_a_p1_wake_up_is_taken_before_the_p3_ones_queued_ahead_of_it(tmp_path):
    """On a private Redis: the wake-ups `enqueue` sends come out by priority, then in order."""
    with redis_server(tmp_path / "redis.log") as redis, publishing_to(redis.url()):
        for timer_id, priority in [(31, 3), (32, 3), (91, 9), (33, 3), (11, 1), (1, 0), (12, 1)]:
            assert enqueue(timers.FIRE_TASK, timer_id, queue="paging", priority=priority)
        assert enqueue(timers.FIRE_TASK, 13, queue="default", priority=1)

        taken = []
        with app.connection_for_read() as connection:
            channel = connection.default_channel
            while (message := channel.basic_get(queue="paging", no_ack=True)) is not None:
                taken.append(message.decode()[0][0])
    assert taken == [1, 11, 12, 31, 32, 33, 91]  # and nothing of the default queue


# --- Sweeps: their own queue, most urgent first -------------------------------------------------


def test_the_sweep_fires_by_priority_then_due_time(db):
    schedule("p3-old", priority=3, seconds_ago=60)
    schedule("none-oldest", seconds_ago=600)
    schedule("p1-new", priority=1, seconds_ago=1)
    schedule("p3-new", priority=3, seconds_ago=5)
    schedule("p1-old", priority=1, seconds_ago=30)
    schedule("p2-later", priority=2, seconds_ago=-60)  # not due yet

    expected = ["p1-old", "p1-new", "p3-old", "p3-new", "none-oldest"]
    due = timers.timers_due(queue="paging")
    assert [Timer.objects.get(pk=pk).key for pk in due] == expected
    assert timers.timers_sweep(queue="paging") == 5
    assert fired == expected


def test_each_sweep_fires_only_its_own_queues_timers(db):
    schedule("mail-1", "test.queues.mail", priority=1, seconds_ago=600)
    schedule("job-1", "test.queues.job", seconds_ago=600)
    schedule("page-1", priority=4)

    assert timers.timers_sweep(queue="paging") == 1
    assert fired == ["page-1"]
    assert timers.timers_sweep(queue="paging") == 0

    assert timers.timers_sweep(queue="jobs") == 1
    assert timers.timers_sweep(queue="default") == 1
    assert fired == ["page-1", "job-1", "mail-1"]


def test_the_sweep_task_sweeps_the_queue_it_is_given(db):
    from portal.tasks import timers_sweep_task

    schedule("mail", "test.queues.mail")
    schedule("page")
    assert timers_sweep_task.delay(queue="default").get() == 1
    assert fired == ["mail"]
    assert timers_sweep_task.delay().get() == 1  # no queue: every queue's
    assert fired == ["mail", "page"]


def test_a_batch_is_read_afresh_so_what_it_made_due_comes_first_next(db):
    @timers.timer_handler("test.queues.engage", queue="paging")
    def engage(timer: Timer) -> str:
        fired.append(timer.key)
        if timer.key == "engage-p1":
            schedule("page-p1", priority=1)  # made due by the batch
        return "engaged"

    for n in range(3):
        schedule(f"engage-p3-{n}", "test.queues.engage", priority=3, seconds_ago=10 - n)
    schedule("engage-p1", "test.queues.engage", priority=1)
    for n in range(3):
        schedule(f"late-p3-{n}", "test.queues.engage", priority=3)

    assert timers.timers_sweep(queue="paging", limit=4) == 8
    assert fired[:5] == ["engage-p1", "engage-p3-0", "engage-p3-1", "engage-p3-2", "page-p1"]


# --- Wake-ups: to the timer's queue, with its priority ------------------------------------------


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, tuple, dict]]:
    calls: list[tuple[str, tuple, dict]] = []
    monkeypatch.setattr(
        timers, "enqueue", lambda name, *args, **options: calls.append((name, args, options))
    )
    return calls


def test_a_due_timers_wake_up_goes_to_its_queue_with_its_priority_and_no_eta(
    db, sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        timer = schedule("p1-step", priority=1)

    # An ETA would make the worker take the message off the broker at once and hold it
    # outside the priority order: a timer already due is woken without one.
    assert sent == [(timers.FIRE_TASK, (timer.pk,), {"queue": "paging", "priority": 1})]


def test_a_future_timers_wake_up_carries_its_eta(db, sent, django_capture_on_commit_callbacks):
    due_at = timezone.now() + timedelta(seconds=90)
    with django_capture_on_commit_callbacks(execute=True):
        timer = timers.timer_schedule(
            kind="test.queues.mail", key="soon", due_at=due_at, priority=2
        )

    assert sent == [
        (timers.FIRE_TASK, (timer.pk,), {"queue": "default", "priority": 2, "eta": due_at})
    ]


def test_a_wake_up_by_timer_id_reads_the_queue_and_priority_from_the_row(
    db, sent, django_capture_on_commit_callbacks
):
    timer = schedule("job", "test.queues.job", priority=4, seconds_ago=5)
    sent.clear()
    with django_capture_on_commit_callbacks(execute=True):
        timers.timer_wake(timer.pk)
    assert sent == [(timers.FIRE_TASK, (timer.pk,), {"queue": "jobs", "priority": 4})]


# --- Durable subscribers: a queue and a priority -------------------------------------------------


@events.event_type
@dataclass(frozen=True, kw_only=True)
class Raised(events.Event):
    name = "test.queues.raised"
    rank: int
    carried: object = events.transient()


heard: list[int] = []


@events.subscribe(
    Raised,
    name="test.queues.urgent",
    durable=True,
    queue="paging",
    priority=lambda event: event.carried or event.rank,
)
def urgent(event: Raised) -> str:
    heard.append(event.rank)
    return "heard"


@events.subscribe(Raised, name="test.queues.later", durable=True)
def later(event: Raised) -> str:
    heard.append(-event.rank)
    return "heard later"


def test_a_durable_subscriber_names_its_queue_and_the_events_priority(db):
    heard.clear()
    with transaction.atomic():
        events.publish(Raised(rank=3, carried=1))  # the transient field is there to ask

    urgent_timer = Timer.objects.get(kind="event.test.queues.urgent")
    later_timer = Timer.objects.get(kind="event.test.queues.later")
    assert (urgent_timer.queue, urgent_timer.priority) == ("paging", 1)
    assert (later_timer.queue, later_timer.priority) == ("default", 9)
    assert timers.timers_sweep(queue="paging") == 1
    assert heard == [3]


def test_only_a_durable_subscriber_has_a_queue_or_a_priority():
    with pytest.raises(ValueError, match="durable"):
        events.subscribe(Raised, name="test.queues.in_tx", durable=False, queue="paging")
    with pytest.raises(ValueError, match="durable"):
        events.subscribe(Raised, name="test.queues.in_tx", durable=False, priority=lambda e: 1)


# --- What runs where ----------------------------------------------------------------------------


def test_on_call_and_runbook_kinds_have_their_queues():
    assert timers.timer_queue("event.oncall.engage") == "paging"
    assert timers.timer_queue("event.oncall.engage_reopened") == "paging"
    assert timers.timer_queue(paging.STEP_KIND) == "paging"
    assert timers.timer_queue(paging.DELIVER_KIND) == "paging"
    assert timers.timer_queue(reminders.REMIND_KIND) == "paging"
    assert timers.timer_queue(wakeups.WAKE_KIND) == "jobs"
    assert timers.timer_queue(wakeups.ROLLOUT_POLL_KIND) == "jobs"
    assert timers.timer_queue("event.incidents.notify_team") == "default"
    assert timers.timer_queue("event.statuspage.fanout") == "default"


def test_paging_work_goes_to_paging_by_severity_and_the_team_mail_to_default(db, payments):
    p3 = factories.triggered("P3", services=[payments], title="Checkout is slow")
    p1 = factories.triggered("P1", services=[payments], title="Payments down")

    def open_timers(incident) -> set[tuple[str, str, int]]:
        keys = Timer.objects.filter(payload__data__incident_id=incident.pk)
        return set(keys.values_list("kind", "queue", "priority"))

    assert open_timers(p1) == {
        ("event.oncall.engage", "paging", 1),
        ("event.incidents.notify_team", "default", 1),
    }
    assert open_timers(p3) == {
        ("event.oncall.engage", "paging", 3),
        ("event.incidents.notify_team", "default", 3),
    }


def test_engaging_a_p1_schedules_its_steps_and_pages_on_paging_at_priority_one(db, payments):
    payments.team.engineering_managers.add(factories.responder("erin"))  # told of a P1
    incident = factories.triggered("P1", services=[payments])
    paging.incident_engage(incident_id=incident.pk)

    made = Timer.objects.filter(kind__in=[paging.STEP_KIND, paging.DELIVER_KIND])
    assert set(made.values_list("kind", "queue", "priority")) == {
        (paging.STEP_KIND, "paging", 1),
        (paging.DELIVER_KIND, "paging", 1),
    }


def test_the_upgrade_moves_open_timers_to_their_queue_paging_work_first(db):
    from django.apps import apps

    upgrade = importlib.import_module("portal.migrations.0005_timer_queue_priority")
    due = timezone.now()

    def written_before_queues(kind: str, key: str, state: str = "pending") -> Timer:
        return Timer.objects.create(
            kind=kind, key=key, due_at=due, state=state, queue="default", priority=9
        )

    step = written_before_queues("oncall.escalation_step", "step")
    engage = written_before_queues("event.oncall.engage", "engage", state="claimed")
    job = written_before_queues("runbooks.job_wake", "job")
    mail = written_before_queues("event.incidents.notify_team", "mail")
    sent = written_before_queues("oncall.page_deliver", "sent", state="done")

    upgrade.queue_open_timers(apps, None)

    def placed(timer: Timer) -> tuple[str, int]:
        timer.refresh_from_db()
        return timer.queue, timer.priority

    assert placed(step) == ("paging", 1)
    assert placed(engage) == ("paging", 1)
    assert placed(job) == ("jobs", 9)
    assert placed(mail) == ("default", 9)
    assert placed(sent) == ("default", 9)  # finished work stays as it was


def test_raised_before_its_engagement_ran_the_engagement_is_ranked_and_woken_anew(
    db, payments, sent, django_capture_on_commit_callbacks
):
    from incidents.services import incident_change_severity

    alice = factories.responder("alice")
    storm = factories.triggered("P3", services=[payments], title="Alert storm on Payments")

    with django_capture_on_commit_callbacks(execute=True):
        incident_change_severity(
            incident=storm, actor=alice, severity=factories.severity("P1"), reason="A P1 joined"
        )

    engage = Timer.objects.get(kind="event.oncall.engage", payload__data__incident_id=storm.pk)
    assert (engage.state, engage.queue, engage.priority) == ("pending", "paging", 1)
    assert (timers.FIRE_TASK, (engage.pk,), {"queue": "paging", "priority": 1}) in sent
