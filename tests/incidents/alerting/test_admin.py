"""The back-office: a source's secret is shown once, with its hook address; alerts are read-only."""

import re

import pytest
from django.urls import reverse

from incidents.alerting.models import Alert, AlertSource, RoutingRule

from .conftest import firing, hook_url, make_source

pytestmark = pytest.mark.django_db


def shown_secret(response) -> str:
    match = re.search(r'<code class="secret">([0-9a-f]{32})</code>', response.content.decode())
    assert match, "the page shows a secret"
    return match.group(1)


def test_adding_a_source_shows_its_secret_once_with_the_hook_address(client, staff_user, post_hook):
    client.force_login(staff_user)

    response = client.post(
        reverse("admin:alerting_alertsource_add"),
        {"name": "prod-alertmanager", "kind": "alertmanager", "is_active": "on"},
    )

    assert response.status_code == 200
    source = AlertSource.objects.get()
    secret = shown_secret(response)
    assert f"http://127.0.0.1:8000/hooks/alertmanager/{source.pk}/" in response.content.decode()
    assert secret not in source.secret_digest
    assert post_hook(hook_url("alertmanager", source), firing(), secret).status_code == 200
    # Afterwards the page shows the address, never the secret again.
    page = client.get(reverse("admin:alerting_alertsource_change", args=[source.pk]))
    assert secret not in page.content.decode()
    assert f"/hooks/alertmanager/{source.pk}/" in page.content.decode()


def test_a_pagerduty_source_is_told_its_routing_key(client, staff_user):
    client.force_login(staff_user)

    response = client.post(
        reverse("admin:alerting_alertsource_add"),
        {"name": "pd", "kind": "pagerduty", "is_active": "on"},
    )

    assert "/hooks/pagerduty/v2/enqueue" in response.content.decode()
    assert "routing_key" in response.content.decode()
    assert len(shown_secret(response)) == 32


def test_issuing_a_new_secret_retires_the_old_one(client, staff_user, post_hook):
    source, old_secret = make_source(AlertSource.Kind.ALERTMANAGER, "am")
    client.force_login(staff_user)

    response = client.post(
        reverse("admin:alerting_alertsource_changelist"),
        {"action": "issue_new_secret", "_selected_action": [source.pk]},
    )

    new_secret = shown_secret(response)
    url = hook_url("alertmanager", source)
    assert post_hook(url, firing(), old_secret).status_code == 401
    assert post_hook(url, firing(), new_secret).status_code == 200


@pytest.mark.parametrize("model", [AlertSource, Alert, RoutingRule], ids=lambda m: m.__name__)
def test_staff_sees_every_changelist(client, staff_user, send_am, payments_rule, model):
    send_am(firing())
    client.force_login(staff_user)

    response = client.get(reverse(f"admin:alerting_{model._meta.model_name}_changelist"))

    assert response.status_code == 200


def test_alerts_are_read_only_in_the_back_office(client, staff_user, send_am):
    send_am(firing())
    alert = Alert.objects.get()
    client.force_login(staff_user)

    assert client.get(reverse("admin:alerting_alert_add")).status_code == 403
    response = client.post(
        reverse("admin:alerting_alert_change", args=[alert.pk]), {"title": "changed"}
    )
    assert response.status_code == 403
    alert.refresh_from_db()
    assert alert.title == "PaymentsDown"


def test_routing_rules_are_edited_in_the_back_office(client, staff_user, payments):
    client.force_login(staff_user)

    response = client.post(
        reverse("admin:alerting_routingrule_add"),
        {
            "position": "5",
            "name": "Payments",
            "is_active": "on",
            "match_labels": '{"service": "payments"}',
            "match_regex": "{}",
            "service": payments.pk,
        },
    )

    assert response.status_code == 302
    assert RoutingRule.objects.get().match_labels == {"service": "payments"}


def test_a_rule_with_a_broken_regex_is_refused(client, staff_user, payments):
    client.force_login(staff_user)

    response = client.post(
        reverse("admin:alerting_routingrule_add"),
        {
            "position": "5",
            "name": "Broken",
            "match_labels": "{}",
            "match_regex": '{"instance": "db-("}',
            "service": payments.pk,
        },
    )

    assert response.status_code == 200
    assert "not a valid regex" in response.content.decode()
    assert RoutingRule.objects.count() == 0


def test_responders_have_no_back_office(client, alice):
    client.force_login(alice)

    response = client.get(reverse("admin:alerting_alertsource_changelist"))

    assert response.status_code == 302
