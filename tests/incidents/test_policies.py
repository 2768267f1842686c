"""docs/ARCHITECTURE.md's Permission matrix, row by row, enforced by the services themselves."""

import pytest
from django.contrib.auth.models import AnonymousUser

from incidents.policies import Action, can
from incidents.services import incident_role_release
from tests import factories

# Columns: who is asking, relative to an incident whose IC is "ic".
ANON, OUTSIDER, VIEWER, RESPONDER, RESPONDER_NO_IC, IC, MANAGER, STAFF = (
    "anonymous",
    "signed in, no group",
    "viewer",
    "responder",
    "responder, incident has no IC",
    "IC",
    "manager",
    "staff",
)
COLUMNS = [ANON, OUTSIDER, VIEWER, RESPONDER, RESPONDER_NO_IC, IC, MANAGER, STAFF]

# Rows: the matrix as docs/ARCHITECTURE.md (Permission matrix) writes it. ✓ = allowed.
MATRIX = {
    #                        anon  out  view  resp  noIC  IC   mgr  staff
    Action.READ: "           .     .    ✓     ✓     ✓     ✓    ✓    ✓",
    Action.DECLARE: "        .     .    .     ✓     ✓     ✓    .    ✓",
    Action.ACKNOWLEDGE: "    .     .    .     ✓     ✓     ✓    .    ✓",
    Action.START_INVESTIGATING: ".  .    .     ✓     ✓     ✓    .    ✓",
    Action.NOTE: "           .     .    .     ✓     ✓     ✓    .    ✓",
    Action.STATUS_UPDATE: "  .     .    .     ✓     ✓     ✓    .    ✓",
    Action.TAKE_ROLE: "      .     .    .     ✓     ✓     ✓    .    ✓",
    Action.ASSIGN_ROLE: "    .     .    .     .     ✓     ✓    .    ✓",
    Action.CHANGE_SEVERITY: ".     .    .     .     ✓     ✓    .    ✓",
    Action.EDIT_DETAILS: "   .     .    .     .     ✓     ✓    .    ✓",
    Action.MITIGATE: "       .     .    .     .     ✓     ✓    .    ✓",
    Action.RESOLVE: "        .     .    .     .     ✓     ✓    .    ✓",
    Action.REOPEN: "         .     .    .     .     ✓     ✓    .    ✓",
    # The lifecycle table: "resolved → closed: IC or manager".
    Action.CLOSE: "          .     .    .     .     ✓     ✓    ✓    ✓",
    # "publish a public update: IC, Communicator" — never any responder, even without an IC.
    Action.PUBLISH_PUBLIC_UPDATE: ". .    .     .     .     ✓    .    ✓",
    # "run diagnostics: responder, staff".
    Action.RUN_DIAGNOSTICS: "  .     .    .     ✓     ✓     ✓    .    ✓",
    # "run a mutating Kubernetes job: IC, Investigator, staff" — no stand-in without an IC.
    Action.RUN_MUTATING_JOB: " .     .    .     .     .     ✓    .    ✓",
}


@pytest.fixture
def people(db, alice, bob, viewer_user, manager_user, staff_user, outsider):
    with_ic = factories.declared(alice)  # alice is IC
    without_ic = factories.declared(alice)
    incident_role_release(incident=without_ic, actor=alice, role="commander")
    return {
        ANON: (AnonymousUser(), with_ic),
        OUTSIDER: (outsider, with_ic),
        VIEWER: (viewer_user, with_ic),
        RESPONDER: (bob, with_ic),
        RESPONDER_NO_IC: (bob, without_ic),
        IC: (alice, with_ic),
        MANAGER: (manager_user, with_ic),
        STAFF: (staff_user, with_ic),
    }


def test_every_action_is_in_the_matrix():
    assert set(MATRIX) == set(Action)


@pytest.mark.parametrize("action", list(MATRIX))
def test_permission_matrix(action, people):
    expected = MATRIX[action].split()
    actual = []
    for column in COLUMNS:
        user, incident = people[column]
        actual.append("✓" if can(user, action, incident) else ".")
    assert dict(zip(COLUMNS, actual, strict=True)) == dict(zip(COLUMNS, expected, strict=True))


def test_inactive_user_has_no_rights(people):
    user, incident = people[IC]
    user.is_active = False
    assert not any(can(user, action, incident) for action in Action)


def test_the_investigator_may_run_mutating_jobs_and_no_other_role_may(people, carol):
    from incidents.services import incident_role_assign

    alice, incident = people[IC]
    bob, _ = people[RESPONDER]
    incident_role_assign(incident=incident, actor=alice, role="investigator", user=bob)
    incident_role_assign(incident=incident, actor=alice, role="communicator", user=carol)
    assert can(bob, Action.RUN_MUTATING_JOB, incident)
    assert not can(carol, Action.RUN_MUTATING_JOB, incident)
