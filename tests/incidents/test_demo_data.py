from io import StringIO
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from incidents.alerting.models import Alert, AlertGroup, RoutingRule
from incidents.models import (
    Incident,
    IncidentRole,
    IncidentStatus,
    Service,
    ServiceLink,
    Source,
    StatusUpdate,
    Team,
    TimelineEvent,
)
from incidents.oncall.models import IncidentEngagement, Page
from incidents.oncall.selectors import oncall_at
from incidents.selectors import incident_commander
from portal.celery import app
from postmortems.models import Postmortem

pytestmark = pytest.mark.django_db

RUNBOOK_DASHBOARDS = {"API p99 latency", "Error rate", "Pod restart count", "Node CPU/memory"}


def load(**options) -> str:
    out = StringIO()
    call_command("demo_data", stdout=out, **options)
    return out.getvalue()


def counts() -> dict[str, int]:
    models = [User, Team, Service, ServiceLink, Incident, TimelineEvent, StatusUpdate]
    models += [Alert, AlertGroup, RoutingRule, Page, IncidentEngagement, Postmortem]
    return {model.__name__: model.objects.count() for model in models}


def test_running_twice_adds_nothing():
    load()
    first = counts()

    output = load()

    assert counts() == first
    assert "0 people and 0 incidents added" in output


def test_prints_a_login_for_each_kind_of_user_and_they_work(client):
    output = load(password="s3cret-demo-pass")

    for username in ("admin", "maria", "alice", "vera"):
        assert username in output
        assert client.login(username=username, password="s3cret-demo-pass")
    assert "s3cret-demo-pass" in output


def test_people_in_each_group_with_time_zones():
    load()

    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    groups = {
        name: set(User.objects.filter(groups__name=name).values_list("username", flat=True))
        for name in ("managers", "responders", "viewers")
    }
    assert "maria" in groups["managers"]
    assert len(groups["responders"]) >= 3
    assert groups["viewers"] == {"vera"}
    assert User.objects.get(username="alice").profile.time_zone == "Europe/Berlin"


def test_teams_carry_what_the_policy_needs():
    load()

    payments = Team.objects.get(slug="payments")
    assert payments.members.count() >= 2
    assert payments.engineering_managers.filter(username="maria").exists()
    assert payments.escalation_contact is not None
    assert payments.chat_channel.startswith("#")
    assert payments.email
    assert payments.holiday_country == "DE"
    payments.full_clean()


def test_every_service_has_the_runbook_dashboards_and_a_runbook():
    load()

    for service in Service.objects.all():
        titles = set(service.links.filter(kind="dashboard").values_list("title", flat=True))
        assert titles == RUNBOOK_DASHBOARDS, service
        assert service.links.filter(kind="runbook").exists(), service


def test_incidents_in_every_state():
    load()

    statuses = set(Incident.objects.values_list("status", flat=True))
    assert statuses == set(IncidentStatus.values)
    by_status = {i.status: i for i in Incident.objects.select_related("severity")}
    assert by_status[IncidentStatus.TRIGGERED].severity.code == "P3"
    assert by_status[IncidentStatus.ACKNOWLEDGED].severity.code == "P4"
    assert by_status[IncidentStatus.CLOSED].severity.code == "P3"


def test_every_incident_was_built_through_the_lifecycle():
    load()

    for incident in Incident.objects.all():
        kinds = list(incident.timeline.values_list("kind", flat=True))
        assert kinds[0] in {TimelineEvent.Kind.DECLARED, TimelineEvent.Kind.TRIGGERED}
        if incident.status != IncidentStatus.TRIGGERED:
            assert incident.acknowledged_at is not None


def test_the_runbook_example_has_a_full_timeline():
    load()

    incident = Incident.objects.get(title="Payments service returning 503")
    events = list(incident.timeline.order_by("occurred_at", "id"))
    kinds = [event.kind for event in events]

    assert incident.severity.code == "P1"
    assert incident.status == IncidentStatus.RESOLVED
    assert kinds[:2] == [TimelineEvent.Kind.TRIGGERED, TimelineEvent.Kind.ACKNOWLEDGED]
    lifecycle = [kind for kind in kinds if kind != TimelineEvent.Kind.DETAILS_CHANGED]
    assert lifecycle[-1] == TimelineEvent.Kind.RESOLVED
    assert incident.time_to_acknowledge.total_seconds() == 120
    roles = set(incident.role_assignments.values_list("role", flat=True))
    assert roles == set(IncidentRole.values)
    assert incident_commander(incident).user.username == "alice"
    notes = [event.message for event in events if event.kind == TimelineEvent.Kind.NOTE]
    assert "Identified bad deploy" in notes
    assert "Rolled back" in incident.timeline.get(kind=TimelineEvent.Kind.MITIGATED).message
    posted = list(incident.status_updates.order_by("posted_at").values_list("posted_at", flat=True))
    gaps = {(b - a).total_seconds() / 60 for a, b in pairwise(posted)}
    assert gaps == {15.0}
    assert incident.status_updates.latest("posted_at").status == "RESOLVED"


def test_the_runbook_example_happens_on_the_payments_teams_clock():
    load()

    incident = Incident.objects.get(title="Payments service returning 503")
    berlin = ZoneInfo(incident.team.time_zone)
    assert incident.team.time_zone == "Europe/Berlin"

    def clock(moment) -> str:
        return moment.astimezone(berlin).strftime("%H:%M")

    assert clock(incident.impact_started_at) == "13:57"  # "since the 13:57 deploy"
    assert clock(incident.detected_at) == "14:00"  # the alert fires
    assert clock(incident.acknowledged_at) == "14:02"
    assert clock(incident.mitigated_at) == "14:15"  # rolled back
    assert clock(incident.timeline.get(message="Identified bad deploy").occurred_at) == "14:08"
    assert clock(incident.timeline.get(message="Service restored").occurred_at) == "14:20"
    assert "13:57 deploy" in incident.timeline.filter(kind="note").first().message


def test_the_runbook_example_carries_its_impact(client):
    load()

    incident = Incident.objects.get(title="Payments service returning 503")
    assert incident.impact
    assert incident.users_affected_pct == 100
    assert incident.regions
    assert incident.customer_facing is True
    assert incident.bridge_url.startswith("https://")
    edit = incident.timeline.get(kind=TimelineEvent.Kind.DETAILS_CHANGED)
    assert edit.actor.username == "alice"

    client.force_login(User.objects.get(username="alice"))  # in Europe/Berlin
    text = client.get(f"/incidents/{incident.pk}/").content.decode()
    assert "14:00 CE" in text  # CET or CEST, the same clock as the notes
    assert "13:57 CE" in text


def test_the_payments_incident_suggests_the_runbooks_playbooks(client):
    load()
    incident = Incident.objects.get(title="Payments service returning 503")

    client.force_login(User.objects.get(username="alice"))
    text = client.get(f"/incidents/{incident.pk}/").content.decode()

    for title in ("First 5 minutes of a P1", "All pods crashing", "Rollback procedures"):
        assert title in text
    assert "Node group failure" not in text  # an ingress playbook, not the payments one's


def test_the_health_dashboard_reads_the_demo_history(client):
    load()
    client.force_login(User.objects.get(username="maria"))

    for days in (7, 30, 90):
        response = client.get(f"/health/?days={days}")
        assert response.status_code == 200
    text = response.content.decode()
    assert "Mean time to acknowledge" in text and "Mean time to resolve" in text
    assert "<svg" in text  # the weekly trends


def history() -> list[Incident]:
    """Return the demo's alert-opened incidents of the last eight weeks (with alert episodes)."""
    return list(
        Incident.objects.filter(source=Source.ALERT, alerts__isnull=False)
        .distinct()
        .select_related("team", "severity")
    )


def test_running_twice_adds_no_on_call_history():
    first_output = load()
    alerts, pages = Alert.objects.count(), Page.objects.count()

    output = load()

    assert "On-call history: already there" in output
    assert "alert episodes" in first_output and alerts > 0 and pages > 0
    assert (Alert.objects.count(), Page.objects.count()) == (alerts, pages)


def test_the_health_dashboard_tells_the_last_month_of_on_call(client):
    load()
    client.force_login(User.objects.get(username="maria"))

    response = client.get("/health/?days=30")
    text = response.content.decode()
    context = response.context

    times = context["times"]
    assert times.mtta.count >= 15 and times.mtta.mean is not None
    assert "alert-opened incidents</a>" in text
    quality = context["alert_total"]
    assert quality.with_verdict >= 15 and 0 < quality.rate < 0.2  # the false-positive rate
    assert "No alert fired in this period." not in text
    rotations = {row.name for row in context["rotation_rows"]}
    assert {"Payments primary", "Platform primary"} <= rotations
    assert "Nobody was paged in this period." not in text
    busiest = context["busiest"]
    assert busiest.rotation.schedule == "Payments primary"
    assert busiest.rotation.actionable > 5 and busiest.over_target >= 1
    assert context["toil_rows"]  # pages that needed manual action
    noisy = [row.alert for month in context["noisy_months"] for row in month.rows]
    assert "CheckoutLatencyHigh" in {alert.alert_name for alert in noisy}
    assert all(alert.episodes > 5 for alert in noisy)
    assert 'aria-label="Automate or fix CheckoutLatencyHigh' in text  # the form, for a manager


def test_the_on_call_history_went_through_the_lifecycle_at_past_times():
    load()
    incidents = history()

    assert 25 <= len(incidents) <= 40
    assert {incident.team.slug for incident in incidents} == {"payments", "platform"}
    assert {incident.severity.code for incident in incidents} == {"P2", "P3"}
    for incident in incidents:
        events = {event.kind: event for event in incident.timeline.all()}
        first = incident.alerts.order_by("first_seen_at").first()
        assert first.first_seen_at == incident.detected_at
        assert first.starts_at == incident.impact_started_at
        assert first.service.team == incident.team
        if incident.status == IncidentStatus.TRIGGERED:  # the noisy alert, firing again now
            continue
        assert incident.status == IncidentStatus.RESOLVED
        assert events[TimelineEvent.Kind.ACKNOWLEDGED].occurred_at == incident.acknowledged_at
        assert events[TimelineEvent.Kind.RESOLVED].occurred_at == incident.resolved_at
        assert 60 <= incident.time_to_acknowledge.total_seconds() <= 12 * 60
        assert 20 * 60 <= incident.time_to_resolve.total_seconds() <= 6 * 3600 + 60
    joined = Alert.objects.filter(incident__in=incidents).count() - len(incidents)
    assert joined >= 15  # later episodes that joined an open incident instead of opening one


def test_the_on_call_history_paged_whoever_was_on_call():
    load()

    pages = Page.objects.filter(kind=Page.Kind.ESCALATION, schedule__isnull=False)
    assert pages.count() >= 25
    for page in pages.select_related("schedule", "incident"):
        assert page.state == Page.State.SENT
        assert page.schedule.team_id == page.incident.team_id
        assert oncall_at(schedule=page.schedule, at=page.created_at) == page.recipient
        assert page.created_at < page.incident.acknowledged_at
    judged = pages.exclude(actionable=None)
    assert judged.count() >= 0.8 * pages.count()
    assert judged.filter(actionable=False).exists()
    assert judged.filter(needed_manual_action=True).exists()


@pytest.fixture
def eager_tasks():
    """Run tasks in-process even when the suite runs against a real broker."""
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


def test_demo_incidents_notify_their_teams(django_capture_on_commit_callbacks, eager_tasks):
    with django_capture_on_commit_callbacks(execute=True):
        load()

    subjects = [message.subject for message in mail.outbox]
    assert any("Checkout latency above 2 s" in subject for subject in subjects)
    # Backfilled history (the runbook example two days ago) is not news: it is not mailed.
    assert not any("Payments service returning 503" in subject for subject in subjects)


def test_the_printed_alert_command_pages_the_payments_oncall(
    client, django_capture_on_commit_callbacks
):
    import json
    import re
    from pathlib import Path
    from urllib.parse import urlparse

    from incidents.oncall.models import Page, Schedule
    from incidents.oncall.selectors import oncall_at
    from portal.timers import timers_sweep

    output = load()
    curl = re.search(r"curl -H 'Authorization: Bearer ([^']+)'.* (http\S+)", output)
    secret, url = curl.groups()
    payload = json.loads(
        (Path(__file__).parent / "alerting/samples/alertmanager-v4-firing.json").read_text()
    )
    payload["groupKey"] = '{}:{alertname="DemoAlert"}'
    mail.outbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            urlparse(url).path,
            payload,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {secret}",
        )
    timers_sweep()

    assert response.status_code == 200, response.content
    oncall = oncall_at(schedule=Schedule.objects.get(slug="payments-primary"), at=timezone.now())
    assert oncall is not None
    assert Page.objects.filter(recipient=oncall, incident__title__contains="PaymentsDown").exists()


def test_the_public_status_page_shows_the_open_incident_and_the_maintenance(client):
    load()

    page = client.get("/status/").content.decode()
    summary = client.get("/status/api/v2/summary.json").json()

    assert "Slow checkout in Europe" in page
    assert "Database upgrade" in page
    assert "Checkout latency above 2 s" not in page  # the internal title stays internal
    assert summary["status"]["indicator"] == "minor"
    statuses = {c["name"]: c["status"] for c in summary["components"] if not c["group"]}
    assert statuses["Checkout"] == "degraded_performance"
    assert statuses["Sign-in"] == "operational"
