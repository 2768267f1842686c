"""Subscribing: double opt-in for email, webhooks with a secret, unsubscribing, the admin."""

import base64
import re

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from incidents.statuspage import subscriptions
from incidents.statuspage.models import Delivery, Subscriber, WebhookAllowedNetwork
from portal.errors import ApplicationError, InvalidInputError

pytestmark = pytest.mark.usefixtures("subscribe_cache")


@pytest.fixture
def subscribe(django_capture_on_commit_callbacks):
    """Ask for an email subscription and run the confirmation mail task."""

    def run(email: str, components=()) -> None:
        with django_capture_on_commit_callbacks(execute=True):
            subscriptions.subscriber_email_subscribe(email=email, components=list(components))

    return run


def confirm_link(message) -> str:
    return re.search(r"https?://\S+/status/subscribe/confirm/[\w-]+/", message.body).group(0)


def test_a_new_address_gets_a_confirmation_link_and_hears_nothing_until_it_confirms(
    subscribe, make_component
):
    api = make_component("API")

    subscribe("Alice@Example.com", [api])

    subscriber = Subscriber.objects.get()
    assert subscriber.email == "alice@example.com"
    assert not subscriber.is_active
    assert list(subscriber.components.all()) == [api]
    (message,) = mail.outbox
    assert message.to == ["alice@example.com"]
    assert message.subject == "[Firebreak status] Confirm your subscription"
    assert confirm_link(message).endswith(f"/status/subscribe/confirm/{subscriber.token}/")
    assert subscriber.token in message.extra_headers["List-Unsubscribe"]
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    subscriptions.subscriber_confirm(subscriber=subscriber)

    subscriber.refresh_from_db()
    assert subscriber.is_active


def test_an_address_already_subscribed_gets_nothing_new(subscribe, make_subscriber):
    make_subscriber(email="alice@example.com")

    subscribe("ALICE@example.com")

    assert mail.outbox == []
    assert Subscriber.objects.count() == 1


def test_a_pending_address_asking_again_gets_the_link_again_with_its_new_choice(
    subscribe, make_component
):
    api, dashboard = make_component("API"), make_component("Dashboard")
    subscribe("alice@example.com", [api])

    subscribe("alice@example.com", [dashboard])

    subscriber = Subscriber.objects.get()
    assert list(subscriber.components.all()) == [dashboard]
    assert len(mail.outbox) == 2
    assert confirm_link(mail.outbox[0]) == confirm_link(mail.outbox[1])


def test_confirming_twice_changes_nothing(subscribe):
    subscribe("alice@example.com")
    subscriber = Subscriber.objects.get()
    first = subscriptions.subscriber_confirm(subscriber=subscriber).confirmed_at

    assert subscriptions.subscriber_confirm(subscriber=subscriber).confirmed_at == first


def test_an_unsubscribed_address_cannot_be_confirmed_but_may_subscribe_again(subscribe):
    subscribe("alice@example.com")
    old = Subscriber.objects.get()
    subscriptions.subscriber_unsubscribe(subscriber=old)

    with pytest.raises(ApplicationError, match="cancelled"):
        subscriptions.subscriber_confirm(subscriber=old)

    subscribe("alice@example.com")
    new = Subscriber.objects.exclude(pk=old.pk).get()
    assert new.token != old.token and not new.is_active
    assert len(mail.outbox) == 2


def test_unsubscribing_is_kept_and_repeating_it_changes_nothing(make_subscriber):
    subscriber = make_subscriber(email="alice@example.com")

    subscriptions.subscriber_unsubscribe(subscriber=subscriber)
    first = Subscriber.objects.get().unsubscribed_at
    subscriptions.subscriber_unsubscribe(subscriber=subscriber)

    subscriber.refresh_from_db()
    assert subscriber.unsubscribed_at == first is not None
    assert not subscriber.is_active


def test_a_webhook_is_active_at_once_with_a_standard_webhooks_secret(
    make_component, webhook_receiver, allow_loopback
):
    api = make_component("API")

    subscriber = subscriptions.subscriber_webhook_subscribe(
        url=webhook_receiver.url, components=[api]
    )

    assert subscriber.is_active and subscriber.kind == "webhook"
    assert subscriber.url == webhook_receiver.url
    assert list(subscriber.components.all()) == [api]
    assert subscriber.signing_secret.startswith("whsec_")
    assert len(base64.b64decode(subscriber.signing_secret.removeprefix("whsec_"))) >= 24
    other = subscriptions.subscriber_webhook_subscribe(url=webhook_receiver.url, components=[])
    assert other.signing_secret != subscriber.signing_secret


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://localhost/hook",
    ],
)
def test_a_webhook_to_a_private_address_is_refused_and_nothing_is_kept(db, url):
    with pytest.raises(InvalidInputError) as refused:
        subscriptions.subscriber_webhook_subscribe(url=url, components=[])

    assert refused.value.field == "url"
    assert not Subscriber.objects.exists()


def test_re_enabling_resets_the_failures(make_subscriber):
    subscriber = make_subscriber(
        url="http://hooks.example.com/",
        consecutive_failures=10,
        disabled_at=timezone.now(),
        disabled_reason="10 deliveries failed in a row; last: answered HTTP 500",
    )

    subscriptions.subscriber_enable(subscriber=subscriber)

    subscriber.refresh_from_db()
    assert subscriber.is_active
    assert (subscriber.consecutive_failures, subscriber.disabled_reason) == (0, "")


# --- Admin ---------------------------------------------------------------------------------------


def test_the_admin_lists_disabled_subscribers_with_their_reason_and_enables_them(
    client, staff_user, make_subscriber
):
    disabled = make_subscriber(
        url="http://hooks.example.com/",
        consecutive_failures=10,
        disabled_at=timezone.now(),
        disabled_reason="10 deliveries failed in a row; last: answered HTTP 500",
    )
    make_subscriber(email="fine@example.com")
    client.force_login(staff_user)
    changelist = reverse("admin:statuspage_subscriber_changelist")

    page = client.get(changelist, {"state": "disabled"}).content.decode()

    assert "http://hooks.example.com/" in page
    assert "answered HTTP 500" in page
    assert "fine@example.com" not in page

    client.post(changelist, {"action": "enable_again", "_selected_action": [disabled.pk]})
    disabled.refresh_from_db()
    assert disabled.is_active and disabled.consecutive_failures == 0


def test_the_admin_shows_deliveries_read_only(client, staff_user, make_subscriber):
    subscriber = make_subscriber(email="alice@example.com")
    delivery = Delivery.objects.create(
        subscriber=subscriber,
        event_key="update:1",
        payload={"subject": "Hello", "text": "Body", "html": "", "unsubscribe": ""},
        state="failed",
        attempts=7,
        last_error="mail server down",
    )
    client.force_login(staff_user)

    listing = client.get(reverse("admin:statuspage_delivery_changelist"), {"state": "failed"})
    detail = client.get(reverse("admin:statuspage_delivery_change", args=[delivery.pk]))

    assert "mail server down" in listing.content.decode()
    assert detail.status_code == 200 and "Subject: Hello" in detail.content.decode()
    assert client.get(reverse("admin:statuspage_delivery_add")).status_code == 403


def test_the_allow_list_takes_networks_and_host_names_only(client, staff_user):
    client.force_login(staff_user)
    add = reverse("admin:statuspage_webhookallowednetwork_add")

    client.post(add, {"network": "10.1.0.0/16", "note": "hooks"})
    client.post(add, {"network": "Hooks.Internal.Example", "note": ""})
    refused = client.post(add, {"network": "not a network!", "note": ""})

    assert set(WebhookAllowedNetwork.objects.values_list("network", flat=True)) == {
        "10.1.0.0/16",
        "hooks.internal.example",
    }
    assert "CIDR" in refused.content.decode()
