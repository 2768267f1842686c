"""Page webhooks go out through the outbound webhook adapter: checked, pinned, signed."""

import hashlib
import hmac

import pytest

from portal.integrations import page_delivery as delivery
from portal.integrations import webhooks

MESSAGE = delivery.Message(subject="P1", text="Payments down", ack_url="https://x/ack/", data={})


def send(url: str) -> str:
    return delivery.send_webhook(url=url, secret="s3cret", message=MESSAGE, delivery_id="d-1")


def test_the_gateway_signature_is_the_hmac_of_timestamp_dot_body():
    expected = hmac.new(b"s3cret", b"1700000000.{}", hashlib.sha256).hexdigest()

    assert webhooks.firebreak_signature(secret="s3cret", timestamp="1700000000", body=b"{}") == (
        "sha256=" + expected
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/page", "http://[::1]/page", "http://169.254.169.254/", "ftp://x/"]
)
def test_an_address_that_may_not_be_called_is_refused_for_good(url):
    with pytest.raises(delivery.DeliveryRefused, match="webhook address refused"):
        send(url)


@pytest.mark.django_db
def test_a_host_that_cannot_be_resolved_is_a_failed_attempt_to_retry():
    with pytest.raises(delivery.DeliveryError) as failed:
        send("https://no-such-host.invalid/page")

    assert not isinstance(failed.value, delivery.DeliveryRefused)
    assert str(failed.value).startswith("gateway unreachable: The host no-such-host.invalid")


@pytest.mark.django_db
def test_the_status_page_allow_list_is_the_one_page_webhooks_use():
    from incidents.statuspage.models import WebhookAllowedNetwork

    WebhookAllowedNetwork.objects.create(network="10.20.0.0/16")

    assert "10.20.0.0/16" in webhooks.allow_list()
