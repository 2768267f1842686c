"""The permission matrix through the REST API: the same table, the real interface.

Each cell sends one request for one action as one kind of user, on an incident in a state where
the action is legal, and checks that the API allows it (2xx) or refuses it (401/403) — and that a
refused request changed nothing.
"""

import pytest
from rest_framework.test import APIClient

from incidents.models import Incident
from incidents.services import (
    incident_mitigate,
    incident_resolve,
    incident_role_release,
)
from tests import factories
from tests.incidents.test_policies import (
    ANON,
    COLUMNS,
    IC,
    MANAGER,
    OUTSIDER,
    RESPONDER,
    RESPONDER_NO_IC,
    STAFF,
    VIEWER,
)


def incident_for(action: str, ic):
    """Return an incident in which `action` is legal, with `ic` as its commander."""
    if action == "acknowledge":
        incident = factories.triggered("P3")
        from incidents.services import incident_role_assign

        incident_role_assign(incident=incident, actor=ic, role="commander")
        return incident
    incident = factories.declared(ic, "P3")
    if action in ("reopen", "close"):
        incident = incident_resolve(incident=incident, actor=ic)
    if action == "investigate":
        incident = incident_mitigate(incident=incident, actor=ic)
    return incident


REQUESTS = {
    "read": ("get", "/api/v1/incidents/{id}/", None),
    "declare": ("post", "/api/v1/incidents/", {"title": "Checkout slow", "severity": "P3"}),
    "acknowledge": ("post", "/api/v1/incidents/{id}/acknowledge/", {}),
    "investigate": ("post", "/api/v1/incidents/{id}/investigate/", {"reason": "Came back"}),
    "note": ("post", "/api/v1/incidents/{id}/timeline/", {"body": "Checked dashboards"}),
    "status_update": (
        "post",
        "/api/v1/incidents/{id}/updates/",
        {
            "status": "INVESTIGATING",
            "impact": "Slow checkout",
            "last_action": "Looked at p99",
            "next_action": "Roll back",
            "eta": "unknown",
        },
    ),
    "take_role": ("post", "/api/v1/incidents/{id}/roles/", {"role": "scribe"}),
    "assign_role": ("post", "/api/v1/incidents/{id}/roles/", {"role": "scribe", "user": "carol"}),
    "change_severity": ("post", "/api/v1/incidents/{id}/severity/", {"severity": "P2"}),
    "edit_details": ("patch", "/api/v1/incidents/{id}/", {"impact": "Checkout fails"}),
    "mitigate": ("post", "/api/v1/incidents/{id}/mitigate/", {}),
    "resolve": ("post", "/api/v1/incidents/{id}/resolve/", {}),
    "reopen": ("post", "/api/v1/incidents/{id}/reopen/", {"reason": "Errors again"}),
    "close": ("post", "/api/v1/incidents/{id}/close/", {}),
}

#                        anon  out  view  resp  noIC  IC   mgr  staff
EXPECTED = {
    "read": "            .     .    ✓     ✓     ✓     ✓    ✓    ✓",
    "declare": "         .     .    .     ✓     ✓     ✓    .    ✓",
    "acknowledge": "     .     .    .     ✓     ✓     ✓    .    ✓",
    "investigate": "     .     .    .     ✓     ✓     ✓    .    ✓",
    "note": "            .     .    .     ✓     ✓     ✓    .    ✓",
    "status_update": "   .     .    .     ✓     ✓     ✓    .    ✓",
    "take_role": "       .     .    .     ✓     ✓     ✓    .    ✓",
    "assign_role": "     .     .    .     .     ✓     ✓    .    ✓",
    "change_severity": " .     .    .     .     ✓     ✓    .    ✓",
    "edit_details": "    .     .    .     .     ✓     ✓    .    ✓",
    "mitigate": "        .     .    .     .     ✓     ✓    .    ✓",
    "resolve": "         .     .    .     .     ✓     ✓    .    ✓",
    "reopen": "          .     .    .     .     ✓     ✓    .    ✓",
    "close": "           .     .    .     .     ✓     ✓    ✓    ✓",
}


@pytest.mark.parametrize("column", COLUMNS)
@pytest.mark.parametrize("action", list(REQUESTS))
def test_api_permission_matrix(
    action, column, alice, bob, carol, viewer_user, manager_user, staff_user, outsider
):
    users = {
        ANON: None,
        OUTSIDER: outsider,
        VIEWER: viewer_user,
        RESPONDER: bob,
        RESPONDER_NO_IC: bob,
        IC: alice,
        MANAGER: manager_user,
        STAFF: staff_user,
    }
    incident = incident_for(action, alice)
    if column == RESPONDER_NO_IC:
        incident_role_release(incident=incident, actor=alice, role="commander")
    before = (Incident.objects.count(), incident.timeline.count())

    client = APIClient()
    if users[column] is not None:
        client.force_authenticate(users[column])
    method, url, body = REQUESTS[action]
    response = getattr(client, method)(url.format(id=incident.pk), body, format="json")

    allowed = EXPECTED[action].split()[COLUMNS.index(column)] == "✓"
    if allowed:
        assert response.status_code in (200, 201), response.content
    else:
        assert response.status_code == (401 if column == ANON else 403), response.content
        assert (Incident.objects.count(), incident.timeline.count()) == before
