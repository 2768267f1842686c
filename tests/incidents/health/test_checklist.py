"""The runbook's "After every incident" checklist, per incident and counted over a window."""

from datetime import date

import pytest
from django.urls import reverse

from incidents.health.checklist import (
    checklist_incidents,
    checklist_summary,
    incident_checklist,
)
from incidents.models import IncidentStatus, Source
from postmortems.models import ActionItem
from tests import factories

from . import builders as b

pytestmark = pytest.mark.django_db


def item(incident, key):
    return {entry.key: entry for entry in incident_checklist(incident=incident)}[key]


# --- which incidents get a checklist ---------------------------------------------------------


def test_an_open_incident_has_no_checklist_yet():
    assert incident_checklist(incident=b.incident_at(resolved=None)) == []


def test_resolved_and_closed_incidents_have_the_four_items_in_the_runbooks_order():
    for status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
        keys = [entry.key for entry in incident_checklist(incident=b.incident_at(status=status))]
        assert keys == ["action_items", "runbook", "alerting", "review"]


# --- 1. action items tracked -----------------------------------------------------------------


def test_no_action_items_is_missing_and_links_to_adding_one():
    incident = b.incident_at()
    entry = item(incident, "action_items")
    assert entry.state == "missing"
    assert "No action items" in entry.detail
    assert entry.url == f"{reverse('postmortems:action_item_new')}?incident={incident.pk}"


def test_items_with_an_owner_and_a_due_date_or_a_tracker_link_are_tracked(alice):
    incident = b.incident_at()
    b.action_item(incident, "Add canary", owner=alice, due_date=date(2026, 12, 1))
    b.action_item(incident, "Fix probe", owner=alice, tracker_url="https://linear.app/x/ISS-1")
    entry = item(incident, "action_items")
    assert entry.state == "done"
    assert entry.detail.startswith("2 action items")


def test_missing_names_the_items_without_an_owner_and_without_a_date_or_link(alice):
    incident = b.incident_at()
    b.action_item(incident, "Add canary", owner=alice, due_date=date(2026, 12, 1))
    orphan = b.action_item(incident, "Pin the base image", due_date=date(2026, 12, 1))
    b.action_item(incident, "Write the integration test", owner=alice)
    entry = item(incident, "action_items")
    assert entry.state == "missing"
    assert "No owner: “Pin the base image”" in entry.detail
    assert "neither a due date nor a tracker link: “Write the integration test”" in entry.detail
    assert "Add canary" not in entry.detail
    assert entry.url == reverse("postmortems:action_item_edit", kwargs={"pk": orphan.pk})


def test_finished_items_count_as_tracked_even_without_an_owner():
    incident = b.incident_at()
    b.action_item(incident, "Old idea", status=ActionItem.Status.WONT_DO)
    b.action_item(incident, "Rolled back", status=ActionItem.Status.DONE)
    assert item(incident, "action_items").state == "done"


def test_a_postmortem_is_where_tracked_items_and_new_ones_are_linked(alice):
    incident = b.incident_at(code="P2")
    pm = b.postmortem(incident)
    assert item(incident, "action_items").url.endswith(f"?postmortem={pm.pk}")
    b.action_item(incident, "Add canary", owner=alice, due_date=date(2026, 12, 1))
    assert item(incident, "action_items").url == reverse("postmortems:detail", kwargs={"pk": pm.pk})


# --- 2. runbook updated if gaps found --------------------------------------------------------


def test_no_runbook_flag_means_no_runbook_update_is_needed():
    assert item(b.incident_at(), "runbook").state == "not_needed"


def test_an_open_runbook_flag_is_missing_and_links_to_the_runbook():
    incident = b.incident_at()
    book = b.runbook("Node group failure")
    b.flag(incident, book)
    b.flag(incident, b.runbook("Rollback procedures"), resolved="2026-11-03 09:00")
    entry = item(incident, "runbook")
    assert entry.state == "missing"
    assert "“Node group failure”" in entry.detail
    assert "Rollback procedures" not in entry.detail
    assert entry.url == reverse("incidents:runbook", kwargs={"pk": incident.pk, "slug": book.slug})


def test_runbook_is_done_when_every_flag_is_resolved():
    incident = b.incident_at()
    b.flag(incident, b.runbook(), resolved="2026-11-03 09:00")
    assert item(incident, "runbook").state == "done"


def test_another_incidents_flag_does_not_count():
    incident, other = b.incident_at(), b.incident_at()
    b.flag(other, b.runbook())
    assert item(incident, "runbook").state == "not_needed"


# --- 3. alerts added/improved if detection was slow ------------------------------------------


def test_fast_detection_needs_no_alerting_work():
    incident = b.incident_at(impact_started="2026-11-02 09:55", detected="2026-11-02 10:00")
    entry = item(incident, "alerting")
    assert entry.state == "not_needed"
    assert "5 min" in entry.detail


def test_detection_exactly_at_the_threshold_is_not_slow(settings):
    settings.FIREBREAK_SLOW_DETECTION_MINUTES = 10
    incident = b.incident_at(impact_started="2026-11-02 09:50", detected="2026-11-02 10:00")
    assert item(incident, "alerting").state == "not_needed"


def test_slow_detection_without_an_alerting_item_is_missing_and_says_the_rule(alice):
    incident = b.incident_at(impact_started="2026-11-02 09:35", detected="2026-11-02 10:00")
    b.action_item(incident, "Add canary deployment", owner=alice, due_date=date(2026, 12, 1))
    entry = item(incident, "alerting")
    assert entry.state == "missing"
    assert "25 min" in entry.detail and "10 min" in entry.detail
    assert "“alert”, “detect” or “monitor”" in entry.detail
    assert entry.url == f"{reverse('postmortems:action_item_new')}?incident={incident.pk}"


@pytest.mark.parametrize(
    "title",
    [
        "Alert on checkout 5xx rate",
        "Improve ALERTING thresholds",
        "Faster detection of queue backlog",
        "Add monitoring for the card processor",
        "Tune Alertmanager routing",
    ],
)
def test_slow_detection_is_done_with_an_item_about_alerting(title):
    incident = b.incident_at(impact_started="2026-11-02 09:00", detected="2026-11-02 10:00")
    tracked = b.action_item(incident, title, status=ActionItem.Status.WONT_DO)
    entry = item(incident, "alerting")
    assert entry.state == "done"
    assert entry.url == reverse("postmortems:action_item_edit", kwargs={"pk": tracked.pk})


def test_the_slow_detection_threshold_is_a_setting(settings):
    incident = b.incident_at(impact_started="2026-11-02 09:55", detected="2026-11-02 10:00")
    settings.FIREBREAK_SLOW_DETECTION_MINUTES = 2
    assert item(incident, "alerting").state == "missing"


# --- 4. postmortem review scheduled (P1 within 24 h) -----------------------------------------


def test_no_review_is_needed_for_p3_and_p4_without_a_postmortem():
    for code in ("P3", "P4"):
        assert item(b.incident_at(code=code), "review").state == "not_needed"


def test_a_required_postmortem_not_started_is_missing_and_links_to_the_incident_panel():
    incident = b.incident_at(code="P2")
    entry = item(incident, "review")
    assert entry.state == "missing"
    assert entry.url == reverse("incidents:detail", kwargs={"pk": incident.pk}) + "#postmortem"


def test_p1_review_scheduled_within_24_hours_of_resolution_is_done():
    incident = b.incident_at(code="P1", resolved="2026-11-02 11:00")
    pm = b.postmortem(incident, scheduled="2026-11-03 10:59", meeting="2026-11-04 15:00")
    entry = item(incident, "review")
    assert entry.state == "done"
    assert "2026-11-04 15:00" in entry.detail
    assert entry.url == reverse("postmortems:detail", kwargs={"pk": pm.pk}) + "#workflow"
    assert "24 h" in entry.label


def test_p1_review_scheduled_later_than_24_hours_is_missing():
    incident = b.incident_at(code="P1", resolved="2026-11-02 11:00")
    b.postmortem(incident, scheduled="2026-11-03 11:30", meeting="2026-11-04 15:00")
    entry = item(incident, "review")
    assert entry.state == "missing"
    assert "24 h" in entry.detail


def test_p1_review_not_scheduled_is_missing():
    incident = b.incident_at(code="P1")
    b.postmortem(incident)
    entry = item(incident, "review")
    assert entry.state == "missing"
    assert "not scheduled" in entry.detail


def test_p2_review_has_no_24_hour_rule():
    incident = b.incident_at(code="P2", resolved="2026-11-02 11:00")
    b.postmortem(incident, scheduled="2026-11-06 09:00")
    assert item(incident, "review").state == "done"


def test_the_24_hours_count_from_the_final_resolution_after_a_reopen():
    # Scheduled after the first resolution, 30 h before the final one: on time.
    incident = b.incident_at(code="P1", resolved="2026-11-05 11:00")
    b.postmortem(incident, scheduled="2026-11-04 05:00", meeting="2026-11-06 09:00")
    assert item(incident, "review").state == "done"


def test_an_optional_postmortem_with_a_meeting_counts_as_done():
    incident = b.incident_at(code="P3")
    b.postmortem(incident)
    assert item(incident, "review").state == "not_needed"
    incident2 = b.incident_at(code="P3")
    b.postmortem(incident2, scheduled="2026-11-03 09:00")
    assert item(incident2, "review").state == "done"


# --- the incident page's panel ----------------------------------------------------------------


def test_the_incident_page_shows_the_checklist_of_a_resolved_incident(client, viewer_user):
    incident = b.incident_at(code="P1", impact_started="2026-11-02 09:00")
    client.force_login(viewer_user)
    page = client.get(reverse("incidents:detail", kwargs={"pk": incident.pk}))
    html = page.content.decode()
    assert page.status_code == 200
    assert "After the incident" in html
    assert 'id="checklist-alerting"' in html
    assert "3 items still missing" in html  # action items, alerting, review
    assert f"{reverse('postmortems:action_item_new')}?incident={incident.pk}" in html


def test_the_incident_page_has_no_checklist_while_the_incident_is_open(client, viewer_user):
    incident = b.incident_at(resolved=None)
    client.force_login(viewer_user)
    page = client.get(reverse("incidents:detail", kwargs={"pk": incident.pk}))
    assert page.status_code == 200
    assert "After the incident" not in page.content.decode()


# --- the dashboard's counts --------------------------------------------------------------------


@pytest.fixture
def month_of_incidents(alice, payments):
    """Incidents resolved in November 2026 (and two outside it) with known checklist states."""
    team = payments.team
    # A: P1, everything done.
    a = b.incident_at(
        code="P1",
        team=team,
        services=(payments,),
        impact_started="2026-11-02 09:00",
        detected="2026-11-02 10:00",
        resolved="2026-11-02 11:00",
    )
    b.action_item(a, "Alert on 503 rate", owner=alice, due_date=date(2026, 12, 1))
    b.flag(a, b.runbook(), resolved="2026-11-03 09:00")
    b.postmortem(a, scheduled="2026-11-03 09:00")
    # B: P1, review scheduled late, open runbook flag, slow detection without alerting item,
    # an item without owner.
    b_ = b.incident_at(
        code="P1",
        team=team,
        impact_started="2026-11-10 09:00",
        detected="2026-11-10 10:00",
        resolved="2026-11-10 12:00",
        status=IncidentStatus.CLOSED,
    )
    b.action_item(b_, "Add canary")
    b.flag(b_, b.runbook())
    b.postmortem(b_, scheduled="2026-11-12 09:00")
    # C: P3, fast, nothing to do but the action items (none: missing).
    c = b.incident_at(code="P3", detected="2026-11-20 10:00", resolved="2026-11-20 10:30")
    # D: P2 with review scheduled days later (no 24 h rule), items tracked by tracker link.
    d = b.incident_at(
        code="P2", team=team, detected="2026-11-25 10:00", resolved="2026-11-28 10:00"
    )
    b.action_item(d, "Fix probe", owner=alice, tracker_url="https://linear.app/x/ISS-2")
    b.postmortem(d, scheduled="2026-12-01 10:00")
    # Outside: resolved in October; still open.
    b.incident_at(code="P1", detected="2026-10-30 10:00", resolved="2026-10-31 10:00")
    b.incident_at(code="P1", detected="2026-11-29 10:00", resolved=None)
    return [a, b_, c, d]


def test_the_summary_counts_done_and_missing_per_item(month_of_incidents):
    summary = checklist_summary(window=b.window("2026-11-01", "2026-12-01"))
    assert summary == {
        "action_items": (2, 2),  # A, D done; B (no owner), C (none) missing
        "runbook": (1, 1),  # A done; B missing; C, D not needed
        "alerting": (1, 1),  # A done; B missing; C, D fast
        "review": (2, 1),  # A, D done; B late; C not needed
    }


def test_the_summary_agrees_with_each_incidents_checklist(month_of_incidents):
    expected = {}
    for incident in month_of_incidents:
        for entry in incident_checklist(incident=incident):
            done, missing = expected.get(entry.key, (0, 0))
            expected[entry.key] = (
                done + (entry.state == "done"),
                missing + (entry.state == "missing"),
            )
    assert checklist_summary(window=b.window("2026-11-01", "2026-12-01")) == expected


def test_the_incidents_behind_each_count_are_the_ones_counted(month_of_incidents):
    a, b_, c, d = month_of_incidents
    window = b.window("2026-11-01", "2026-12-01")

    def listed(key, state):
        return set(checklist_incidents(window=window, key=key, state=state))

    assert listed("action_items", "missing") == {b_, c}
    assert listed("runbook", "done") == {a}
    assert listed("alerting", "missing") == {b_}
    assert listed("review", "done") == {a, d}
    for key, (done, missing) in checklist_summary(window=window).items():
        assert (len(listed(key, "done")), len(listed(key, "missing"))) == (done, missing)
    with pytest.raises(ValueError):
        checklist_incidents(window=window, key="review", state="not_needed")


def test_the_summary_follows_the_windows_filters(month_of_incidents, payments):
    by_team = checklist_summary(window=b.window("2026-11-01", "2026-12-01", team=payments.team))
    assert by_team["action_items"] == (2, 1)  # A, D; B
    by_service = checklist_summary(window=b.window("2026-11-01", "2026-12-01", service=payments))
    assert by_service == {
        "action_items": (1, 0),
        "runbook": (1, 0),
        "alerting": (1, 0),
        "review": (1, 0),
    }
    by_severity = checklist_summary(window=b.window("2026-11-01", "2026-12-01", severity="P2"))
    assert by_severity["review"] == (1, 0)
    edge = checklist_summary(window=b.window("2026-11-02 11:00", "2026-11-10 12:00"))
    assert edge["action_items"] == (1, 0)  # A resolved at the start; B at the (open) end


def test_the_summary_takes_a_fixed_number_of_queries(django_assert_num_queries, alice):
    for day in range(1, 4):
        incident = b.incident_at(code="P1", detected=f"2026-11-0{day} 10:00", resolved=None)
        incident.status, incident.resolved_at = (
            IncidentStatus.RESOLVED,
            b.at(f"2026-11-0{day} 11:00"),
        )
        incident.save()
        b.action_item(incident, "Alert earlier", owner=alice)
    with django_assert_num_queries(4):  # incidents, action items, flags, postmortems
        checklist_summary(window=b.window("2026-11-01", "2026-12-01"))


def test_declared_incidents_get_the_checklist_too(alice):
    incident = factories.declared(alice, "P4")
    assert incident_checklist(incident=incident) == []
    incident.status, incident.resolved_at = IncidentStatus.RESOLVED, incident.detected_at
    incident.save()
    assert incident.source == Source.WEB
    assert [entry.state for entry in incident_checklist(incident=incident)] == [
        "missing",
        "not_needed",
        "not_needed",
        "not_needed",
    ]
