"""The triage list, the incident page's alert panel and actionable marking, as people use them."""

import html
import re
import zoneinfo

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from incidents.alerting.models import Alert, AlertSource
from incidents.models import Incident, IncidentStatus, Severity
from incidents.services import incident_resolve
from tests import factories

from .conftest import firing, hook_url, make_source

pytestmark = pytest.mark.django_db


def text(response) -> str:
    """Return the page's words as a person reads them: no tags, entities decoded."""
    words = re.sub(r"<[^>]+>", " ", response.content.decode())
    return " ".join(html.unescape(words).split())


@pytest.fixture
def triage_alert(send_am):
    """A firing PaymentsDown alert that no rule routes."""
    send_am(firing())
    return Alert.objects.get()


@pytest.fixture
def routed_alert(send_am, payments_rule):
    send_am(firing())
    return Alert.objects.get()


def render_panel(incident: Incident, user) -> str:
    request = RequestFactory().get(f"/incidents/{incident.pk}/")
    request.user = user
    return html.unescape(
        render_to_string("alerting/_incident_alerts.html", {"incident": incident}, request=request)
    )


class TestTriageList:
    def test_a_viewer_sees_alerts_waiting_in_triage_but_no_actions(
        self, client, viewer_user, triage_alert
    ):
        client.force_login(viewer_user)

        response = client.get(reverse("alerting:triage"))

        assert response.status_code == 200
        page = text(response)
        assert "PaymentsDown — payments returning 503" in page
        assert "P1 Critical" in page
        assert "No route" in page
        assert "Open incident" not in page
        assert "False positive" not in page

    def test_a_responder_is_offered_to_open_attach_and_dismiss(self, client, alice, triage_alert):
        factories.declared(alice, "P2")
        client.force_login(alice)

        page = text(client.get(reverse("alerting:triage")))

        assert "Open incident" in page
        assert "Attach" in page
        assert "False positive" in page

    def test_routed_alerts_are_not_in_triage(self, client, alice, routed_alert):
        client.force_login(alice)

        page = text(client.get(reverse("alerting:triage")))

        assert "Nothing waits in triage" in page

    def test_anonymous_users_go_to_login_and_outsiders_get_a_403(
        self, client, outsider, triage_alert
    ):
        response = client.get(reverse("alerting:triage"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))

        client.force_login(outsider)
        assert client.get(reverse("alerting:triage")).status_code == 403

    def test_false_positives_are_hidden_unless_asked_for(self, client, alice, triage_alert):
        client.force_login(alice)
        client.post(reverse("alerting:actionable", args=[triage_alert.pk]), {"actionable": "no"})

        assert "Nothing waits in triage" in text(client.get(reverse("alerting:triage")))
        page = text(client.get(reverse("alerting:triage") + "?dismissed=1"))
        assert "Marked a false positive by Alice" in page


class TestOpenIncident:
    def test_a_responder_opens_a_triggered_incident_from_a_triage_alert(
        self, client, alice, triage_alert, payments
    ):
        client.force_login(alice)

        response = client.post(
            reverse("alerting:open_incident", args=[triage_alert.pk]),
            {"severity": Severity.objects.get(code="P2").pk, "service": payments.pk},
        )

        incident = Incident.objects.get()
        assert response.status_code == 302
        assert response["Location"] == reverse("incidents:detail", args=[incident.pk])
        assert (incident.status, incident.severity.code, incident.source) == (
            "triggered",
            "P2",
            "web",
        )
        assert list(incident.services.all()) == [payments]
        triage_alert.refresh_from_db()
        assert triage_alert.incident == incident
        opened = incident.timeline.get(kind="alert")
        assert opened.actor == alice
        assert "Opened from triage" in opened.message

    def test_later_alerts_of_the_group_follow_the_opened_incident(
        self, client, alice, triage_alert, send_am
    ):
        client.force_login(alice)
        client.post(
            reverse("alerting:open_incident", args=[triage_alert.pk]),
            {"severity": triage_alert.severity_id},
        )

        send_am(firing(fingerprint="1234"))

        assert Incident.objects.get().alerts.count() == 2

    def test_a_viewer_may_not_open_an_incident(self, client, viewer_user, triage_alert):
        client.force_login(viewer_user)

        response = client.post(
            reverse("alerting:open_incident", args=[triage_alert.pk]),
            {"severity": triage_alert.severity_id},
        )

        assert response.status_code == 403
        assert Incident.objects.count() == 0

    def test_an_alert_already_on_an_incident_is_not_opened_twice(self, client, alice, routed_alert):
        client.force_login(alice)

        response = client.post(
            reverse("alerting:open_incident", args=[routed_alert.pk]),
            {"severity": routed_alert.severity_id},
            follow=True,
        )

        assert Incident.objects.count() == 1
        assert f"already part of {routed_alert.incident.reference}" in text(response)


class TestAttach:
    def test_a_responder_attaches_a_triage_alert_to_an_open_incident(
        self, client, alice, bob, triage_alert
    ):
        incident = factories.declared(alice, "P2")
        client.force_login(bob)

        response = client.post(
            reverse("alerting:attach", args=[triage_alert.pk]), {"incident": incident.pk}
        )

        assert response.status_code == 302
        triage_alert.refresh_from_db()
        assert triage_alert.incident == incident
        event = incident.timeline.get(kind="alert")
        assert (event.actor, event.message) == (
            bob,
            "Alert attached from triage: PaymentsDown: payments returning 503",
        )

    def test_a_resolved_incident_is_not_offered_and_refused(self, client, alice, triage_alert):
        incident = factories.declared(alice, "P2")
        incident_resolve(incident=incident, actor=alice)
        client.force_login(alice)

        response = client.post(
            reverse("alerting:attach", args=[triage_alert.pk]),
            {"incident": incident.pk},
            follow=True,
        )

        assert "Choose an open incident" in text(response)
        triage_alert.refresh_from_db()
        assert triage_alert.incident is None

    def test_a_viewer_may_not_attach(self, client, alice, viewer_user, triage_alert):
        incident = factories.declared(alice, "P2")
        client.force_login(viewer_user)

        response = client.post(
            reverse("alerting:attach", args=[triage_alert.pk]), {"incident": incident.pk}
        )

        assert response.status_code == 403
        triage_alert.refresh_from_db()
        assert triage_alert.incident is None


class TestActionable:
    def test_a_responder_marks_an_episode_a_false_positive_from_the_incident_page(
        self, client, bob, routed_alert
    ):
        client.force_login(bob)
        incident = routed_alert.incident

        response = client.post(
            reverse("alerting:actionable", args=[routed_alert.pk]),
            {"actionable": "no", "next": f"/incidents/{incident.pk}/#alerts"},
        )

        assert response["Location"] == f"/incidents/{incident.pk}/#alerts"
        routed_alert.refresh_from_db()
        assert (routed_alert.actionable, routed_alert.actionable_set_by) == (False, bob)
        event = incident.timeline.filter(kind="alert", actor=bob).get()
        assert "not actionable (a false positive)" in event.message

    def test_marking_can_be_changed_and_undone(self, client, bob, routed_alert):
        client.force_login(bob)
        url = reverse("alerting:actionable", args=[routed_alert.pk])

        client.post(url, {"actionable": "yes"})
        routed_alert.refresh_from_db()
        assert routed_alert.actionable is True

        client.post(url, {"actionable": "unset"})
        routed_alert.refresh_from_db()
        assert (routed_alert.actionable, routed_alert.actionable_set_by) == (None, None)

    def test_a_viewer_may_not_mark(self, client, viewer_user, routed_alert):
        client.force_login(viewer_user)

        response = client.post(
            reverse("alerting:actionable", args=[routed_alert.pk]), {"actionable": "no"}
        )

        assert response.status_code == 403
        routed_alert.refresh_from_db()
        assert routed_alert.actionable is None

    def test_an_outside_next_address_is_ignored(self, client, bob, routed_alert):
        client.force_login(bob)

        response = client.post(
            reverse("alerting:actionable", args=[routed_alert.pk]),
            {"actionable": "yes", "next": "https://evil.example.com/"},
        )

        assert response["Location"] == f"/incidents/{routed_alert.incident_id}/#alerts"

    def test_a_bad_value_marks_nothing(self, client, bob, routed_alert):
        client.force_login(bob)

        client.post(reverse("alerting:actionable", args=[routed_alert.pk]), {"actionable": "x"})

        routed_alert.refresh_from_db()
        assert routed_alert.actionable is None


class TestIncidentPanel:
    def test_the_panel_lists_the_incidents_alerts_with_grafanas_links(self, alice, post_hook):
        from incidents.alerting.models import RoutingRule

        payments = factories.ServiceFactory(name="Payments", slug="payments")
        RoutingRule.objects.create(name="p", match_labels={"service": "payments"}, service=payments)
        source, secret = make_source(AlertSource.Kind.GRAFANA, "grafana")
        payload = firing(version="1")
        payload["alerts"][0].update(
            dashboardURL="https://grafana.example.com/d/pay",
            panelURL="https://grafana.example.com/d/pay?viewPanel=2",
        )
        post_hook(hook_url("grafana", source), payload, secret)
        incident = Incident.objects.get()

        panel = render_panel(incident, alice)

        assert '<h2 id="alerts-title">Alerts <span class="muted">(1 firing of 1)</span>' in panel
        assert 'href="https://grafana.example.com/d/pay"' in panel
        assert 'href="https://grafana.example.com/d/pay?viewPanel=2"' in panel
        assert "False positive" in panel

    def test_a_viewer_sees_the_alerts_without_the_marking_buttons(self, viewer_user, routed_alert):
        panel = render_panel(routed_alert.incident, viewer_user)

        assert "PaymentsDown" in panel
        assert "False positive" not in panel

    @pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
    def test_a_firing_alert_renders_in_any_time_zone(self, alice, routed_alert, zone):
        with timezone.override(zoneinfo.ZoneInfo(zone)):
            panel = render_panel(routed_alert.incident, alice)

        assert "Firing" in panel
        assert "ended" not in panel

    def test_an_incident_without_alerts_shows_no_panel(self, alice):
        incident = factories.declared(alice, "P2")

        assert render_panel(incident, alice).strip() == ""

    def test_resolved_alerts_are_listed_after_firing_ones(self, send_am, payments_rule, alice):
        from .conftest import resolved

        send_am(firing())
        send_am(firing(fingerprint="later", annotations={"summary": "second"}))
        send_am(resolved())
        incident = Incident.objects.get()
        assert incident.status == IncidentStatus.TRIGGERED

        panel = render_panel(incident, alice)

        assert panel.index("second") < panel.index("payments returning 503")


def test_the_incident_page_shows_its_alerts(client, alice, send_am, payments_rule):
    from tests.incidents.alerting.conftest import sample

    send_am(sample("alertmanager-v4-firing.json"))
    incident = Incident.objects.get()
    client.force_login(alice)

    page = client.get(f"/incidents/{incident.pk}/").content.decode()

    assert "payments returning 503" in page
    assert "440d54076bcd8569" in page
