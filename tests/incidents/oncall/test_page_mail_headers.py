"""Titles that span lines (alert annotations often do) still page, and a page that can never be
sent fails at once, visibly, while the person's other contact methods carry it."""

from django.core import mail
from django.template import Context, Template
from django.test import RequestFactory

from incidents.models import Incident, Service
from incidents.oncall.models import ContactMethod, Page
from incidents.oncall.paging import incident_engage
from portal.models import Timer
from tests import factories
from tests.incidents.alerting.conftest import firing, make_source

SUMMARY = "Error rate high\non payments-api"


def one_line(subject: str) -> bool:
    return not any(char in subject for char in "\r\n\t\x00")


def test_an_alert_whose_summary_spans_lines_pages_the_oncall_by_email(
    client, paging_team, people, clock, django_capture_on_commit_callbacks
):
    service = Service.objects.create(name="Payments API", slug="payments-api", team=paging_team)
    source, secret = make_source("alertmanager", default_service=service)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/hooks/alertmanager/{source.pk}/",
            firing(annotations={"summary": SUMMARY}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
        )
    assert response.status_code == 200, response.content
    clock.sweep()

    incident = Incident.objects.get()
    assert incident.severity.code == "P1"
    assert "\n" in incident.title  # kept as written: only mail headers are folded
    (page,) = incident.pages.filter(kind="escalation")
    assert (page.state, page.attempts, page.last_error) == ("sent", 1, "")
    (to_oncall,) = [m for m in mail.outbox if m.to == ["olga@example.com"]]
    assert to_oncall.subject == (
        f"[P1] PAGE {incident.reference}: PaymentsDown: Error rate high on payments-api"
    )
    assert SUMMARY in to_oncall.body
    assert "/ack/" in to_oncall.body
    # Everyone else who hears of it does too: the EM and VP (FYI) and the team's address.
    assert {m.to[0] for m in mail.outbox} == {
        "olga@example.com",
        "erin@example.com",
        "victor@example.com",
        "payments@example.com",
    }
    assert all(one_line(m.subject) for m in mail.outbox)
    assert all(m.message()["Subject"] for m in mail.outbox)
    assert not Timer.objects.filter(state="failed").exists()


def test_an_incident_declared_through_the_api_with_a_title_on_two_lines_is_mailed(
    client, paging_team, people, clock, django_capture_on_commit_callbacks
):
    Service.objects.create(name="Payments API", slug="payments-api", team=paging_team)
    client.force_login(people.oncall)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/incidents/",
            {
                "title": "Checkout failing\r\nfor EU cards",
                "severity": "P1",
                "services": ["payments-api"],
            },
            content_type="application/json",
        )
    assert response.status_code == 201, response.content
    clock.sweep()

    incident = Incident.objects.get()
    pages = list(incident.pages.all())
    assert pages and {page.state for page in pages} == {"sent"}
    told = {m.to[0]: m for m in mail.outbox}
    assert {"erin@example.com", "victor@example.com", "payments@example.com"} <= set(told)
    assert told["erin@example.com"].subject == (
        f"[P1] FYI {incident.reference}: Checkout failing for EU cards"
    )
    assert all(one_line(m.subject) for m in mail.outbox)
    assert not Timer.objects.filter(state="failed").exists()


def test_a_very_long_title_makes_a_subject_cut_short_with_an_ellipsis(paging_team, people, clock):
    incident = factories.triggered("P1", team=paging_team, title="Disk full " * 100)
    incident_engage(incident_id=incident.pk)
    clock.sweep()

    (to_oncall,) = [m for m in mail.outbox if m.to == ["olga@example.com"]]
    assert len(to_oncall.subject) == 200
    assert to_oncall.subject.startswith(f"[P1] PAGE {incident.reference}: Disk full Disk full")
    assert to_oncall.subject.endswith("…")
    assert incident.title in to_oncall.body  # the whole title stays in the text


def render_panel(incident, user) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return Template("{% include 'oncall/_incident_engagement.html' %}").render(
        Context({"incident": incident, "request": request})
    )


def test_an_address_no_mail_can_reach_fails_at_once_and_the_other_methods_carry_the_page(
    paging_team, people, clock
):
    ContactMethod.objects.create(
        user=people.oncall, kind=ContactMethod.Kind.EMAIL, address="olga@@example.com"
    )
    ContactMethod.objects.create(
        user=people.oncall, kind=ContactMethod.Kind.EMAIL, address="olga.phone@example.com"
    )
    incident = factories.triggered("P1", team=paging_team)
    incident_engage(incident_id=incident.pk)
    clock.sweep()

    broken = Page.objects.get(incident=incident, kind="escalation", address="olga@@example.com")
    assert broken.state == "failed"
    assert broken.attempts == 1  # no retries of what can never work
    assert "not a valid email address" in broken.last_error
    assert not Timer.objects.filter(key__startswith=f"inc-{incident.pk}:page-{broken.pk}-try-")
    carried = Page.objects.get(
        incident=incident, kind="escalation", address="olga.phone@example.com"
    )
    assert carried.state == "sent"
    assert [m.to for m in mail.outbox if "PAGE" in m.subject] == [["olga.phone@example.com"]]

    html = render_panel(incident, people.em)
    assert 'Failed</strong>: <span class="page-error">email refused: not a valid email address' in (
        html.replace("&#x27;", "'")
    )


def test_a_ticket_for_a_title_on_two_lines_is_mailed_to_the_team(paging_team, people, clock):
    incident = factories.triggered("P4", team=paging_team, title="Slow search\non admin pages")
    assert incident_engage(incident_id=incident.pk).startswith("ticket")

    (ticket,) = [
        m for m in mail.outbox if m.to == ["payments@example.com"] and "ticket" in m.subject
    ]
    assert ticket.subject == f"[P4] {incident.reference} ticket: Slow search on admin pages"
