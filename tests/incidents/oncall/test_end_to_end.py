"""From Alertmanager's webhook to the on-call's acknowledgement, through the real entry points."""

import re
from datetime import timedelta

from django.core import mail

from incidents.models import Incident, Service
from portal.models import Timer
from tests.incidents.alerting.conftest import make_source, sample


def test_an_alert_pages_the_oncall_who_acknowledges_from_the_mail(
    client, paging_team, people, clock, django_capture_on_commit_callbacks
):
    Service.objects.create(name="Payments API", slug="payments-api", team=paging_team)
    source, secret = make_source(
        "alertmanager", default_service=Service.objects.get(slug="payments-api")
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/hooks/alertmanager/{source.pk}/",
            sample("alertmanager-v4-firing.json"),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
        )
    assert response.status_code == 200, response.content
    clock.sweep()  # deliveries are timers too

    incident = Incident.objects.get()
    assert (incident.status, incident.severity.code) == ("triggered", "P1")
    # P1: the on-call is paged, the EM and VP are told at once, the team hears of it.
    assert {(m.to[0], m.subject.split()[1]) for m in mail.outbox} == {
        ("olga@example.com", "PAGE"),
        ("erin@example.com", "FYI"),
        ("victor@example.com", "FYI"),
        ("payments@example.com", incident.reference),
    }
    to_oncall = [m for m in mail.outbox if m.to == ["olga@example.com"]]
    assert len(to_oncall) == 1
    ack_path = re.search(r"https?://[^/\s]+(/ack/[^\s]+/)", to_oncall[0].body).group(1)

    assert client.get(ack_path).status_code == 200  # a confirm page, for mail scanners
    assert client.post(ack_path).status_code == 200
    incident.refresh_from_db()
    assert incident.status == "acknowledged"
    assert incident.timeline.get(kind="acknowledged").actor == people.oncall

    # Acknowledged in time: the EM is never paged, however late it gets.
    clock.advance(timedelta(hours=1))
    clock.sweep()
    pages = [(m.to, m.subject.split()[1]) for m in mail.outbox if "PAGE" in m.subject]
    assert pages == [(["olga@example.com"], "PAGE")]
    assert not Timer.objects.filter(key__contains=":esc-", state="pending").exists()
