"""Alerts handled in triage count for the team and service of the incident they end up on."""

import html
import re
from importlib import import_module

import pytest
from django.apps import apps as global_apps
from django.urls import reverse

from incidents.alerting.models import Alert
from incidents.models import Severity
from tests import factories

from .conftest import firing

pytestmark = pytest.mark.django_db


def text(response) -> str:
    words = re.sub(r"<[^>]+>", " ", response.content.decode())
    return " ".join(html.unescape(words).split())


def false_positive_card(page: str) -> str:
    start = page.index("False-positive rate")
    return page[start : page.index("Actionable pages per rotation per week", start)]


@pytest.fixture
def five_in_triage(send_am):
    """Five firing alerts of one group that no routing rule places: they wait in triage."""
    for number in range(5):
        send_am(firing(fingerprint=f"fp-{number}"))
    alerts = list(Alert.objects.order_by("pk"))
    assert len(alerts) == 5 and all(alert.incident_id is None for alert in alerts)
    return alerts


def test_alerts_attached_from_triage_count_for_the_incident_s_team_and_service(
    client, alice, manager_user, payments, five_in_triage
):
    incident = factories.declared(alice, "P2", services=[payments])
    client.force_login(alice)
    for alert in five_in_triage:
        client.post(reverse("alerting:attach", args=[alert.pk]), {"incident": incident.pk})
        client.post(reverse("alerting:actionable", args=[alert.pk]), {"actionable": "no"})
    assert incident.alerts.filter(actionable=False).count() == 5

    client.force_login(manager_user)
    for query in ("team=payments", "service=payments-api"):
        card = false_positive_card(text(client.get(f"/health/?{query}")))
        assert "No alert fired" not in card
        assert "5 of 5 reviewed episodes not actionable" in card, query
    listed = text(client.get("/health/alerts/?team=payments&verdict=not_actionable"))
    assert listed.count("PaymentsDown") >= 5


def test_alerts_of_an_incident_opened_from_triage_count_for_its_service(
    client, alice, manager_user, payments, five_in_triage
):
    client.force_login(alice)
    client.post(
        reverse("alerting:open_incident", args=[five_in_triage[0].pk]),
        {"severity": Severity.objects.get(code="P2").pk, "service": payments.pk},
    )
    assert set(Alert.objects.values_list("service", flat=True)) == {payments.pk}
    for alert in five_in_triage:
        client.post(reverse("alerting:actionable", args=[alert.pk]), {"actionable": "yes"})

    client.force_login(manager_user)
    card = false_positive_card(text(client.get("/health/?team=payments")))
    assert "0 of 5 reviewed episodes not actionable" in card


def test_alerts_without_a_service_count_for_their_incident_s_team_and_services(
    client, alice, manager_user, payments, five_in_triage
):
    # Alerts that joined an incident without any service of their own (as a group's later
    # alerts joining its open incident do when no routing rule names them).
    incident = factories.declared(alice, "P2", services=[payments])
    Alert.objects.update(incident=incident, actionable=False)

    client.force_login(manager_user)
    for query in ("team=payments", "service=payments-api"):
        card = false_positive_card(text(client.get(f"/health/?{query}")))
        assert "5 of 5 reviewed episodes not actionable" in card, query
    other_team = factories.ServiceFactory(name="Search API", slug="search-api")
    card = false_positive_card(text(client.get(f"/health/?team={other_team.team.slug}")))
    assert "No alert fired" in card


def test_the_migration_gives_attached_alerts_without_a_service_their_incident_s(
    alice, payments, five_in_triage
):
    other = factories.ServiceFactory(name="Ledger", slug="ledger")
    incident = factories.declared(alice, "P2", services=[other, payments], team=payments.team)
    Alert.objects.filter(pk__in=[a.pk for a in five_in_triage[:4]]).update(incident=incident)
    migration = import_module(
        "incidents.alerting.migrations.0003_attached_alerts_get_their_incident_service"
    )

    migration.give_incident_service(global_apps, None)

    assert list(Alert.objects.order_by("pk").values_list("service", flat=True)) == [
        payments.pk,  # the incident's team's service, though another was listed first
        payments.pk,
        payments.pk,
        payments.pk,
        None,  # still in triage
    ]
