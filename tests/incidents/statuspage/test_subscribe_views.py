"""The public subscribe, confirm and unsubscribe pages, as an anonymous visitor uses them."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from incidents.statuspage.models import Subscriber

pytestmark = pytest.mark.usefixtures("subscribe_cache")

SUBSCRIBE = "/status/subscribe/"


@pytest.fixture
def visitor(django_capture_on_commit_callbacks):
    """An anonymous browser (CSRF checked) whose requests run their after-commit work."""

    class Visitor:
        client = Client(enforce_csrf_checks=True)

        def csrf(self, url: str) -> str:
            self.client.get(url)
            return self.client.cookies["csrftoken"].value

        def get(self, url, **kwargs):
            return self.client.get(url, **kwargs)

        def post(self, url, data=None, **kwargs):
            with django_capture_on_commit_callbacks(execute=True):
                return self.client.post(url, data or {}, **kwargs)

        def subscribe_email(self, email: str, components=(), **kwargs):
            token = self.csrf(SUBSCRIBE)
            data = {
                "csrfmiddlewaretoken": token,
                "kind": "email",
                "email-email": email,
                "email-components": [c.pk for c in components],
            }
            return self.post(SUBSCRIBE, data, **kwargs)

        def subscribe_webhook(self, url: str, components=(), **kwargs):
            token = self.csrf(SUBSCRIBE)
            data = {
                "csrfmiddlewaretoken": token,
                "kind": "webhook",
                "webhook-url": url,
                "webhook-components": [c.pk for c in components],
            }
            return self.post(SUBSCRIBE, data, **kwargs)

    return Visitor()


def confirm_path(message) -> str:
    return re.search(r"/status/subscribe/confirm/[\w-]+/", message.body).group(0)


def test_the_subscribe_page_offers_email_and_webhook_with_component_choices(
    visitor, make_component
):
    make_component("API", group="Core")

    page = visitor.get(SUBSCRIBE).content.decode()

    assert reverse("status:subscribe") == SUBSCRIBE
    assert 'name="email-email"' in page and 'name="webhook-url"' in page
    assert "Core: API" in page
    assert "webhook-signature" in page  # how to verify, for webhook subscribers


def test_opt_in_confirm_needs_a_post_then_the_address_is_subscribed(visitor, make_component):
    api = make_component("API")

    response = visitor.subscribe_email("alice@example.com", [api])

    assert response.status_code == 302
    assert response["Location"] == reverse("status:subscribe-sent")
    assert "Check your inbox" in visitor.get(response["Location"]).content.decode()
    (message,) = mail.outbox
    link = confirm_path(message)

    # A mail scanner following the link confirms nothing.
    page = visitor.get(link)
    assert page.status_code == 200 and "Confirm subscription" in page.content.decode()
    assert not Subscriber.objects.get().is_active

    token = visitor.client.cookies["csrftoken"].value
    confirmed = visitor.post(link, {"csrfmiddlewaretoken": token})

    assert confirmed.status_code == 200
    assert "You are subscribed" in confirmed.content.decode()
    subscriber = Subscriber.objects.get()
    assert subscriber.is_active and list(subscriber.components.all()) == [api]


def test_confirming_without_the_forms_csrf_token_is_refused(visitor):
    visitor.subscribe_email("alice@example.com")

    response = visitor.post(confirm_path(mail.outbox[0]))

    assert response.status_code == 403
    assert not Subscriber.objects.get().is_active


def test_known_and_unknown_addresses_get_the_same_answer(visitor, make_subscriber):
    make_subscriber(email="known@example.com")

    known = visitor.subscribe_email("known@example.com")
    unknown = visitor.subscribe_email("unknown@example.com")

    assert (known.status_code, known["Location"]) == (unknown.status_code, unknown["Location"])
    assert known.content == unknown.content
    # Only the new address was mailed.
    assert [m.to for m in mail.outbox] == [["unknown@example.com"]]


def test_an_invalid_address_is_shown_with_the_form(visitor):
    response = visitor.subscribe_email("not-an-address")

    assert response.status_code == 400
    assert "Enter a valid email address." in response.content.decode()
    assert not Subscriber.objects.exists()


def test_unsubscribe_shows_a_button_and_unsubscribes_on_post(visitor, make_subscriber):
    subscriber = make_subscriber(email="alice@example.com")
    url = reverse("status:unsubscribe", args=[subscriber.token])

    page = visitor.get(url)
    subscriber.refresh_from_db()
    assert page.status_code == 200 and subscriber.is_active
    assert 'method="post"' in page.content.decode()

    done = visitor.post(url)

    assert done.status_code == 200 and "You are unsubscribed" in done.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.unsubscribed_at is not None


def test_one_click_unsubscribe_from_a_mail_client_needs_no_csrf_token(visitor, make_subscriber):
    subscriber = make_subscriber(email="alice@example.com")

    response = visitor.post(
        reverse("status:unsubscribe", args=[subscriber.token]),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.unsubscribed_at is not None


def test_an_unknown_unsubscribe_token_is_not_found(visitor):
    response = visitor.post(reverse("status:unsubscribe", args=["no-such-token"]))

    assert response.status_code == 404


def test_a_webhook_subscription_shows_its_secret_once(
    visitor, webhook_receiver, allow_loopback, make_component
):
    api = make_component("API")

    response = visitor.subscribe_webhook(webhook_receiver.url, [api])

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    subscriber = Subscriber.objects.get()
    page = response.content.decode()
    assert subscriber.signing_secret in page
    assert f"/status/unsubscribe/{subscriber.token}/" in page
    assert subscriber.is_active and list(subscriber.components.all()) == [api]
    # The secret is not shown anywhere later.
    assert subscriber.signing_secret not in visitor.get(SUBSCRIBE).content.decode()
    unsubscribe = reverse("status:unsubscribe", args=[subscriber.token])
    assert subscriber.signing_secret not in visitor.get(unsubscribe).content.decode()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://10.0.0.8/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://localhost/hook",
    ],
)
def test_a_webhook_to_a_private_address_gets_a_clear_form_error(visitor, url):
    response = visitor.subscribe_webhook(url)

    assert response.status_code == 400
    assert "only sent to addresses on the public internet" in response.content.decode()
    assert not Subscriber.objects.exists()


def test_too_many_requests_from_one_client_are_answered_429(visitor, settings):
    settings.FIREBREAK_SUBSCRIBE_LIMIT_PER_IP_PER_HOUR = 3
    for number in range(3):
        assert visitor.subscribe_email(f"user{number}@example.com").status_code == 302

    response = visitor.subscribe_email("user9@example.com")

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many subscription requests" in response.content.decode()
    assert len(mail.outbox) == 3
    # Another client is not limited.
    other = visitor.subscribe_email("other@example.com", REMOTE_ADDR="192.0.2.7")
    assert other.status_code == 302


def test_the_per_address_limit_answers_the_same_for_known_and_unknown_addresses(
    visitor, make_subscriber, settings
):
    settings.FIREBREAK_SUBSCRIBE_LIMIT_PER_ADDRESS_PER_DAY = 2
    make_subscriber(email="known@example.com")
    answers = {}
    for email in ("known@example.com", "unknown@example.com"):
        codes = [
            visitor.subscribe_email(email, REMOTE_ADDR=f"192.0.2.{n}").status_code for n in range(3)
        ]
        limited = visitor.subscribe_email(email, REMOTE_ADDR="192.0.2.99")
        answers[email] = (codes, limited.status_code, limited.content)

    assert answers["known@example.com"] == answers["unknown@example.com"]
    assert answers["known@example.com"][0] == [302, 302, 429]
    # The unknown address got one confirmation link per accepted request, no more.
    assert len(mail.outbox) == 2


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_subscribing_confirming_and_unsubscribing_in_a_browser(browser_page, make_component):
    from django.core.cache import cache

    sync_api = pytest.importorskip("playwright.sync_api")
    cache.clear()
    page = browser_page
    make_component("API", group="Core")

    page.goto(page.base_url + SUBSCRIBE)
    by_email = page.get_by_role("region", name="By email")
    by_email.get_by_label("Email address").fill("alice@example.com")
    by_email.get_by_label("Core: API").check()
    by_email.get_by_role("button", name="Subscribe by email").click()
    sync_api.expect(page.locator("h1")).to_have_text("Check your inbox")

    (message,) = mail.outbox
    page.goto(page.base_url + confirm_path(message))
    page.get_by_role("button", name="Confirm subscription").click()
    sync_api.expect(page.locator("h1")).to_have_text("You are subscribed")
    subscriber = Subscriber.objects.get()
    assert subscriber.is_active

    page.goto(page.base_url + reverse("status:unsubscribe", args=[subscriber.token]))
    page.get_by_role("button", name="Unsubscribe").click()
    sync_api.expect(page.locator("h1")).to_have_text("You are unsubscribed")
    subscriber.refresh_from_db()
    assert subscriber.unsubscribed_at is not None


# --- With the cache or the database unreachable ------------------------------------------------


@pytest.fixture
def redis_down(settings):
    """The cache is a Redis nobody listens on (a port just freed), as when Redis is stopped."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }


def _form_post(client: Client, data: dict):
    return client.post(SUBSCRIBE, {"kind": "email", **data})


def test_subscribing_while_redis_is_down_is_a_503_saying_to_retry(redis_down):
    response = _form_post(Client(), {"email-email": "ana@example.com"})

    assert response.status_code == 503
    assert response["Retry-After"]
    assert "try again" in response.content.decode()
    assert not Subscriber.objects.exists()


def test_subscribing_while_the_database_is_down_is_a_503_saying_to_retry():
    from django.db import OperationalError, connection

    def unreachable(execute, sql, params, many, context):
        raise OperationalError("connection refused")

    with connection.execute_wrapper(unreachable):
        response = _form_post(Client(), {"email-email": "ana@example.com"})

    assert response.status_code == 503
    assert "try again" in response.content.decode()
    assert not Subscriber.objects.exists()
