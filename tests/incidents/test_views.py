"""The responders' portal in the browser's shoes: pages, forms and refusals."""

import html
import re
from datetime import UTC, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents import selectors
from incidents.forms import DetailsForm, local_input_value
from incidents.models import (
    Incident,
    IncidentStatus,
    ServiceLink,
    StatusUpdate,
    TimelineEvent,
)
from incidents.services import (
    incident_acknowledge,
    incident_mitigate,
    incident_resolve,
    incident_role_assign,
    incident_start_investigating,
)
from portal.models import UserProfile
from tests import factories

pytestmark = pytest.mark.django_db


def page_text(response) -> str:
    """Return the response body as a person reads it (entities decoded)."""
    return html.unescape(response.content.decode())


def url(name: str, incident: Incident | None = None) -> str:
    return reverse(f"incidents:{name}", kwargs={"pk": incident.pk} if incident else None)


def refreshed(incident: Incident) -> Incident:
    return Incident.objects.get(pk=incident.pk)


def kinds(incident: Incident) -> list[str]:
    return list(incident.timeline.order_by("occurred_at", "id").values_list("kind", flat=True))


@pytest.fixture
def logged_in(client):
    def login(user):
        client.force_login(user)
        return client

    return login


# --- Access -------------------------------------------------------------------------------------


class TestAccess:
    def test_anonymous_users_are_sent_to_login(self, client, alice):
        incident = factories.declared(alice)
        for target in (url("list"), url("declare"), url("detail", incident)):
            response = client.get(target)
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("login") + "?next=")

    def test_anonymous_posts_change_nothing(self, client, alice):
        incident = factories.declared(alice)
        response = client.post(url("resolve", incident))
        assert response.status_code == 302
        assert refreshed(incident).status == IncidentStatus.INVESTIGATING

    def test_users_in_no_group_get_a_403_page(self, logged_in, outsider, alice):
        incident = factories.declared(alice)
        client = logged_in(outsider)
        for target in (url("list"), url("detail", incident)):
            response = client.get(target)
            assert response.status_code == 403
            assert "not in a group that may read incidents" in page_text(response)
        response = client.post(url("resolve", incident))
        assert response.status_code == 403
        assert refreshed(incident).status == IncidentStatus.INVESTIGATING

    def test_login_page_signs_in_and_lands_on_the_incidents(self, client, alice):
        response = client.get(reverse("login"))
        assert "Log in" in page_text(response)
        response = client.post(
            reverse("login"),
            {"username": "alice", "password": "correct-horse-battery"},
            follow=True,
        )
        assert response.redirect_chain[-1][0] == url("list")
        assert "Log out" in page_text(response)

    def test_nav_offers_admin_only_to_staff_and_managers(
        self, logged_in, alice, manager_user, staff_user
    ):
        assert "/admin/" not in page_text(logged_in(alice).get(url("list")))
        assert "/admin/" in page_text(logged_in(manager_user).get(url("list")))
        assert "/admin/" in page_text(logged_in(staff_user).get(url("list")))

    def test_actions_answer_only_post(self, logged_in, alice):
        incident = factories.declared(alice)
        assert logged_in(alice).get(url("resolve", incident)).status_code == 405


# --- List ---------------------------------------------------------------------------------------


class TestList:
    @pytest.fixture
    def incidents(self, alice, payments):
        other_team = factories.TeamFactory(name="Search", slug="search")
        search = factories.ServiceFactory(name="Search API", slug="search-api", team=other_team)
        return {
            "payments_p1": factories.declared(
                alice, "P1", title="Payments 503", services=[payments]
            ),
            "search_p3": factories.triggered("P3", title="Search slow", services=[search]),
            "resolved_p2": incident_resolve(
                incident=factories.declared(alice, "P2", title="Old outage", services=[search]),
                actor=alice,
            ),
        }

    def titles(self, response) -> set[str]:
        return {
            title
            for title in ("Payments 503", "Search slow", "Old outage")
            if title in page_text(response)
        }

    def test_lists_every_incident_with_its_facts(self, logged_in, viewer_user, incidents):
        response = logged_in(viewer_user).get(url("list"), {"status": ""})
        text = page_text(response)
        assert response.status_code == 200
        assert self.titles(response) == {"Payments 503", "Search slow", "Old outage"}
        p1 = incidents["payments_p1"]
        assert p1.reference in text
        assert "P1 Critical" in text
        assert "Investigating" in text
        assert "Payments API" in text
        assert "Payments" in text
        assert "Showing incidents in every status." in text

    def test_shows_open_incidents_unless_asked_for_all(self, logged_in, viewer_user, incidents):
        client = logged_in(viewer_user)
        response = client.get(url("list"))
        text = page_text(response)
        assert self.titles(response) == {"Payments 503", "Search slow"}
        assert '<option value="open" selected>' in text
        assert "Showing open incidents." in text
        show_all = re.search(r'<a href="\?([^"]*)">Show all incidents</a>', text).group(1)
        assert self.titles(client.get(url("list") + "?" + show_all)) == {
            "Payments 503",
            "Search slow",
            "Old outage",
        }

    def test_show_all_keeps_the_other_filters(self, logged_in, viewer_user, incidents):
        text = page_text(logged_in(viewer_user).get(url("list"), {"team": "search"}))
        show_all = re.search(r'<a href="\?([^"]*)">Show all incidents</a>', text).group(1)
        assert "team=search" in show_all and "status=" in show_all

    def test_no_open_incident_says_so(self, logged_in, viewer_user, alice):
        incident_resolve(incident=factories.declared(alice, "P3", title="Done"), actor=alice)
        response = logged_in(viewer_user).get(url("list"))
        assert "No open incidents. Good." in page_text(response)
        assert "Done" not in page_text(response)

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ({"status": "triggered"}, {"Search slow"}),
            ({"status": "open"}, {"Payments 503", "Search slow"}),
            ({"severity": "P1"}, {"Payments 503"}),
            ({"team": "search"}, {"Search slow"}),
            ({"team": "search", "status": ""}, {"Search slow", "Old outage"}),
            ({"service": "payments-api"}, {"Payments 503"}),
            ({"team": "search", "status": "resolved"}, {"Old outage"}),
        ],
    )
    def test_filters(self, logged_in, viewer_user, incidents, query, expected):
        response = logged_in(viewer_user).get(url("list"), query)
        assert self.titles(response) == expected

    def test_newest_first(self, logged_in, alice):
        now = timezone.now()
        for title, minutes_ago in (("Oldest", 120), ("Newest", 0), ("Middle", 60)):
            factories.declared(alice, "P3", title=title, at=now - timedelta(minutes=minutes_ago))
        text = page_text(logged_in(alice).get(url("list")))
        positions = [text.index(title) for title in ("Newest", "Middle", "Oldest")]
        assert positions == sorted(positions)

    def test_an_unknown_filter_value_is_reported_not_applied(
        self, logged_in, viewer_user, incidents
    ):
        response = logged_in(viewer_user).get(url("list"), {"severity": "P9", "status": ""})
        assert "Select a valid choice" in page_text(response)
        assert len(self.titles(response)) == 3

    def test_no_match_says_so(self, logged_in, viewer_user, incidents):
        response = logged_in(viewer_user).get(url("list"), {"severity": "P4"})
        assert "No incident matches these filters." in page_text(response)

    def test_flags_a_worked_incident_without_commander(self, logged_in, alice):
        incident = factories.triggered("P2", title="Nobody leads")
        incident_start_investigating(incident=incident, actor=alice)
        factories.declared(alice, "P2", title="Alice leads")
        text = page_text(logged_in(alice).get(url("list")))
        row = text[text.index("Nobody leads") :]
        assert "No IC" in row[: row.index("</tr>")]
        row = text[text.index("Alice leads") :]
        assert "No IC" not in row[: row.index("</tr>")]
        assert "Alice" in row[: row.index("</tr>")]

    def test_flags_an_overdue_status_update(self, logged_in, alice):
        factories.declared(alice, "P1", title="Late", at=timezone.now() - timedelta(minutes=20))
        factories.declared(alice, "P1", title="Fresh")
        text = page_text(logged_in(alice).get(url("list")))
        late = text[text.index("Late") :]
        assert "Overdue" in late[: late.index("</tr>")]
        fresh = text[text.index("Fresh") :]
        assert "Overdue" not in fresh[: fresh.index("</tr>")]

    def test_an_update_due_on_another_day_shows_its_date(self, logged_in, alice):
        declared_at = timezone.now() - timedelta(days=2)
        factories.declared(alice, "P1", title="Forgotten", at=declared_at)
        text = page_text(logged_in(alice).get(url("list")))
        row = text[text.index("Forgotten") :]
        row = row[: row.index("</tr>")]
        due = timezone.localtime(declared_at + timedelta(minutes=15))
        assert f">{due:%Y-%m-%d %H:%M %Z}</time>" in row
        assert "Overdue" in row


# --- Declare ------------------------------------------------------------------------------------


class TestDeclare:
    def test_form_defaults_the_commander_to_me(self, logged_in, alice, bob):
        response = logged_in(bob).get(url("declare"))
        assert response.status_code == 200
        assert re.search(
            rf'<option value="{bob.pk}" selected>Bob \(bob\)</option>', page_text(response)
        )

    def test_declares_and_lands_on_the_incident(self, logged_in, alice, bob, payments):
        response = logged_in(alice).post(
            url("declare"),
            {
                "title": "Payments service returning 503",
                "severity": "P1",
                "services": ["payments-api"],
                "summary": "Checkout fails.",
                "impact": "Card payments fail for everyone.",
                "users_affected_pct": "100",
                "regions": "eu-west-1, us-east-1 ,",
                "customer_facing": "on",
                "bridge_url": "https://meet.example.com/inc",
                "commander": bob.pk,
            },
            follow=True,
        )
        incident = Incident.objects.get()
        assert response.redirect_chain[-1][0] == url("detail", incident)
        assert f"{incident.reference} declared" in page_text(response)
        assert incident.status == IncidentStatus.INVESTIGATING
        assert incident.severity.code == "P1"
        assert incident.team.slug == "payments"
        assert incident.regions == ["eu-west-1", "us-east-1"]
        assert incident.users_affected_pct == 100
        assert incident.customer_facing is True
        assert selectors.incident_commander(incident).user == bob
        assert incident.declared_by == alice

    def test_impact_start_is_read_in_my_time_zone(self, logged_in, alice):
        UserProfile.objects.create(user=alice, time_zone="Asia/Kolkata")
        started = (timezone.now() - timedelta(hours=3)).replace(second=0, microsecond=0)
        local = started.astimezone(timezone.get_fixed_timezone(330)).strftime("%Y-%m-%dT%H:%M")
        logged_in(alice).post(
            url("declare"),
            {"title": "Slow", "severity": "P3", "commander": alice.pk, "impact_started_at": local},
        )
        assert Incident.objects.get().impact_started_at == started

    def test_invalid_input_shows_what_to_fix_and_declares_nothing(self, logged_in, alice):
        response = logged_in(alice).post(
            url("declare"),
            {"title": "", "severity": "P1", "commander": alice.pk, "users_affected_pct": "150"},
        )
        text = page_text(response)
        assert response.status_code == 200
        assert "The incident was not declared" in text
        assert "Title: This field is required." in text
        assert "less than or equal to 100" in text
        assert not Incident.objects.exists()

    def test_a_refusal_of_the_service_is_shown_on_the_form(self, logged_in, alice):
        future = local_input_value(timezone.now() + timedelta(hours=2))
        response = logged_in(alice).post(
            url("declare"),
            {
                "title": "Later",
                "severity": "P2",
                "commander": alice.pk,
                "impact_started_at": future,
            },
        )
        assert "Impact can't start after the incident is declared." in page_text(response)
        assert not Incident.objects.exists()

    def test_viewers_may_not_declare(self, logged_in, viewer_user, alice):
        client = logged_in(viewer_user)
        response = client.get(url("declare"))
        assert response.status_code == 403
        assert "Only responders may declare incidents." in page_text(response)
        response = client.post(
            url("declare"), {"title": "X", "severity": "P1", "commander": alice.pk}
        )
        assert response.status_code == 403
        assert not Incident.objects.exists()
        assert url("declare") not in page_text(client.get(url("list")))


# --- Incident page ------------------------------------------------------------------------------


class TestIncidentPage:
    def test_header_shows_the_facts_links_and_timeline(self, logged_in, alice, bob, payments):
        ServiceLink.objects.create(
            service=payments, kind="dashboard", title="API p99 latency", url="https://grafana/p99"
        )
        ServiceLink.objects.create(
            service=payments, kind="runbook", title="Payments runbook", url="https://wiki/pay"
        )
        incident = factories.declared(
            alice,
            "P1",
            services=[payments],
            bridge_url="https://meet.example.com/inc",
            impact="Checkout fails",
        )
        incident_role_assign(incident=incident, actor=bob, role="scribe")
        response = logged_in(bob).get(url("detail", incident))
        text = page_text(response)
        assert response.status_code == 200
        assert f"{incident.reference} Payments service returning 503" in text
        assert "P1 Critical" in text
        assert "Incident Commander" in text and "Alice" in text
        assert "Scribe: Bob" in text
        assert 'href="https://meet.example.com/inc"' in text
        assert 'href="https://grafana/p99"' in text and "API p99 latency" in text
        assert 'href="https://wiki/pay"' in text
        assert "Checkout fails" in text
        assert "Next update due" in text
        assert "Declared P1: Payments service returning 503" in text
        assert "Alice is Incident Commander" in text

    def test_times_are_in_my_zone_with_utc_on_hover(self, logged_in, alice):
        UserProfile.objects.create(user=alice, time_zone="Asia/Tokyo")
        detected = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
        incident = factories.declared(alice, at=detected)
        text = page_text(logged_in(alice).get(url("detail", incident)))
        utc = detected.astimezone(UTC)
        tokyo = detected.astimezone(timezone.get_fixed_timezone(540))
        expected = (
            f'<time datetime="{utc:%Y-%m-%dT%H:%M:%S}Z" title="{utc:%Y-%m-%d %H:%M:%S} UTC">'
            f"{tokyo:%Y-%m-%d %H:%M} JST</time>"
        )
        assert expected in text

    def test_my_profile_time_zone_applies_to_the_page(self, logged_in, alice):
        detected = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
        incident = factories.declared(alice, at=detected)
        client = logged_in(alice)
        response = client.post(reverse("profile"), {"time_zone": "Asia/Tokyo"}, follow=True)
        assert "Times are now shown in Asia/Tokyo." in page_text(response)
        text = page_text(client.get(url("detail", incident)))
        tokyo = detected.astimezone(timezone.get_fixed_timezone(540))
        assert f"{tokyo:%Y-%m-%d %H:%M} JST</time>" in text

    def test_an_update_overdue_for_days_shows_its_date_and_no_seconds(self, logged_in, alice):
        UserProfile.objects.create(user=alice, time_zone="Europe/Berlin")
        declared_at = timezone.now() - timedelta(days=2, seconds=30)
        incident = factories.declared(alice, "P1", at=declared_at)
        text = page_text(logged_in(alice).get(url("detail", incident)))
        with timezone.override("Europe/Berlin"):
            due = timezone.localtime(declared_at + timedelta(minutes=15))
        assert f">{due:%Y-%m-%d %H:%M %Z}</time>" in text
        assert "overdue by 1 d 23 h</span>" in text

    def test_an_update_overdue_by_minutes_says_minutes(self, logged_in, alice):
        declared_at = timezone.now() - timedelta(minutes=20, seconds=30)
        incident = factories.declared(alice, "P1", at=declared_at)
        text = page_text(logged_in(alice).get(url("detail", incident)))
        assert "overdue by 5 min</span>" in text
        due = timezone.localtime(declared_at + timedelta(minutes=15))
        shown = "%H:%M %Z" if due.date() == timezone.localdate() else "%Y-%m-%d %H:%M %Z"
        assert f">{due.strftime(shown)}</time>" in text

    def test_shows_when_it_was_mitigated_and_resolved(self, logged_in, alice):
        UserProfile.objects.create(user=alice, time_zone="Asia/Tokyo")
        detected = timezone.now().replace(microsecond=0) - timedelta(hours=2)
        incident = factories.declared(alice, "P3", at=detected)
        incident_mitigate(incident=incident, actor=alice, at=detected + timedelta(minutes=15))
        incident_resolve(incident=incident, actor=alice, at=detected + timedelta(minutes=50))
        text = page_text(logged_in(alice).get(url("detail", incident)))
        tokyo = timezone.get_fixed_timezone(540)
        for label, minutes in (("Mitigated", 15), ("Resolved", 50)):
            at = (detected + timedelta(minutes=minutes)).astimezone(tokyo)
            fact = text[text.index(f"<dt>{label}</dt>") :]
            fact = fact[: fact.index("</dd>")]
            assert f">{at:%Y-%m-%d %H:%M} JST</time>" in fact
            assert f"{minutes} min after detection" in fact

    def test_shows_the_peak_severity_when_it_differs(self, logged_in, alice):
        incident = factories.declared(alice, "P1")
        logged_in(alice).post(url("change_severity", incident), {"severity": "P3", "reason": "x"})
        text = page_text(logged_in(alice).get(url("detail", incident)))
        assert "P3 Medium" in text
        assert "peak" in text and "P1 Critical" in text

    def test_flags_a_missing_commander(self, logged_in, alice):
        incident = factories.triggered("P2")
        incident_start_investigating(incident=incident, actor=alice)
        assert "No Incident Commander" in page_text(logged_in(alice).get(url("detail", incident)))

    def test_viewers_read_without_forms(self, logged_in, viewer_user, alice):
        incident = factories.declared(alice)
        response = logged_in(viewer_user).get(url("detail", incident))
        text = page_text(response)
        assert response.status_code == 200
        assert "You can read this incident. Responders act on it." in text
        assert "<form" not in text.split('id="main"')[1]
        assert 'href="#actions"' not in text
        assert 'id="actions"' not in text

    def test_a_manager_with_nothing_to_do_gets_no_empty_actions_column(
        self, logged_in, manager_user, alice
    ):
        incident = factories.declared(alice, "P3")
        client = logged_in(manager_user)
        text = page_text(client.get(url("detail", incident)))
        assert "You can read this incident. Responders act on it." in text
        assert 'href="#actions"' not in text and 'id="actions"' not in text

        incident_resolve(incident=incident, actor=alice)
        text = page_text(client.get(url("detail", incident)))
        assert url("close", incident) in text
        assert "You can read this incident" not in text
        assert 'href="#actions"' not in text and 'id="actions"' not in text

    def test_responders_get_the_actions_column_and_its_link(self, logged_in, alice, bob):
        incident = factories.declared(alice)
        text = page_text(logged_in(bob).get(url("detail", incident)))
        assert 'href="#actions"' in text and 'id="actions"' in text
        assert "You can read this incident" not in text

    def test_a_responder_who_is_not_ic_is_told_who_moves_the_incident(self, logged_in, alice, bob):
        alice.last_name = "Adams"
        alice.save()
        incident = factories.declared(alice)
        line = (
            "Only the Incident Commander (Alice Adams) can mitigate, resolve, change severity "
            "or assign roles."
        )
        assert line in page_text(logged_in(bob).get(url("detail", incident)))
        assert "Only the Incident Commander" not in page_text(
            logged_in(alice).get(url("detail", incident))
        )
        incident_resolve(incident=incident, actor=alice)
        assert (
            "Only the Incident Commander (Alice Adams) can reopen or close it, change severity "
            "or assign roles." in page_text(logged_in(bob).get(url("detail", incident)))
        )

    def test_without_an_ic_nobody_is_told_to_ask_one(self, logged_in, alice, bob):
        incident = factories.triggered("P2")
        incident_start_investigating(incident=incident, actor=alice)
        text = page_text(logged_in(bob).get(url("detail", incident)))
        assert "Only the Incident Commander" not in text
        assert url("mitigate", incident) in text

    def test_offers_only_the_allowed_actions(self, logged_in, alice, bob):
        incident = factories.declared(alice)
        ic_text = page_text(logged_in(alice).get(url("detail", incident)))
        assert url("mitigate", incident) in ic_text
        assert url("resolve", incident) in ic_text
        assert url("acknowledge", incident) not in ic_text
        assert "Also resolve the incident" in ic_text
        responder_text = page_text(logged_in(bob).get(url("detail", incident)))
        assert url("mitigate", incident) not in responder_text
        assert url("resolve", incident) not in responder_text
        assert url("status_update", incident) in responder_text
        assert url("note_add", incident) in responder_text
        assert "Also resolve the incident" not in responder_text

    def test_unknown_incident_is_404(self, logged_in, alice):
        assert logged_in(alice).get(reverse("incidents:detail", args=[999])).status_code == 404


# --- Actions through the page -------------------------------------------------------------------


class TestLifecycleActions:
    def test_acknowledge(self, logged_in, bob):
        incident = factories.triggered("P2")
        client = logged_in(bob)
        assert url("acknowledge", incident) in page_text(client.get(url("detail", incident)))
        response = client.post(url("acknowledge", incident), follow=True)
        assert f"{incident.reference} acknowledged." in page_text(response)
        assert refreshed(incident).status == IncidentStatus.ACKNOWLEDGED
        assert "Acknowledged by Bob" in page_text(response)

    def test_start_investigating(self, logged_in, bob):
        incident = factories.triggered("P2")
        incident_acknowledge(incident=incident, actor=bob)
        response = logged_in(bob).post(
            url("start_investigating", incident), {"reason": "Channel open"}, follow=True
        )
        assert "is being investigated" in page_text(response)
        assert refreshed(incident).status == IncidentStatus.INVESTIGATING

    def test_mitigate_then_the_mitigation_did_not_hold(self, logged_in, alice):
        incident = factories.declared(alice)
        client = logged_in(alice)
        response = client.post(
            url("mitigate", incident), {"message": "Rolled back to v41"}, follow=True
        )
        assert refreshed(incident).status == IncidentStatus.MITIGATED
        assert "Rolled back to v41" in page_text(response)
        assert "Why did the mitigation not hold?" in page_text(response)

        response = client.post(url("start_investigating", incident), {"reason": ""}, follow=True)
        assert "Say why the mitigation did not hold." in page_text(response)
        assert refreshed(incident).status == IncidentStatus.MITIGATED

        client.post(url("start_investigating", incident), {"reason": "Errors are back"})
        assert refreshed(incident).status == IncidentStatus.INVESTIGATING

    def test_resolve_reopen_and_close(self, logged_in, alice):
        incident = factories.declared(alice, "P3")
        client = logged_in(alice)
        response = client.post(url("resolve", incident), {"message": "Fixed"}, follow=True)
        assert f"{incident.reference} resolved." in page_text(response)
        assert refreshed(incident).status == IncidentStatus.RESOLVED

        response = client.post(url("reopen", incident), {"reason": ""}, follow=True)
        assert "Reopening failed: Why reopen?: This field is required." in page_text(response)
        assert refreshed(incident).status == IncidentStatus.RESOLVED

        response = client.post(url("reopen", incident), {"reason": "Back again"}, follow=True)
        assert refreshed(incident).status == IncidentStatus.INVESTIGATING
        assert "Back again" in page_text(response)

        client.post(url("resolve", incident))
        assert url("close", incident) in page_text(client.get(url("detail", incident)))
        response = client.post(url("close", incident), follow=True)
        assert refreshed(incident).status == IncidentStatus.CLOSED
        assert f"{incident.reference} closed." in page_text(response)

    def test_a_p1_is_not_closed_before_its_postmortem(self, logged_in, alice):
        incident = factories.declared(alice, "P1")
        incident_resolve(incident=incident, actor=alice)
        client = logged_in(alice)
        text = page_text(client.get(url("detail", incident)))
        assert url("close", incident) not in text
        assert "Close this incident once its postmortem is published (required for P1/P2)." in text
        response = client.post(url("close", incident), follow=True)
        assert "requires a postmortem" in page_text(response)
        assert refreshed(incident).status == IncidentStatus.RESOLVED

    def test_a_manager_is_told_when_a_p1_can_be_closed(self, logged_in, alice, manager_user):
        incident = factories.declared(alice, "P1")
        logged_in(alice).post(url("change_severity", incident), {"severity": "P3", "reason": "x"})
        incident_resolve(incident=incident, actor=alice)
        text = page_text(logged_in(manager_user).get(url("detail", incident)))
        assert url("close", incident) not in text
        assert (
            "Close this incident once its postmortem is published (required for P1/P2; "
            "it peaked at P1)." in text
        )
        assert "You can read this incident" not in text

    def test_once_the_postmortem_is_published_the_ic_is_offered_close(self, logged_in, alice):
        from postmortems.models import Postmortem

        incident = factories.declared(alice, "P1")
        incident_resolve(incident=incident, actor=alice)
        assert url("close", incident) not in page_text(
            logged_in(alice).get(url("detail", incident))
        )
        Postmortem.objects.filter(incident=incident).update(status="published")

        text = page_text(logged_in(alice).get(url("detail", incident)))

        assert url("close", incident) in text
        assert "Close this incident once its postmortem is published" not in text

    def test_change_severity(self, logged_in, alice):
        incident = factories.declared(alice, "P2")
        response = logged_in(alice).post(
            url("change_severity", incident),
            {"severity": "P1", "reason": "All regions down"},
            follow=True,
        )
        incident = refreshed(incident)
        assert incident.severity.code == "P1" and incident.peak_severity.code == "P1"
        assert "Raised severity P2 → P1: All regions down" in page_text(response)


class TestRoleActions:
    def test_take_a_free_role_and_leave_it(self, logged_in, alice, bob):
        incident = factories.declared(alice)
        client = logged_in(bob)
        response = client.post(url("role_assign", incident), {"role": "scribe"}, follow=True)
        assert "Bob is Scribe." in page_text(response)
        assert selectors.incident_current_roles(incident=incident)["scribe"].user == bob
        assert "Leave" in page_text(response)

        response = client.post(url("role_release", incident), {"role": "scribe"}, follow=True)
        assert "Scribe is free." in page_text(response)
        assert "scribe" not in selectors.incident_current_roles(incident=incident)
        assert "Bob left the Scribe role" in page_text(response)

    def test_the_ic_hands_over_command(self, logged_in, alice, bob):
        incident = factories.declared(alice)
        response = logged_in(alice).post(
            url("role_assign", incident), {"role": "commander", "user": bob.pk}, follow=True
        )
        assert selectors.incident_commander(incident).user == bob
        assert "Incident Commander handed over from Alice to Bob" in page_text(response)

    def test_take_command_of_an_incident_without_one(self, logged_in, alice, bob):
        incident = factories.triggered("P1")
        incident_acknowledge(incident=incident, actor=bob)
        client = logged_in(bob)
        client.post(url("role_assign", incident), {"role": "commander"})
        assert selectors.incident_commander(incident).user == bob

    def test_a_responder_cannot_take_a_held_role(self, logged_in, alice, bob):
        incident = factories.declared(alice)
        response = logged_in(bob).post(
            url("role_assign", incident), {"role": "commander"}, follow=True
        )
        assert "Alice is Incident Commander" in page_text(response)
        assert "ask them to hand it over" in page_text(response)
        assert selectors.incident_commander(incident).user == alice


class TestStatusUpdates:
    def form_data(self, **overrides):
        data = {
            "status": "INVESTIGATING",
            "impact": "Card payments fail",
            "last_action": "Rolled back",
            "next_action": "Watch error rate",
            "eta": "30 min",
        }
        data.update(overrides)
        return data

    @pytest.mark.parametrize(
        ("move", "preselected"),
        [(None, "INVESTIGATING"), ("mitigate", "MITIGATING"), ("resolve", "RESOLVED")],
    )
    def test_status_is_preselected_from_the_incident(self, logged_in, alice, move, preselected):
        incident = factories.declared(alice, "P3")
        if move == "mitigate":
            incident_mitigate(incident=incident, actor=alice)
        elif move == "resolve":
            incident_resolve(incident=incident, actor=alice)
        text = page_text(logged_in(alice).get(url("detail", incident)))
        assert f'<option value="{preselected}" selected>' in text
        assert re.search(r'name="eta"[^>]*value="unknown"', text)

    def test_post_an_update(self, logged_in, alice, bob):
        incident = factories.declared(alice)
        response = logged_in(bob).post(
            url("status_update", incident), self.form_data(), follow=True
        )
        text = page_text(response)
        assert "Status update posted." in text
        update = StatusUpdate.objects.get()
        assert update.author == bob and update.eta == "30 min"
        assert "Watch error rate" in text
        assert refreshed(incident).status == IncidentStatus.INVESTIGATING

    def test_resolved_update_with_the_checkbox_resolves(self, logged_in, alice):
        incident = factories.declared(alice)
        response = logged_in(alice).post(
            url("status_update", incident),
            self.form_data(status="RESOLVED", resolve="on"),
            follow=True,
        )
        assert f"Status update posted and {incident.reference} resolved." in page_text(response)
        assert refreshed(incident).status == IncidentStatus.RESOLVED
        assert kinds(incident)[-2:] == ["status_update", "resolved"]

    def test_resolved_update_without_the_checkbox_does_not_resolve(self, logged_in, alice):
        incident = factories.declared(alice)
        logged_in(alice).post(url("status_update", incident), self.form_data(status="RESOLVED"))
        assert StatusUpdate.objects.get().status == "RESOLVED"
        assert refreshed(incident).status == IncidentStatus.INVESTIGATING

    def test_the_checkbox_with_another_status_is_refused(self, logged_in, alice):
        incident = factories.declared(alice)
        response = logged_in(alice).post(
            url("status_update", incident), self.form_data(resolve="on"), follow=True
        )
        assert "Only an update whose Status is RESOLVED can resolve" in page_text(response)
        assert not StatusUpdate.objects.exists()
        assert refreshed(incident).status == IncidentStatus.INVESTIGATING

    def test_a_forged_resolve_by_a_non_ic_writes_nothing(self, logged_in, alice, bob):
        incident = factories.declared(alice)
        response = logged_in(bob).post(
            url("status_update", incident),
            self.form_data(status="RESOLVED", resolve="on"),
            follow=True,
        )
        assert "Incident Commander (or staff) may" in page_text(response)
        assert not StatusUpdate.objects.exists()
        assert refreshed(incident).status == IncidentStatus.INVESTIGATING

    def test_missing_fields_keep_what_was_typed(self, logged_in, alice):
        incident = factories.declared(alice)
        response = logged_in(alice).post(
            url("status_update", incident), self.form_data(impact="", last_action="Kept text")
        )
        text = page_text(response)
        assert response.status_code == 400
        assert "Posting the status update failed: Impact: This field is required." in text
        assert "Kept text</textarea>" in text
        assert "Also resolve the incident" in text
        assert not StatusUpdate.objects.exists()


class TestNotes:
    def test_add_a_note(self, logged_in, alice, bob):
        incident = factories.declared(alice)
        response = logged_in(bob).post(
            url("note_add", incident), {"body": "Deploy 4711 went out at 14:02"}, follow=True
        )
        assert "Note added." in page_text(response)
        assert "Deploy 4711 went out at 14:02" in page_text(response)

    def test_a_note_dated_in_my_time_zone(self, logged_in, alice):
        UserProfile.objects.create(user=alice, time_zone="America/New_York")
        incident = factories.declared(alice, at=timezone.now() - timedelta(hours=2))
        when = (timezone.now() - timedelta(hours=1)).replace(second=0, microsecond=0)
        with timezone.override("America/New_York"):
            local = local_input_value(when)
        logged_in(alice).post(url("note_add", incident), {"body": "Saw it", "occurred_at": local})
        note = incident.timeline.get(kind=TimelineEvent.Kind.NOTE)
        assert note.occurred_at == when

    def test_a_note_before_the_incident_is_refused(self, logged_in, alice):
        incident = factories.declared(alice)
        early = local_input_value(timezone.now() - timedelta(days=2))
        response = logged_in(alice).post(
            url("note_add", incident), {"body": "Too early", "occurred_at": early}, follow=True
        )
        assert "A note can't be dated before the incident's impact started" in page_text(response)
        assert not incident.timeline.filter(kind=TimelineEvent.Kind.NOTE).exists()

    def test_a_note_in_the_minute_impact_started_counts_as_in_the_window(self, logged_in, alice):
        start = (timezone.now() - timedelta(hours=1)).replace(second=40, microsecond=0)
        incident = factories.declared(alice, impact_started_at=start)
        same_minute = local_input_value(start)  # the input drops the seconds
        logged_in(alice).post(
            url("note_add", incident), {"body": "First 503s", "occurred_at": same_minute}
        )
        note = incident.timeline.get(kind=TimelineEvent.Kind.NOTE)
        assert note.occurred_at == start

    def test_a_correction_is_shown_as_such(self, logged_in, alice):
        incident = factories.declared(alice)
        client = logged_in(alice)
        client.post(url("note_add", incident), {"body": "Rollback at 14:00"})
        wrong = incident.timeline.get(kind=TimelineEvent.Kind.NOTE)
        response = client.post(
            url("note_add", incident),
            {"body": "Rollback was at 14:10", "corrects": wrong.pk},
            follow=True,
        )
        text = page_text(response)
        assert "Correction added to the timeline." in text
        assert "Correction</strong> of" in text
        assert f'href="#event-{wrong.pk}"' in text
        assert "Corrected later" in text
        assert incident.timeline.filter(kind=TimelineEvent.Kind.NOTE).count() == 2


class TestEditDetails:
    def details_as_posted(self, incident: Incident) -> dict[str, str]:
        """Return the edit form as the page pre-fills it."""
        form = DetailsForm(incident=incident)
        data = {}
        for name, value in form.initial.items():
            if name == "impact_started_at":
                data[name] = local_input_value(value)
            elif name == "customer_facing":
                if value:
                    data[name] = "on"
            else:
                data[name] = "" if value is None else str(value)
        return data

    def test_edit_details(self, logged_in, alice):
        incident = factories.declared(alice, impact="Some users")
        data = self.details_as_posted(incident)
        data.update(title="Checkout down", users_affected_pct="40", regions="eu, us")
        response = logged_in(alice).post(url("edit_details", incident), data, follow=True)
        incident = refreshed(incident)
        assert "Details saved." in page_text(response)
        assert incident.title == "Checkout down"
        assert incident.users_affected_pct == 40
        assert incident.regions == ["eu", "us"]
        assert "Changed title, users affected pct, regions" in page_text(response)

    def test_saving_the_untouched_form_changes_nothing(self, logged_in, alice):
        incident = factories.declared(alice, impact="Line one\nline two")
        data = self.details_as_posted(incident)
        data["impact"] = data["impact"].replace("\n", "\r\n")
        before = kinds(incident)
        logged_in(alice).post(url("edit_details", incident), data)
        assert kinds(incident) == before
        assert refreshed(incident).impact_started_at == incident.impact_started_at

    def test_invalid_details_are_shown_and_kept(self, logged_in, alice):
        incident = factories.declared(alice)
        data = self.details_as_posted(incident)
        data.update(title="New title", bridge_url="not a url")
        response = logged_in(alice).post(url("edit_details", incident), data)
        assert response.status_code == 400
        assert "Enter a valid URL." in page_text(response)
        assert 'value="New title"' in page_text(response)
        assert refreshed(incident).title == incident.title


# --- Forged posts of actions that are not offered -----------------------------------------------


class TestForgedPosts:
    def test_a_viewer_cannot_resolve(self, logged_in, viewer_user, alice):
        incident = factories.declared(alice)
        before = kinds(incident)
        response = logged_in(viewer_user).post(url("resolve", incident), follow=True)
        assert (
            f"Only {incident.reference}'s Incident Commander (or staff) may resolve it."
            in page_text(response)
        )
        assert refreshed(incident).status == IncidentStatus.INVESTIGATING
        assert kinds(incident) == before

    def test_a_responder_who_is_not_ic_cannot_mitigate(self, logged_in, alice, bob):
        incident = factories.declared(alice)
        before = kinds(incident)
        response = logged_in(bob).post(url("mitigate", incident), follow=True)
        assert "Incident Commander (or staff) may" in page_text(response)
        assert refreshed(incident).status == IncidentStatus.INVESTIGATING
        assert kinds(incident) == before

    def test_acknowledging_an_investigating_incident_is_refused(self, logged_in, alice):
        incident = factories.declared(alice)
        before = kinds(incident)
        response = logged_in(alice).post(url("acknowledge", incident), follow=True)
        assert "is investigating; it can't move to acknowledged from there." in page_text(response)
        assert refreshed(incident).status == IncidentStatus.INVESTIGATING
        assert kinds(incident) == before

    def test_a_viewer_cannot_post_updates_or_notes(self, logged_in, viewer_user, alice):
        incident = factories.declared(alice)
        client = logged_in(viewer_user)
        response = client.post(
            url("status_update", incident),
            {"status": "INVESTIGATING", "impact": "x", "last_action": "y", "next_action": "z"},
            follow=True,
        )
        assert "Only responders may post status updates." in page_text(response)
        client.post(url("note_add", incident), {"body": "hi"})
        assert not StatusUpdate.objects.exists()
        assert not incident.timeline.filter(kind=TimelineEvent.Kind.NOTE).exists()

    def test_a_non_ic_cannot_assign_roles_to_others(self, logged_in, alice, bob, carol):
        incident = factories.declared(alice)
        response = logged_in(bob).post(
            url("role_assign", incident), {"role": "scribe", "user": carol.pk}, follow=True
        )
        assert "Incident Commander (or staff) may" in page_text(response)
        assert "scribe" not in selectors.incident_current_roles(incident=incident)
