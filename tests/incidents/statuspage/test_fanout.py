"""Fan-out: who hears about a public change, what they receive, retries and giving up."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from incidents.statuspage import subscriptions, tasks
from incidents.statuspage.models import ComponentStatusChange, Delivery, Subscriber
from portal.models import Timer
from tests.incidents.statuspage.receiver import signature_valid

pytestmark = pytest.mark.usefixtures("subscribe_cache")


@pytest.fixture
def notify(django_capture_on_commit_callbacks):
    """Fan an event out and run the sends it enqueues, as the worker would."""

    def run(event_key: str) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return subscriptions.subscribers_notify(event_key=event_key)

    return run


@pytest.fixture
def api(make_component):
    return make_component("API", group="Core")


@pytest.fixture
def dashboard(make_component):
    return make_component("Dashboard", group="Core")


@pytest.fixture
def outage(make_public_incident, api):
    """A public incident on the API with one update that says so."""
    return make_public_incident(
        "Elevated error rates",
        components=[api],
        impact="major",
        updates=[("investigating", "We are looking into errors on the API.")],
    )


def update_key(public_incident) -> str:
    return f"update:{public_incident.updates.get().pk}"


def component_change(component, new_status, *, public_incident=None) -> ComponentStatusChange:
    change = ComponentStatusChange.objects.create(
        component=component,
        old_status=component.status,
        new_status=new_status,
        changed_at=timezone.now(),
        public_incident=public_incident,
    )
    component.status = new_status
    component.save(update_fields=["status", "updated_at"])
    return change


def test_subscribers_of_all_or_of_the_touched_component_hear_an_update(
    make_subscriber, outage, api, dashboard, notify
):
    everything = make_subscriber(email="all@example.com")
    api_only = make_subscriber(email="api@example.com", components=[api])
    make_subscriber(email="dash@example.com", components=[dashboard])
    make_subscriber(email="pending@example.com", active=False)
    make_subscriber(email="gone@example.com", unsubscribed_at=timezone.now())
    make_subscriber(email="off@example.com", disabled_at=timezone.now(), disabled_reason="failures")

    created = notify(update_key(outage))

    assert created == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["all@example.com", "api@example.com"]
    assert set(Delivery.objects.values_list("subscriber", flat=True)) == {
        everything.pk,
        api_only.pk,
    }
    assert set(Delivery.objects.values_list("state", flat=True)) == {"sent"}


def test_fanning_out_twice_creates_and_sends_nothing_new(make_subscriber, outage, notify):
    make_subscriber(email="all@example.com")
    make_subscriber(email="other@example.com")

    assert notify(update_key(outage)) == 2
    assert notify(update_key(outage)) == 0

    assert Delivery.objects.count() == 2
    assert len(mail.outbox) == 2


def test_an_update_published_without_notifications_is_not_sent(make_subscriber, outage, notify):
    make_subscriber(email="all@example.com")
    outage.updates.update(deliver_notifications=False)

    assert notify(update_key(outage)) == 0
    assert mail.outbox == []


def test_an_update_email_says_what_happened_and_how_to_unsubscribe(make_subscriber, outage, notify):
    subscriber = make_subscriber(email="all@example.com")

    notify(update_key(outage))

    (message,) = mail.outbox
    unsubscribe = f"/status/unsubscribe/{subscriber.token}/"
    assert message.subject == "[Firebreak status] Elevated error rates: Investigating"
    assert "We are looking into errors on the API." in message.body
    assert f"/status/incidents/{outage.public_id}/" in message.body
    assert unsubscribe in message.body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html" and unsubscribe in html
    assert message.extra_headers["List-Unsubscribe"].startswith("<http")
    assert message.extra_headers["List-Unsubscribe"].endswith(unsubscribe + ">")
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_a_webhook_receives_the_incident_signed_in_statuspage_shape(
    make_subscriber, outage, notify, webhook_receiver, allow_loopback
):
    subscriber = make_subscriber(url=webhook_receiver.url)
    webhook_receiver.secret = subscriber.signing_secret

    notify(update_key(outage))

    (request,) = webhook_receiver.accepted()
    assert signature_valid(
        secret=subscriber.signing_secret, headers=request.headers, body=request.raw
    )
    body = request.json
    assert set(body) == {"meta", "page", "incident"}
    assert body["meta"]["unsubscribe"].endswith(f"/status/unsubscribe/{subscriber.token}/")
    assert body["meta"]["documentation"].startswith("http")
    assert set(body["page"]) == {"id", "status_indicator", "status_description"}
    assert body["page"]["status_indicator"] == "major"
    assert body["incident"]["id"] == outage.public_id
    assert body["incident"]["incident_updates"][0]["body"] == (
        "We are looking into errors on the API."
    )
    assert Delivery.objects.get().state == "sent"


def test_a_component_change_reaches_webhooks_and_email_subscribers(
    make_subscriber, api, dashboard, notify, webhook_receiver, allow_loopback
):
    hook = make_subscriber(url=webhook_receiver.url, components=[api])
    make_subscriber(email="api@example.com", components=[api])
    make_subscriber(email="dash@example.com", components=[dashboard])
    change = component_change(api, "partial_outage")

    assert notify(f"component:{change.pk}") == 2

    (request,) = webhook_receiver.accepted()
    body = request.json
    assert set(body) == {"meta", "page", "component_update", "component"}
    update = body["component_update"]
    assert (update["old_status"], update["new_status"]) == ("operational", "partial_outage")
    assert update["component_id"] == api.public_id == body["component"]["id"]
    assert update["created_at"] and update["id"]
    assert body["meta"]["unsubscribe"].endswith(f"/{hook.token}/")
    (message,) = mail.outbox
    assert message.to == ["api@example.com"]
    assert message.subject == "[Firebreak status] API: Partial outage"


def test_a_change_made_by_an_incident_is_emailed_through_the_incident_only(
    make_subscriber, api, outage, notify, webhook_receiver, allow_loopback
):
    make_subscriber(url=webhook_receiver.url)
    make_subscriber(email="all@example.com")
    change = component_change(api, "major_outage", public_incident=outage)

    assert notify(f"component:{change.pk}") == 1

    assert len(webhook_receiver.accepted()) == 1
    assert mail.outbox == []


def test_a_maintenance_reminder_is_emailed_to_subscribers_of_its_components(
    make_subscriber, make_public_incident, api, dashboard, notify, webhook_receiver, allow_loopback
):
    make_subscriber(email="api@example.com", components=[api])
    make_subscriber(email="dash@example.com", components=[dashboard])
    make_subscriber(url=webhook_receiver.url)
    starts = timezone.now() + timedelta(hours=1)
    maintenance = make_public_incident(
        "Database upgrade",
        kind="maintenance",
        status="scheduled",
        impact="none",
        components=[api],
        scheduled_for=starts,
        scheduled_until=starts + timedelta(hours=2),
        updates=[("scheduled", "We will upgrade the database.")],
    )

    assert notify(f"maintenance:{maintenance.pk}") == 1

    (message,) = mail.outbox
    assert message.to == ["api@example.com"]
    assert message.subject.startswith("[Firebreak status] Scheduled maintenance: Database upgrade")
    assert "We will upgrade the database." in message.body
    assert webhook_receiver.requests == []


def test_a_failed_webhook_is_retried_by_its_timer_and_then_sent_once(
    make_subscriber,
    outage,
    notify,
    webhook_receiver,
    allow_loopback,
    status_clock,
    django_capture_on_commit_callbacks,
):
    subscriber = make_subscriber(url=webhook_receiver.url)
    webhook_receiver.secret = subscriber.signing_secret
    webhook_receiver.script = [500]

    notify(update_key(outage))

    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("pending", 1)
    assert "HTTP 500" in delivery.last_error
    # Nothing happens before the retry is due.
    with django_capture_on_commit_callbacks(execute=True):
        status_clock.advance(timedelta(seconds=30))
        status_clock.sweep()
    assert len(webhook_receiver.requests) == 1

    with django_capture_on_commit_callbacks(execute=True):
        status_clock.advance(timedelta(minutes=1))
        status_clock.sweep()

    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("sent", 2)
    first, second = webhook_receiver.requests
    assert (first.answered, second.answered) == (500, 200)
    # The same message id on the retry, so the receiver can drop a duplicate.
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.raw == second.raw
    subscriber.refresh_from_db()
    assert subscriber.consecutive_failures == 0

    # Later wake-ups and a repeated task send nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        tasks.delivery_send_task.delay(delivery.pk)
        status_clock.advance(timedelta(hours=24))
        status_clock.sweep()
    assert len(webhook_receiver.requests) == 2
    assert not Timer.objects.filter(
        kind=subscriptions.DELIVERY_RETRY, state=Timer.State.PENDING
    ).exists()


def test_a_delivery_gives_up_after_its_last_attempt(
    make_subscriber,
    outage,
    notify,
    webhook_receiver,
    allow_loopback,
    status_clock,
    django_capture_on_commit_callbacks,
    settings,
):
    settings.FIREBREAK_WEBHOOK_MAX_FAILURES = 100
    make_subscriber(url=webhook_receiver.url)
    webhook_receiver.script = [500] * 20

    notify(update_key(outage))
    for _ in range(subscriptions.MAX_ATTEMPTS + 2):
        with django_capture_on_commit_callbacks(execute=True):
            status_clock.advance(timedelta(hours=13))
            status_clock.sweep()

    delivery = Delivery.objects.get()
    assert (delivery.state, delivery.attempts) == ("failed", subscriptions.MAX_ATTEMPTS)
    assert len(webhook_receiver.requests) == subscriptions.MAX_ATTEMPTS


def test_a_webhook_failing_again_and_again_is_disabled_and_re_enabled_by_an_admin(
    make_subscriber, make_public_incident, notify, webhook_receiver, allow_loopback, settings
):
    settings.FIREBREAK_WEBHOOK_MAX_FAILURES = 3
    subscriber = make_subscriber(url=webhook_receiver.url)
    webhook_receiver.script = [500] * 10
    incidents = [
        make_public_incident(f"Incident {n}", updates=[("investigating", "Looking.")])
        for n in range(4)
    ]

    for incident in incidents[:3]:
        notify(update_key(incident))

    subscriber.refresh_from_db()
    assert subscriber.disabled_at is not None
    assert subscriber.consecutive_failures == 3
    assert "3 deliveries failed in a row" in subscriber.disabled_reason
    assert "HTTP 500" in subscriber.disabled_reason
    # Its unfinished deliveries stop, and new events skip it.
    assert set(Delivery.objects.values_list("state", flat=True)) == {"failed"}
    assert notify(update_key(incidents[3])) == 0
    assert len(webhook_receiver.requests) == 3

    subscriptions.subscriber_enable(subscriber=subscriber)
    subscriber.refresh_from_db()
    assert (subscriber.disabled_at, subscriber.consecutive_failures) == (None, 0)
    webhook_receiver.script = []
    assert notify(update_key(incidents[3])) == 1
    assert len(webhook_receiver.accepted()) == 1


def test_mail_server_failures_do_not_disable_email_subscribers(
    make_subscriber, outage, notify, settings, monkeypatch
):
    settings.FIREBREAK_WEBHOOK_MAX_FAILURES = 1
    subscriber = make_subscriber(email="all@example.com")

    def refuse(self, *args, **kwargs):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", refuse)
    notify(update_key(outage))

    subscriber.refresh_from_db()
    assert subscriber.is_active
    delivery = Delivery.objects.get()
    assert delivery.state == "pending" and "mail server down" in delivery.last_error


def test_a_lost_send_task_is_picked_up_by_the_fan_out_check(
    make_subscriber, outage, status_clock, monkeypatch, django_capture_on_commit_callbacks
):
    make_subscriber(email="all@example.com")
    lost: list[int] = []
    with monkeypatch.context() as patch:
        patch.setattr(
            tasks.delivery_send_task, "apply_async", lambda args, **options: lost.append(args)
        )
        with django_capture_on_commit_callbacks(execute=True):
            subscriptions.subscribers_notify(event_key=update_key(outage))
    assert len(lost) == 1 and mail.outbox == []

    with django_capture_on_commit_callbacks(execute=True):
        status_clock.advance(subscriptions.FIRST_ATTEMPT_GRACE + timedelta(seconds=1))
        status_clock.sweep()

    assert len(mail.outbox) == 1
    assert Delivery.objects.get().state == "sent"


def test_an_unsubscribed_subscribers_pending_delivery_is_dropped(
    make_subscriber,
    outage,
    notify,
    webhook_receiver,
    allow_loopback,
    status_clock,
    django_capture_on_commit_callbacks,
):
    subscriber = make_subscriber(url=webhook_receiver.url)
    webhook_receiver.script = [500]
    notify(update_key(outage))

    subscriptions.subscriber_unsubscribe(subscriber=subscriber)
    with django_capture_on_commit_callbacks(execute=True):
        status_clock.advance(timedelta(minutes=2))
        status_clock.sweep()

    assert len(webhook_receiver.requests) == 1
    delivery = Delivery.objects.get()
    assert delivery.state == "failed" and delivery.last_error == "unsubscribed"


def test_unknown_event_keys_are_refused(db):
    with pytest.raises(ValueError, match="Unknown event key"):
        subscriptions.subscribers_notify(event_key="postmortem:1")


def test_an_event_whose_record_is_gone_notifies_nobody(make_subscriber):
    make_subscriber(email="all@example.com")

    assert subscriptions.subscribers_notify(event_key="update:999999") == 0
    assert Subscriber.objects.get().deliveries.count() == 0
