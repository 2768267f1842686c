from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from incidents.models import (
    Incident,
    IncidentRole,
    RoleAssignment,
    ServiceLink,
    StatusUpdate,
    TimelineEvent,
)
from incidents.services import incident_resolve, incident_role_release
from tests import factories

pytestmark = pytest.mark.django_db

INCIDENTS = "/api/v1/incidents/"


def url(incident: Incident, verb: str = "") -> str:
    return f"{INCIDENTS}{incident.pk}/" + (f"{verb}/" if verb else "")


def events(incident: Incident) -> list[str]:
    return list(incident.timeline.order_by("occurred_at", "id").values_list("kind", flat=True))


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def as_user(api):
    def login(user):
        api.force_login(user)
        return api

    return login


@pytest.fixture
def incident(alice, payments):
    """A P1 declared by alice, who is its Incident Commander."""
    return factories.declared(alice, "P1", services=[payments])


# --- Declare --------------------------------------------------------------------------------------


def test_declare_creates_an_investigating_incident_with_the_declarer_as_commander(
    as_user, alice, payments
):
    response = as_user(alice).post(
        INCIDENTS,
        {
            "title": "Payments service returning 503",
            "severity": "P1",
            "services": ["payments-api"],
            "impact": "Checkout fails for everyone",
            "users_affected_pct": 100,
            "regions": ["eu-west-1", "us-east-1"],
            "bridge_url": "https://meet.example.com/inc",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["reference"] == f"INC-{body['id']}"
    assert body["status"] == "investigating"
    assert body["severity"] == body["peak_severity"] == "P1"
    assert body["team"] == "payments"
    assert body["services"] == ["payments-api"]
    assert body["regions"] == ["eu-west-1", "us-east-1"]
    assert body["source"] == "api"
    assert body["declared_by"] == "alice"
    assert body["commander"] == "alice"
    assert body["roles"] == {
        "commander": "alice",
        "investigator": None,
        "communicator": None,
        "scribe": None,
    }
    assert body["needs_commander"] is False
    assert body["time_to_acknowledge"] == 0
    assert body["time_to_resolve"] is None
    assert body["next_update_due"] is not None
    assert body["update_overdue"] is False
    assert response["Location"] == body["url"]
    assert body["url"].endswith(f"{INCIDENTS}{body['id']}/")
    incident = Incident.objects.get(pk=body["id"])
    assert set(incident.timeline.values_list("source", flat=True)) == {"api"}


def test_declare_can_name_another_commander_and_an_earlier_impact_start(as_user, alice, bob):
    started = timezone.now() - timedelta(minutes=20)
    response = as_user(alice).post(
        INCIDENTS,
        {
            "title": "Queue backlog",
            "severity": "P2",
            "commander": "bob",
            "impact_started_at": started.isoformat(),
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["commander"] == "bob"
    assert body["declared_by"] == "alice"
    assert 20 * 60 - 5 <= body["time_to_detect"] <= 20 * 60 + 5


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"severity": "P1"}, "title"),
        ({"title": "Down", "severity": "P9"}, "severity"),
        ({"title": "Down"}, "severity"),
        ({"title": "Down", "severity": "P1", "services": ["nope"]}, "services"),
        ({"title": "Down", "severity": "P1", "commander": "nobody"}, "commander"),
        ({"title": "Down", "severity": "P1", "users_affected_pct": 140}, "users_affected_pct"),
        ({"title": "Down", "severity": "P1", "bridge_url": "not a url"}, "bridge_url"),
    ],
)
def test_declare_with_bad_input_answers_400_naming_the_field(as_user, alice, payload, field):
    response = as_user(alice).post(INCIDENTS, payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Incident.objects.exists()


def test_declare_naming_a_non_responder_commander_answers_400(as_user, alice, viewer_user):
    response = as_user(alice).post(
        INCIDENTS, {"title": "Down", "severity": "P1", "commander": "vera"}, format="json"
    )

    assert response.status_code == 400
    assert "not a responder" in response.json()["commander"][0]
    assert not Incident.objects.exists()


def test_declare_with_impact_starting_in_the_future_answers_400(as_user, alice):
    later = timezone.now() + timedelta(hours=1)
    response = as_user(alice).post(
        INCIDENTS,
        {"title": "Down", "severity": "P1", "impact_started_at": later.isoformat()},
        format="json",
    )

    assert response.status_code == 400
    assert "impact_started_at" in response.json()


def test_a_viewer_may_not_declare(as_user, viewer_user):
    response = as_user(viewer_user).post(
        INCIDENTS, {"title": "Down", "severity": "P1"}, format="json"
    )

    assert response.status_code == 403
    assert "responders" in response.json()["detail"]
    assert not Incident.objects.exists()


# --- Authentication and reading ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", INCIDENTS),
        ("post", INCIDENTS),
        ("get", f"{INCIDENTS}1/"),
        ("post", f"{INCIDENTS}1/acknowledge/"),
        ("get", "/api/v1/teams/"),
        ("get", "/api/v1/services/"),
        ("get", "/api/v1/severities/"),
    ],
)
def test_anonymous_requests_answer_401(api, method, path):
    response = getattr(api, method)(path)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


def test_a_bad_token_answers_401(api):
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")

    assert api.get(INCIDENTS).status_code == 401


def test_token_authentication_reads_and_writes_as_the_token_owner(api, alice):
    token = Token.objects.create(user=alice)
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    created = api.post(INCIDENTS, {"title": "Down", "severity": "P2"}, format="json")
    listed = api.get(INCIDENTS)

    assert created.status_code == 201
    assert created.json()["declared_by"] == "alice"
    assert listed.status_code == 200
    assert [row["id"] for row in listed.json()["results"]] == [created.json()["id"]]


def test_a_user_in_no_group_may_not_read(as_user, outsider, incident):
    client = as_user(outsider)

    assert client.get(INCIDENTS).status_code == 403
    assert client.get(url(incident)).status_code == 403
    assert client.get("/api/v1/severities/").status_code == 403


def test_a_viewer_reads_incidents_timeline_roles_and_updates(as_user, viewer_user, incident):
    client = as_user(viewer_user)

    for path in (INCIDENTS, url(incident), *(url(incident, v) for v in ("timeline", "roles"))):
        assert client.get(path).status_code == 200, path
    assert client.get(url(incident, "updates")).json() == []


def test_retrieve_shows_the_incident(as_user, viewer_user, incident):
    response = as_user(viewer_user).get(url(incident))

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == incident.pk
    assert body["title"] == "Payments service returning 503"
    assert body["commander"] == "alice"


@pytest.mark.parametrize("path", [f"{INCIDENTS}999999/", f"{INCIDENTS}abc/"])
def test_an_unknown_incident_answers_404(as_user, alice, path):
    client = as_user(alice)

    assert client.get(path).status_code == 404
    assert client.post(path + "acknowledge/").status_code == 404
    assert client.get(path + "timeline/").status_code == 404


# --- List and filters ----------------------------------------------------------------------------


@pytest.fixture
def several(alice, payments):
    search = factories.ServiceFactory(slug="search", team=factories.TeamFactory(slug="discovery"))
    p1 = factories.declared(alice, "P1", title="Checkout down", services=[payments])
    p3 = factories.declared(alice, "P3", title="Search slow", services=[search])
    alert = factories.triggered("P2", title="HighErrorRate", services=[payments])
    old = factories.declared(alice, "P4", title="Old typo", services=[search])
    incident_resolve(incident=old, actor=alice)
    return {"p1": p1, "p3": p3, "alert": alert, "old": old}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"p1", "p3", "alert", "old"}),
        ("?status=triggered", {"alert"}),
        ("?status=investigating", {"p1", "p3"}),
        ("?severity=P3", {"p3"}),
        ("?team=payments", {"p1", "alert"}),
        ("?service=search", {"p3", "old"}),
        ("?open=true", {"p1", "p3", "alert"}),
        ("?open=true&service=search", {"p3"}),
    ],
)
def test_list_filters(as_user, viewer_user, several, query, expected):
    response = as_user(viewer_user).get(INCIDENTS + query)

    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    assert ids == {several[name].pk for name in expected}


@pytest.mark.parametrize(
    ("query", "field"),
    [("?status=broken", "status"), ("?severity=P9", "severity"), ("?team=nope", "team")],
)
def test_list_with_an_unknown_filter_value_answers_400(as_user, viewer_user, query, field):
    response = as_user(viewer_user).get(INCIDENTS + query)

    assert response.status_code == 400
    assert field in response.json()


def test_list_is_paginated_newest_first(as_user, viewer_user, several):
    response = as_user(viewer_user).get(INCIDENTS + "?limit=2")

    body = response.json()
    assert body["count"] == 4
    assert len(body["results"]) == 2
    assert body["results"][0]["id"] == several["old"].pk


def test_list_reads_a_page_in_a_fixed_number_of_queries(
    as_user, alice, bob, payments, django_assert_max_num_queries
):
    for number in range(12):
        incident = factories.declared(alice, "P2", title=f"Incident {number}", services=[payments])
        factories.triggered("P3", title=f"Alert {number}", services=[payments])
        RoleAssignment.objects.create(
            incident=incident, role="scribe", user=bob, started_at=timezone.now()
        )
    client = as_user(alice)

    # session, user, profile, groups, count, incidents, services, commanders, role holders
    with django_assert_max_num_queries(9):
        response = client.get(INCIDENTS)

    rows = response.json()["results"]
    assert len(rows) == 24
    assert {row["roles"]["scribe"] for row in rows} == {"bob", None}
    assert {row["commander"] for row in rows} == {"alice", None}
    assert {row["declared_by"] for row in rows} == {"alice", None}


# --- Editing details -----------------------------------------------------------------------------


def test_the_commander_edits_details(as_user, alice, incident):
    response = as_user(alice).patch(
        url(incident),
        {"title": "Payments 503 in eu-west-1", "regions": ["eu-west-1"], "users_affected_pct": 40},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["title"] == "Payments 503 in eu-west-1"
    assert body["regions"] == ["eu-west-1"]
    assert body["users_affected_pct"] == 40
    assert events(incident)[-1] == TimelineEvent.Kind.DETAILS_CHANGED


def test_editing_a_field_that_has_its_own_endpoint_answers_400(as_user, alice, incident):
    response = as_user(alice).patch(url(incident), {"severity": "P3"}, format="json")

    assert response.status_code == 400
    assert "severity" in response.json()
    incident.refresh_from_db()
    assert incident.severity.code == "P1"


def test_editing_impact_start_after_detection_answers_400(as_user, alice, incident):
    later = incident.detected_at + timedelta(minutes=5)

    response = as_user(alice).patch(
        url(incident), {"impact_started_at": later.isoformat()}, format="json"
    )

    assert response.status_code == 400
    assert "impact_started_at" in response.json()


def test_only_the_commander_edits_details(as_user, bob, incident):
    response = as_user(bob).patch(url(incident), {"title": "Mine now"}, format="json")

    assert response.status_code == 403
    incident.refresh_from_db()
    assert incident.title == "Payments service returning 503"


# --- Transitions ---------------------------------------------------------------------------------


def test_acknowledge_a_triggered_incident(as_user, bob):
    alert = factories.triggered("P2")

    response = as_user(bob).post(url(alert, "acknowledge"))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "acknowledged"
    assert body["acknowledged_at"] is not None
    assert body["time_to_acknowledge"] >= 0
    event = alert.timeline.get(kind=TimelineEvent.Kind.ACKNOWLEDGED)
    assert (event.actor, event.source) == (bob, "api")


def test_acknowledging_again_is_a_no_op(as_user, bob, carol):
    alert = factories.triggered("P2")
    as_user(bob).post(url(alert, "acknowledge"))
    before = events(alert)

    response = as_user(carol).post(url(alert, "acknowledge"))

    assert response.status_code == 200
    assert response.json()["status"] == "acknowledged"
    assert events(alert) == before


def test_start_investigating_a_triggered_incident(as_user, bob):
    alert = factories.triggered("P2")

    response = as_user(bob).post(url(alert, "investigate"), {}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "investigating"
    # Past acknowledged without an Incident Commander: flagged.
    assert response.json()["needs_commander"] is True


def test_mitigate_then_resume_investigating_with_a_reason(as_user, alice, incident):
    client = as_user(alice)

    mitigated = client.post(url(incident, "mitigate"), {"message": "Rolled back"}, format="json")
    no_reason = client.post(url(incident, "investigate"), {}, format="json")
    resumed = client.post(
        url(incident, "investigate"), {"reason": "Errors are back"}, format="json"
    )

    assert mitigated.status_code == 200
    assert mitigated.json()["status"] == "mitigated"
    assert mitigated.json()["mitigated_at"] is not None
    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()
    assert resumed.status_code == 200
    assert resumed.json()["status"] == "investigating"
    messages = list(incident.timeline.values_list("message", flat=True))
    assert "Rolled back" in messages
    assert "Errors are back" in messages


def test_mitigating_again_is_a_no_op(as_user, alice, incident):
    client = as_user(alice)
    client.post(url(incident, "mitigate"), {}, format="json")
    before = events(incident)

    response = client.post(url(incident, "mitigate"), {}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "mitigated"
    assert events(incident) == before


def test_resolve_reopen_and_resolve_again(as_user, alice, incident):
    client = as_user(alice)

    resolved = client.post(url(incident, "resolve"), {"message": "Fixed"}, format="json")
    no_reason = client.post(url(incident, "reopen"), {}, format="json")
    reopened = client.post(url(incident, "reopen"), {"reason": "It came back"}, format="json")

    assert resolved.status_code == 200
    assert resolved.json()["status"] == "resolved"
    assert resolved.json()["time_to_resolve"] is not None
    assert resolved.json()["next_update_due"] is None
    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()
    assert reopened.status_code == 200
    assert reopened.json()["status"] == "investigating"
    assert reopened.json()["resolved_at"] is None
    assert events(incident)[-2:] == [TimelineEvent.Kind.RESOLVED, TimelineEvent.Kind.REOPENED]


def test_close_a_resolved_incident_without_a_required_postmortem(as_user, alice):
    incident = factories.declared(alice, "P3")
    client = as_user(alice)
    client.post(url(incident, "resolve"), {}, format="json")

    response = client.post(url(incident, "close"))

    assert response.status_code == 200
    assert response.json()["status"] == "closed"
    assert response.json()["closed_at"] is not None


def test_closing_a_p1_with_its_postmortem_outstanding_answers_409(as_user, alice, incident):
    incident_resolve(incident=incident, actor=alice)

    response = as_user(alice).post(url(incident, "close"))

    assert response.status_code == 409
    assert "postmortem" in response.json()["detail"]


def test_change_severity_keeps_the_peak(as_user, alice):
    incident = factories.declared(alice, "P3")
    client = as_user(alice)

    raised = client.post(
        url(incident, "severity"), {"severity": "P1", "reason": "All regions"}, format="json"
    )
    lowered = client.post(url(incident, "severity"), {"severity": "P2"}, format="json")

    assert raised.status_code == 200
    assert (raised.json()["severity"], raised.json()["peak_severity"]) == ("P1", "P1")
    assert (lowered.json()["severity"], lowered.json()["peak_severity"]) == ("P2", "P1")
    changes = incident.timeline.filter(kind=TimelineEvent.Kind.SEVERITY_CHANGED)
    assert list(changes.values_list("from_value", "to_value")) == [("P3", "P1"), ("P1", "P2")]


def test_change_to_an_unknown_severity_answers_400(as_user, alice, incident):
    response = as_user(alice).post(url(incident, "severity"), {"severity": "P0"}, format="json")

    assert response.status_code == 400
    assert "severity" in response.json()


@pytest.mark.parametrize(
    ("make", "verb"),
    [
        ("declared", "acknowledge"),  # investigating can't go back to acknowledged
        ("declared", "close"),  # open incidents are resolved before they close
        ("triggered", "mitigate"),  # nobody is working a triggered incident yet
        ("triggered", "reopen"),  # only resolved incidents reopen
    ],
)
def test_a_disallowed_transition_answers_409_and_changes_nothing(as_user, alice, make, verb):
    incident = factories.declared(alice, "P3") if make == "declared" else factories.triggered("P3")
    status, before = incident.status, events(incident)

    response = as_user(alice).post(url(incident, verb), {"reason": "x"}, format="json")

    assert response.status_code == 409
    assert response.json()["detail"]
    incident.refresh_from_db()
    assert incident.status == status
    assert events(incident) == before


@pytest.mark.parametrize("verb", ["mitigate", "resolve", "close"])
def test_a_responder_who_is_not_the_commander_may_not_run_commander_transitions(
    as_user, bob, incident, verb
):
    before = events(incident)

    response = as_user(bob).post(url(incident, verb), {}, format="json")

    assert response.status_code == 403
    assert "Incident Commander" in response.json()["detail"]
    incident.refresh_from_db()
    assert incident.status == "investigating"
    assert events(incident) == before


def test_any_responder_mitigates_while_there_is_no_commander(as_user, alice, bob, incident):
    incident_role_release(incident=incident, actor=alice, role=IncidentRole.COMMANDER)

    response = as_user(bob).post(url(incident, "mitigate"), {}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "mitigated"


# --- Roles ---------------------------------------------------------------------------------------


def test_roles_lists_current_holders(as_user, viewer_user, incident):
    response = as_user(viewer_user).get(url(incident, "roles"))

    assert response.status_code == 200
    [holder] = response.json()
    assert (holder["role"], holder["user"], holder["assigned_by"]) == (
        "commander",
        "alice",
        "alice",
    )


def test_a_responder_takes_a_free_role_for_themselves(as_user, bob, incident):
    response = as_user(bob).post(url(incident, "roles"), {"role": "scribe"}, format="json")

    assert response.status_code == 200
    assert response.json()["roles"]["scribe"] == "bob"
    assert events(incident)[-1] == TimelineEvent.Kind.ROLE_ASSIGNED


def test_the_commander_assigns_and_hands_over_roles(as_user, alice, bob, carol, incident):
    client = as_user(alice)

    assigned = client.post(
        url(incident, "roles"), {"role": "investigator", "user": "carol"}, format="json"
    )
    handed_over = client.post(
        url(incident, "roles"), {"role": "commander", "user": "bob"}, format="json"
    )

    assert assigned.status_code == 200
    assert assigned.json()["roles"]["investigator"] == "carol"
    assert handed_over.status_code == 200
    assert handed_over.json()["commander"] == "bob"
    roles = as_user(alice).get(url(incident, "roles")).json()
    assert [(r["role"], r["user"]) for r in roles] == [
        ("commander", "bob"),
        ("investigator", "carol"),
    ]


def test_taking_a_held_role_answers_409(as_user, bob, incident):
    response = as_user(bob).post(url(incident, "roles"), {"role": "commander"}, format="json")

    assert response.status_code == 409
    assert "hand it over" in response.json()["detail"]


def test_assigning_a_role_to_someone_else_needs_the_commander(as_user, bob, carol, incident):
    response = as_user(bob).post(
        url(incident, "roles"), {"role": "scribe", "user": "carol"}, format="json"
    )

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"role": "chef"}, "role"), ({"role": "scribe", "user": "nobody"}, "user"), ({}, "role")],
)
def test_bad_role_input_answers_400(as_user, alice, incident, payload, field):
    response = as_user(alice).post(url(incident, "roles"), payload, format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_leaving_a_role(as_user, bob, incident):
    client = as_user(bob)
    client.post(url(incident, "roles"), {"role": "scribe"}, format="json")

    response = client.delete(url(incident, "roles/scribe"))

    assert response.status_code == 200
    assert response.json()["roles"]["scribe"] is None
    assert events(incident)[-1] == TimelineEvent.Kind.ROLE_RELEASED


def test_releasing_the_commander_flags_the_incident(as_user, alice, incident):
    response = as_user(alice).delete(url(incident, "roles/commander"))

    assert response.status_code == 200
    assert response.json()["commander"] is None
    assert response.json()["needs_commander"] is True


def test_releasing_an_unknown_role_answers_400(as_user, alice, incident):
    response = as_user(alice).delete(url(incident, "roles/chef"))

    assert response.status_code == 400
    assert "role" in response.json()


# --- Timeline ------------------------------------------------------------------------------------


def test_timeline_lists_events_in_event_time_order(as_user, viewer_user, incident):
    response = as_user(viewer_user).get(url(incident, "timeline"))

    assert response.status_code == 200
    rows = response.json()
    assert [row["kind"] for row in rows] == ["declared", "role_assigned"]
    assert rows[0]["actor"] == "alice"


def test_a_scribe_note_is_dated_within_the_incident(as_user, bob, incident):
    earlier = incident.detected_at - timedelta(seconds=1)
    incident.impact_started_at = earlier - timedelta(minutes=10)
    incident.save()

    response = as_user(bob).post(
        url(incident, "timeline"),
        {"body": "Deploy 4512 went out", "occurred_at": earlier.isoformat()},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["source"], body["actor"]) == ("note", "api", "bob")
    timeline = as_user(bob).get(url(incident, "timeline")).json()
    assert timeline[0]["message"] == "Deploy 4512 went out"


def test_a_note_dated_before_impact_started_answers_400(as_user, bob, incident):
    too_early = incident.impact_started_at - timedelta(minutes=1)

    response = as_user(bob).post(
        url(incident, "timeline"),
        {"body": "Too early", "occurred_at": too_early.isoformat()},
        format="json",
    )

    assert response.status_code == 400
    assert "impact started" in response.json()["occurred_at"][0]
    assert not incident.timeline.filter(kind=TimelineEvent.Kind.NOTE).exists()


def test_a_correction_points_at_the_corrected_event(as_user, bob, incident):
    client = as_user(bob)
    note = client.post(url(incident, "timeline"), {"body": "Rollback at 10:02"}, format="json")

    correction = client.post(
        url(incident, "timeline"),
        {"body": "Rollback was at 10:04", "corrects": note.json()["id"]},
        format="json",
    )
    unknown = client.post(
        url(incident, "timeline"), {"body": "?", "corrects": 999999}, format="json"
    )

    assert correction.status_code == 201
    assert correction.json()["corrects"] == note.json()["id"]
    assert unknown.status_code == 400
    assert "corrects" in unknown.json()


def test_a_viewer_may_not_add_notes(as_user, viewer_user, incident):
    response = as_user(viewer_user).post(url(incident, "timeline"), {"body": "Hi"}, format="json")

    assert response.status_code == 403


# --- Status updates ------------------------------------------------------------------------------

UPDATE = {
    "status": "INVESTIGATING",
    "impact": "Checkout fails for all users",
    "last_action": "Paged the payments on-call",
    "next_action": "Roll back deploy 4512",
    "eta": "30 min",
}


def test_post_and_list_status_updates(as_user, bob, incident):
    client = as_user(bob)

    response = client.post(url(incident, "updates"), UPDATE, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["author"], body["source"]) == ("INVESTIGATING", "bob", "api")
    assert body["text"].startswith("Status: INVESTIGATING\nImpact: Checkout fails")
    listed = client.get(url(incident, "updates")).json()
    assert [row["id"] for row in listed] == [body["id"]]
    detail = client.get(url(incident)).json()
    posted = StatusUpdate.objects.get().posted_at
    assert detail["next_update_due"].startswith(
        (posted + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M")
    )


def test_a_status_update_with_a_bad_status_answers_400(as_user, bob, incident):
    response = as_user(bob).post(
        url(incident, "updates"), {**UPDATE, "status": "DONE"}, format="json"
    )

    assert response.status_code == 400
    assert "status" in response.json()
    assert not StatusUpdate.objects.exists()


def test_a_resolved_update_can_resolve_the_incident(as_user, alice, incident):
    payload = {**UPDATE, "status": "RESOLVED", "resolve": True}

    response = as_user(alice).post(url(incident, "updates"), payload, format="json")

    assert response.status_code == 201
    incident.refresh_from_db()
    assert incident.status == "resolved"


def test_a_resolving_update_by_a_non_commander_leaves_nothing_behind(as_user, bob, incident):
    before = events(incident)
    payload = {**UPDATE, "status": "RESOLVED", "resolve": True}

    response = as_user(bob).post(url(incident, "updates"), payload, format="json")

    assert response.status_code == 403
    assert not StatusUpdate.objects.exists()
    assert events(incident) == before
    incident.refresh_from_db()
    assert incident.status == "investigating"


# --- Catalog ------------------------------------------------------------------------------------


def test_teams_services_and_severities(as_user, viewer_user, alice, payments):
    payments.team.members.add(alice)
    ServiceLink.objects.create(
        service=payments, kind="dashboard", title="API p99 latency", url="https://grafana/d/p99"
    )
    client = as_user(viewer_user)

    teams = client.get("/api/v1/teams/").json()["results"]
    team = client.get("/api/v1/teams/payments/").json()
    service = client.get("/api/v1/services/payments-api/").json()
    severities = client.get("/api/v1/severities/").json()["results"]
    p1 = client.get("/api/v1/severities/P1/").json()

    assert [t["slug"] for t in teams] == ["payments"]
    assert team["members"] == ["alice"]
    assert service["team"] == "payments"
    assert service["links"] == [
        {"kind": "dashboard", "title": "API p99 latency", "url": "https://grafana/d/p99"}
    ]
    assert [s["code"] for s in severities] == ["P1", "P2", "P3", "P4"]
    assert (p1["ack_timeout"], p1["update_interval"]) == (300, 900)
    assert p1["postmortem_required"] is True
    assert client.get("/api/v1/severities/P9/").status_code == 404


def test_declare_and_resolve_over_http_with_a_token(live_server, live_db):
    """The API through a real WSGI server (stricter than the test client about headers)."""
    import json
    import urllib.request

    from rest_framework.authtoken.models import Token

    from tests import factories

    token = Token.objects.create(user=factories.responder("tina"))

    def call(method: str, path: str, body: dict | None = None):
        request = urllib.request.Request(  # noqa: S310 - the local live server
            live_server.url + path,
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"Token {token.key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local server
            return response.status, response.headers, json.loads(response.read())

    status, headers, created = call("POST", INCIDENTS, {"title": "Login errors", "severity": "P3"})
    assert status == 201
    assert headers["Location"] == created["url"]
    status, _, resolved = call("POST", f"{INCIDENTS}{created['id']}/resolve/", {})
    assert (status, resolved["status"]) == (200, "resolved")


def test_the_ic_pages_more_people_through_the_api(alice, bob):
    from incidents.oncall.models import Page

    incident = factories.declared(alice, "P1")
    client = APIClient()
    client.force_login(alice)
    other = APIClient()
    other.force_login(bob)

    response = client.post(f"{INCIDENTS}{incident.pk}/page/", {"users": ["bob"]}, format="json")

    assert response.status_code == 201, response.content
    assert [(p["recipient"], p["kind"]) for p in response.json()] == [("bob", Page.Kind.MANUAL)]
    assert Page.objects.filter(incident=incident, recipient=bob).exists()
    bad = client.post(f"{INCIDENTS}{incident.pk}/page/", {"users": ["nobody"]}, format="json")
    assert bad.status_code == 400 and "users" in bad.json()
    refused = other.post(f"{INCIDENTS}{incident.pk}/page/", {"users": ["alice"]}, format="json")
    assert refused.status_code == 403
