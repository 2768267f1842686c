"""Engagement per severity, escalation while nobody acknowledges, and delivery of pages."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.db import transaction

from incidents.oncall.models import ContactMethod, EscalationPolicy, EscalationStep, Page
from incidents.oncall.paging import (
    incident_engage,
    incident_escalation_cancel,
    incident_escalation_replan,
    page_more,
)
from incidents.services import (
    incident_acknowledge,
    incident_change_severity,
    incident_reopen,
    incident_resolve,
)
from portal.errors import PermissionDeniedError
from portal.integrations import page_delivery as delivery
from portal.models import Timer
from tests import factories

from .gateway import running_gateway

BERLIN = ZoneInfo("Europe/Berlin")


def paged(incident, kind=Page.Kind.ESCALATION):
    """Return (username, step number) of the sent pages of a kind, in order."""
    return [
        (page.recipient.username, page.step_number)
        for page in Page.objects.filter(incident=incident, kind=kind, state=Page.State.SENT)
    ]


def acknowledge(incident, user):
    """Acknowledge as the core will: the pending steps are cancelled in the same transaction."""
    with transaction.atomic():
        incident = incident_acknowledge(incident=incident, actor=user)
        incident_escalation_cancel(incident=incident)
    return incident


def test_a_triggered_p1_pages_oncall_and_notifies_em_and_vp_at_once(paging_team, people, clock):
    incident = factories.triggered("P1", team=paging_team)
    incident_engage(incident_id=incident.pk)
    clock.sweep()

    assert paged(incident) == [("olga", 0)]
    assert sorted(u for u, _ in paged(incident, Page.Kind.NOTIFY)) == ["erin", "victor"]
    assert sorted(m.to[0] for m in mail.outbox) == [
        "erin@example.com",
        "olga@example.com",
        "payments@example.com",  # the team's own mail: triggered
        "victor@example.com",
    ]
    page_mail = next(m for m in mail.outbox if m.to == ["olga@example.com"])
    assert page_mail.subject.startswith("[P1] PAGE INC-")
    assert "/ack/" in page_mail.body
    page = Page.objects.get(incident=incident, kind=Page.Kind.ESCALATION)
    # The stored message id is the one the mail carried: a resend would carry it again.
    assert page.provider_message_id == page_mail.extra_headers["Message-ID"]
    assert page.provider_message_id == delivery.email_message_id(page.delivery_id)


def test_engaging_twice_pages_once(paging_team, people, clock):
    incident = factories.triggered("P1", team=paging_team)
    incident_engage(incident_id=incident.pk)
    assert incident_engage(incident_id=incident.pk) == "already engaged"
    clock.sweep()  # also runs the engagement the incident's opening wrote: engaged already
    assert len([m for m in mail.outbox if m.to != ["payments@example.com"]]) == 3
    assert Page.objects.filter(incident=incident).count() == 3


def test_not_acknowledged_escalates_to_em_after_five_minutes_then_vp(paging_team, people, clock):
    start = clock.now
    incident = factories.triggered("P1", team=paging_team)
    incident_engage(incident_id=incident.pk)
    clock.sweep()

    clock.at(start + timedelta(minutes=4, seconds=59))
    clock.sweep()
    assert paged(incident) == [("olga", 0)]

    clock.at(start + timedelta(minutes=5, seconds=1))
    clock.sweep()
    assert paged(incident) == [("olga", 0), ("erin", 1)]

    clock.at(start + timedelta(minutes=10, seconds=1))
    clock.sweep()
    assert paged(incident) == [("olga", 0), ("erin", 1), ("victor", 2)]

    clock.at(start + timedelta(hours=1))
    clock.sweep()
    assert len(paged(incident)) == 3


def test_a_page_names_the_rotation_whose_on_call_it_reached(paging_team, people, clock):
    """Pages per rotation are counted from this: the on-call's page has its schedule."""
    start = clock.now
    incident = factories.triggered("P1", team=paging_team)
    incident_engage(incident_id=incident.pk)
    clock.at(start + timedelta(minutes=5, seconds=1))
    clock.sweep()

    schedules = {
        page.recipient.username: page.schedule
        for page in Page.objects.filter(incident=incident, kind=Page.Kind.ESCALATION)
    }
    assert schedules["olga"] is not None and schedules["olga"].team == paging_team
    assert schedules["erin"] is None  # the engineering manager, not on call in a rotation


def test_acknowledged_in_time_nobody_else_is_paged(paging_team, people, clock):
    start = clock.now
    incident = factories.triggered("P1", team=paging_team)
    incident_engage(incident_id=incident.pk)
    clock.sweep()

    clock.at(start + timedelta(minutes=2))
    acknowledge(incident, people.oncall)
    assert not Timer.objects.filter(key__contains=":esc-", state="pending").exists()

    clock.at(start + timedelta(minutes=30))
    clock.sweep()
    assert paged(incident) == [("olga", 0)]


def test_a_step_due_after_an_ack_that_did_not_cancel_it_still_pages_nobody(
    paging_team, people, clock, monkeypatch
):
    from incidents.oncall import subscribers

    start = clock.now
    incident = factories.triggered("P2", team=paging_team)
    incident_engage(incident_id=incident.pk)
    clock.sweep()
    # An acknowledgement whose cancellation did not happen: the step must re-check by itself.
    monkeypatch.setattr(subscribers, "incident_escalation_cancel", lambda **kwargs: None)
    incident_acknowledge(incident=incident, actor=people.oncall)
    monkeypatch.undo()

    clock.at(start + timedelta(minutes=6))
    clock.sweep()
    assert paged(incident) == [("olga", 0)]
    step = Timer.objects.get(key__contains=":esc-", payload__number=1)
    assert step.outcome.startswith("not paged")


def test_p2_pages_oncall_notifies_em_and_escalates_only_to_em(paging_team, people, clock):
    start = clock.now
    incident = factories.triggered("P2", team=paging_team)
    incident_engage(incident_id=incident.pk)
    clock.sweep()
    assert paged(incident, Page.Kind.NOTIFY) == [("erin", None)]

    clock.at(start + timedelta(hours=2))
    clock.sweep()
    assert paged(incident) == [("olga", 0), ("erin", 1)]


def test_a_declared_incident_only_notifies(paging_team, people, alice, clock):
    incident = factories.declared(alice, "P1", team=paging_team)
    incident_engage(incident_id=incident.pk)
    clock.advance(timedelta(seconds=1))
    clock.sweep()

    assert paged(incident) == []
    assert sorted(u for u, _ in paged(incident, Page.Kind.NOTIFY)) == ["erin", "victor"]
    assert not Timer.objects.filter(key__contains=":esc-").exists()


def test_p3_in_business_hours_pages_now_and_again_after_its_window(paging_team, people, clock):
    start = clock.at(datetime(2026, 11, 25, 10, 0, tzinfo=BERLIN))  # a Wednesday
    incident = factories.triggered("P3", team=paging_team)
    incident_engage(incident_id=incident.pk)
    clock.sweep()
    assert paged(incident) == [("olga", 0)]
    assert paged(incident, Page.Kind.NOTIFY) == []

    clock.at(start + timedelta(minutes=14))
    clock.sweep()
    assert paged(incident) == [("olga", 0)]
    clock.at(start + timedelta(minutes=15, seconds=1))
    clock.sweep()
    assert paged(incident) == [("olga", 0), ("olga", 1)]


def test_p3_outside_business_hours_pages_at_the_next_business_start(paging_team, people, clock):
    clock.at(datetime(2026, 11, 28, 22, 30, tzinfo=BERLIN))  # Saturday night
    incident = factories.triggered("P3", team=paging_team)
    incident_engage(incident_id=incident.pk)
    clock.sweep()
    assert paged(incident) == []
    first_step = Timer.objects.get(key__endswith="-0", key__contains=":esc-")
    assert first_step.due_at == datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN)  # Monday 09:00

    clock.at(datetime(2026, 11, 30, 8, 59, tzinfo=BERLIN))
    clock.sweep()
    assert paged(incident) == []
    clock.at(datetime(2026, 11, 30, 9, 0, 1, tzinfo=BERLIN))
    clock.sweep()
    assert paged(incident) == [("olga", 0)]


def test_p4_pages_nobody_and_becomes_a_ticket_due_next_business_day(paging_team, people, clock):
    clock.at(datetime(2026, 11, 27, 15, 0, tzinfo=BERLIN))  # Friday afternoon
    incident = factories.triggered("P4", team=paging_team)
    incident_engage(incident_id=incident.pk)
    clock.sweep()

    assert not Page.objects.filter(incident=incident).exists()
    assert incident.engagement.ticket_due_at == datetime(2026, 11, 30, 17, 0, tzinfo=BERLIN)
    (ticket,) = [m for m in mail.outbox if "ticket" in m.subject]
    assert ticket.to == ["payments@example.com"]
    assert "ticket" in ticket.subject
    assert "Monday 30 November 2026 17:00" in ticket.body


def test_a_team_policy_replaces_the_default(paging_team, people, carol, clock):
    start = clock.now
    policy = EscalationPolicy.objects.create(team=paging_team, name="Payments P1")
    policy.severity = factories.severity("P1")
    policy.save()
    EscalationStep.objects.create(policy=policy, position=0, target="team_oncall")
    EscalationStep.objects.create(
        policy=policy, position=1, delay_minutes=2, target="user", user=carol
    )
    incident = factories.triggered("P1", team=paging_team)
    incident_engage(incident_id=incident.pk)
    clock.at(start + timedelta(minutes=2, seconds=1))
    clock.sweep()
    assert paged(incident) == [("olga", 0), ("carol", 1)]


def test_raising_the_severity_replans_the_pending_steps(paging_team, people, alice, clock):
    incident = factories.triggered("P3", team=paging_team)
    clock.at(datetime(2026, 11, 25, 10, 0, tzinfo=BERLIN))
    start = clock.now
    incident_engage(incident_id=incident.pk)
    clock.sweep()
    with transaction.atomic():
        incident = incident_change_severity(
            incident=incident, actor=alice, severity=factories.severity("P1")
        )
        incident_escalation_replan(incident=incident)
    clock.sweep()
    # P1 tells the EM and the VP at once, and escalates to the EM five minutes after the start.
    assert sorted(u for u, _ in paged(incident, Page.Kind.NOTIFY)) == ["erin", "victor"]
    clock.at(start + timedelta(minutes=5, seconds=1))
    clock.sweep()
    assert paged(incident) == [("olga", 0), ("erin", 1)]


def test_resolve_cancels_and_reopen_engages_again(paging_team, people, alice, clock):
    incident = factories.triggered("P1", team=paging_team)
    incident_engage(incident_id=incident.pk)
    clock.sweep()
    with transaction.atomic():
        incident = incident_resolve(incident=incident, actor=alice, message="flap")
        incident_escalation_cancel(incident=incident)
    assert not Timer.objects.filter(key__startswith=f"inc-{incident.pk}:", state="pending")
    incident = incident_reopen(incident=incident, actor=alice, reason="back again")
    incident_engage(incident_id=incident.pk)
    clock.advance(timedelta(seconds=1))
    clock.sweep()
    # Reopened, the incident is being worked: EM and VP hear again; nobody is paged.
    notified = [u for u, _ in paged(incident, Page.Kind.NOTIFY)]
    assert sorted(notified) == ["erin", "erin", "victor", "victor"]
    assert paged(incident) == [("olga", 0)]


def test_a_person_without_contact_methods_is_emailed_and_webhooks_are_signed(
    paging_team, people, clock, allow_gateway
):
    with running_gateway(secret="s3cret") as gateway:
        ContactMethod.objects.create(
            user=people.oncall, kind="webhook", address=gateway.url, secret="s3cret", position=0
        )
        ContactMethod.objects.create(
            user=people.oncall, kind="email", address="olga@pager.example", position=1
        )
        incident = factories.triggered("P1", team=paging_team)
        incident_engage(incident_id=incident.pk)
        clock.sweep()

    pages = Page.objects.filter(incident=incident, recipient=people.oncall).order_by("pk")
    assert [(p.channel, p.state) for p in pages] == [("webhook", "sent"), ("email", "sent")]
    (request,) = gateway.received
    assert request.signature_ok
    assert request.body["incident"] == incident.reference
    assert "/ack/" in request.body["ack_url"]
    assert request.headers["x-firebreak-delivery"] == pages[0].delivery_id
    assert pages[0].provider_message_id == "gw-1"
    assert "erin@example.com" in {m.to[0] for m in mail.outbox}  # no methods: user's email


@pytest.mark.parametrize("failure", [500, "hang"])
def test_a_failing_gateway_is_retried_and_the_page_recorded_once(
    paging_team, people, clock, monkeypatch, failure, allow_gateway
):
    monkeypatch.setattr(delivery, "WEBHOOK_TIMEOUT_SECONDS", 0.3)
    with running_gateway(secret="s3cret") as gateway:
        gateway.script = [failure, 200]
        ContactMethod.objects.create(
            user=people.oncall, kind="webhook", address=gateway.url, secret="s3cret"
        )
        incident = factories.triggered("P2", team=paging_team)
        incident_engage(incident_id=incident.pk)
        clock.sweep()
        page = Page.objects.get(incident=incident, recipient=people.oncall)
        assert (page.state, page.attempts) == ("pending", 1)
        assert page.last_error

        clock.advance(timedelta(seconds=16))
        clock.sweep()
        clock.advance(timedelta(seconds=16))
        clock.sweep()

    page = Page.objects.get(incident=incident, recipient=people.oncall)
    assert (page.state, page.attempts, page.provider_message_id) == ("sent", 2, "gw-2")
    assert len(gateway.received) == 2
    assert {r.headers["x-firebreak-delivery"] for r in gateway.received} == {page.delivery_id}


def test_a_page_that_keeps_failing_is_marked_failed(paging_team, people, clock, allow_gateway):
    with running_gateway(secret="s3cret") as gateway:
        gateway.script = [500] * 10
        ContactMethod.objects.create(
            user=people.oncall, kind="webhook", address=gateway.url, secret="s3cret"
        )
        incident = factories.triggered("P2", team=paging_team)
        incident_engage(incident_id=incident.pk)
        for _ in range(8):
            clock.sweep()
            clock.advance(timedelta(minutes=5))
    page = Page.objects.get(incident=incident, recipient=people.oncall, kind="escalation")
    assert (page.state, page.attempts) == ("failed", 5)
    assert len([r for r in gateway.received if r.body["kind"] == "escalation"]) == 5


def test_a_webhook_to_a_private_address_fails_the_page_at_once_without_a_request(
    paging_team, people, clock
):
    with running_gateway(secret="s3cret") as gateway:
        ContactMethod.objects.create(
            user=people.oncall, kind="webhook", address=gateway.url, secret="s3cret"
        )
        incident = factories.triggered("P2", team=paging_team)
        incident_engage(incident_id=incident.pk)
        clock.sweep()
        clock.advance(timedelta(minutes=5))
        clock.sweep()

    page = Page.objects.get(incident=incident, recipient=people.oncall, kind="escalation")
    assert (page.state, page.attempts) == ("failed", 1)
    assert page.last_error.startswith("webhook address refused: 127.0.0.1 is a loopback")
    assert "Webhook allowed networks" in page.last_error
    assert gateway.received == []


def test_the_webhook_address_is_checked_again_at_every_attempt(
    paging_team, people, clock, allow_gateway
):
    with running_gateway(secret="s3cret") as gateway:
        gateway.script = [500]
        ContactMethod.objects.create(
            user=people.oncall, kind="webhook", address=gateway.url, secret="s3cret"
        )
        incident = factories.triggered("P2", team=paging_team)
        incident_engage(incident_id=incident.pk)
        clock.sweep()
        allow_gateway.delete()  # the admin takes the gateway's network off the allow-list
        clock.advance(timedelta(seconds=16))
        clock.sweep()

    page = Page.objects.get(incident=incident, recipient=people.oncall, kind="escalation")
    assert (page.state, page.attempts) == ("failed", 2)
    assert page.last_error.startswith("webhook address refused")
    assert len(gateway.received) == 1


def test_a_gateway_that_redirects_is_not_followed(paging_team, people, clock, allow_gateway):
    with running_gateway(secret="s3cret") as gateway:
        gateway.script = [302]
        ContactMethod.objects.create(
            user=people.oncall, kind="webhook", address=gateway.url, secret="s3cret"
        )
        incident = factories.triggered("P2", team=paging_team)
        incident_engage(incident_id=incident.pk)
        clock.sweep()

    page = Page.objects.get(incident=incident, recipient=people.oncall, kind="escalation")
    assert (page.state, page.attempts) == ("pending", 1)
    assert page.last_error == "gateway answered HTTP 302"
    assert len(gateway.received) == 1


def test_the_ic_pages_more_people(paging_team, people, alice, bob, carol, clock):
    incident = factories.declared(alice, "P3", team=paging_team)
    pages = page_more(
        incident=incident,
        actor=alice,
        targets=[
            factories_target("user", user_id=bob.pk),
            factories_target("team_oncall", team_id=paging_team.pk),
        ],
    )
    clock.advance(timedelta(seconds=1))
    clock.sweep()
    assert sorted(p.recipient.username for p in pages) == ["bob", "olga"]
    assert sorted(u for u, _ in paged(incident, Page.Kind.MANUAL)) == ["bob", "olga"]
    assert incident.timeline.filter(kind="note", message__startswith="Paged").exists()

    with pytest.raises(PermissionDeniedError):
        page_more(
            incident=incident, actor=carol, targets=[factories_target("user", user_id=bob.pk)]
        )


def factories_target(kind, **ids):
    from incidents.oncall.escalation import PlanTarget

    return PlanTarget(kind, **ids)
