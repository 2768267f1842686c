"""Webhook URLs strangers give us: refused unless public or allowed, pinned, never redirected."""

import socket

import pytest

from incidents.statuspage import webhooks
from incidents.statuspage.models import WebhookAllowedNetwork
from portal.errors import InvalidInputError
from portal.integrations import webhooks as adapter
from tests.incidents.statuspage.receiver import signature_valid

PRIVATE_URLS = [
    "http://127.0.0.1/hook",
    "http://127.1.2.3:8080/hook",
    "http://10.0.0.5/hook",
    "http://172.16.4.4/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:a00:1]/hook",
    "http://[64:ff9b::7f00:1]/hook",
    "http://[fe80::1]/hook",
    "http://[fd00::1]/hook",
    "http://[ff02::1]/hook",
    "http://localhost/hook",
    "http://LOCALHOST./hook",
    "http://2130706433/hook",
    "http://0177.0.0.1/hook",
    "http://0x7f.1/hook",
    "http://224.0.0.1/hook",
]


@pytest.mark.django_db
@pytest.mark.parametrize("url", PRIVATE_URLS)
def test_private_and_special_addresses_are_refused(url):
    with pytest.raises(InvalidInputError) as refused:
        webhooks.webhook_url_check(url)

    assert refused.value.field == "url"
    assert "public internet" in refused.value.message


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/", "https:// or http://"),
        ("file:///etc/passwd", "https:// or http://"),
        ("https://user:pass@hooks.example.com/", "user name or password"),
        ("https://no-such-host.invalid/", "could not be found"),
    ],
)
def test_malformed_webhook_urls_are_refused_with_a_reason(url, message):
    with pytest.raises(InvalidInputError, match=message):
        webhooks.webhook_url_check(url)


@pytest.mark.django_db
def test_an_allowed_network_admits_its_addresses_only():
    WebhookAllowedNetwork.objects.create(network="10.20.0.0/16")

    target = webhooks.webhook_url_check("http://10.20.3.4:9000/hook?x=1")

    assert target.addresses == ("10.20.3.4",)
    assert (target.port, target.path) == (9000, "/hook?x=1")
    with pytest.raises(InvalidInputError):
        webhooks.webhook_url_check("http://10.21.0.1/hook")
    with pytest.raises(InvalidInputError):
        webhooks.webhook_url_check("http://127.0.0.1/hook")


@pytest.mark.django_db
def test_an_allowed_host_name_admits_that_host_only():
    WebhookAllowedNetwork.objects.create(network="localhost")

    assert webhooks.webhook_url_check("http://localhost:8080/").addresses[0] in ("127.0.0.1", "::1")
    with pytest.raises(InvalidInputError):
        webhooks.webhook_url_check("http://127.0.0.1:8080/")


@pytest.mark.django_db
def test_an_allowed_ipv4_network_also_admits_its_ipv4_mapped_form():
    WebhookAllowedNetwork.objects.create(network="127.0.0.1")

    assert webhooks.webhook_url_check("http://[::ffff:127.0.0.1]/").addresses == (
        "::ffff:127.0.0.1",
    )


def test_signing_matches_the_standard_webhooks_test_vector():
    # The test vector published with the Standard Webhooks specification.
    signature = adapter.sign(
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        message_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330,
        body=b'{"test": 2432232314}',
    )

    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_new_secrets_are_random_and_long_enough():
    import base64

    first, second = adapter.secret_new(), adapter.secret_new()

    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) >= 24


@pytest.mark.django_db
def test_a_sent_webhook_verifies_on_the_receivers_side(webhook_receiver, allow_loopback):
    secret = adapter.secret_new()
    webhook_receiver.secret = secret

    webhooks.webhook_send(
        url=webhook_receiver.url, secret=secret, message_id="msg_1", body='{"hello":"world"}'
    )

    (request,) = webhook_receiver.accepted()
    assert request.path == "/hooks/status"
    assert request.json == {"hello": "world"}
    assert request.headers["content-type"] == "application/json"
    assert signature_valid(secret=secret, headers=request.headers, body=request.raw)
    # Another secret does not verify it.
    assert not signature_valid(
        secret=adapter.secret_new(), headers=request.headers, body=request.raw
    )


@pytest.mark.django_db
def test_the_address_is_checked_again_when_sending(webhook_receiver, allow_loopback):
    allow_loopback.delete()

    with pytest.raises(adapter.WebhookRefused):
        webhooks.webhook_send(
            url=webhook_receiver.url, secret=adapter.secret_new(), message_id="m", body="{}"
        )

    assert webhook_receiver.requests == []


@pytest.mark.django_db
def test_sending_connects_to_the_checked_address_without_resolving_again(
    webhook_receiver, allow_loopback, monkeypatch
):
    """A DNS answer that changes after the check (rebinding) is never used."""
    port = webhook_receiver.url.split(":")[2].split("/")[0]
    real_getaddrinfo = socket.getaddrinfo
    answers = {"count": 0}

    def rebinding_dns(host, *args, **kwargs):
        if host == "hooks.rebind.test":
            answers["count"] += 1
            if answers["count"] > 1:
                # The second answer would point elsewhere; it must never be asked for.
                raise socket.gaierror("rebinding answer")
            return real_getaddrinfo("127.0.0.1", *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    target = adapter.target_check(
        f"http://hooks.rebind.test:{port}/hooks/status", allowed=["127.0.0.1/32"]
    )

    adapter.post(target=target, body=b"{}", headers={})

    assert answers["count"] == 1
    (request,) = webhook_receiver.accepted()
    assert request.headers["host"] == f"hooks.rebind.test:{port}"


@pytest.mark.django_db
def test_redirects_are_not_followed(webhook_receiver, allow_loopback):
    webhook_receiver.script = [307]
    webhook_receiver.redirect_to = webhook_receiver.url + "/moved"

    with pytest.raises(adapter.WebhookDeliveryError, match="redirects are not followed"):
        webhooks.webhook_send(
            url=webhook_receiver.url, secret=adapter.secret_new(), message_id="m", body="{}"
        )

    assert [r.path for r in webhook_receiver.requests] == ["/hooks/status"]


@pytest.mark.django_db
def test_an_unreachable_receiver_is_a_delivery_error(allow_loopback):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on the port any more.
    with pytest.raises(adapter.WebhookDeliveryError, match="could not connect"):
        webhooks.webhook_send(
            url=f"http://127.0.0.1:{port}/", secret=adapter.secret_new(), message_id="m", body="{}"
        )


def test_message_ids_are_stable_and_distinct():
    assert webhooks.webhook_message_id(7) == webhooks.webhook_message_id(7)
    assert webhooks.webhook_message_id(7) != webhooks.webhook_message_id(8)
