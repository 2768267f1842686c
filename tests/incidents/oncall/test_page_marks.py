"""The paged person (or the IC) says whether a page was actionable, for the toil review."""

import pytest
from django.urls import reverse

from incidents.oncall.models import Page
from incidents.oncall.paging import incident_engage, page_mark
from portal.errors import InvalidInputError, PermissionDeniedError
from tests import factories


@pytest.fixture
def page(paging_team, people, clock):
    incident = factories.triggered("P2", team=paging_team)
    incident_engage(incident_id=incident.pk)
    clock.sweep()
    return Page.objects.get(incident=incident, kind="escalation")


def test_the_paged_person_marks_a_false_alarm_from_the_incident_page(client, page, people):
    client.force_login(people.oncall)
    url = reverse("oncall:page_mark", kwargs={"pk": page.pk})

    incident_page = client.get(reverse("incidents:detail", kwargs={"pk": page.incident_id}))
    assert url in incident_page.content.decode()
    response = client.post(url, {"actionable": "no", "needed_manual_action": ""}, follow=True)

    assert "marked for the on-call health review" in response.content.decode()
    page.refresh_from_db()
    assert (page.actionable, page.needed_manual_action) == (False, None)


def test_someone_else_may_not_mark_it(client, page, people, bob):
    from incidents.services import incident_role_assign

    # With an IC in place, other responders are neither the paged person nor the IC.
    incident_role_assign(incident=page.incident, actor=people.oncall, role="commander")
    client.force_login(bob)
    response = client.post(
        reverse("oncall:page_mark", kwargs={"pk": page.pk}), {"actionable": "yes"}
    )
    assert response.status_code == 403
    page.refresh_from_db()
    assert page.actionable is None


def test_the_ic_may_mark_it_and_answers_must_agree(page, people, alice):
    from incidents.services import incident_role_assign

    incident_role_assign(incident=page.incident, actor=people.oncall, role="commander")
    page_mark(page=page, actor=people.oncall, actionable=True, needed_manual_action=True)
    with pytest.raises(InvalidInputError):
        page_mark(page=page, actor=people.oncall, actionable=False, needed_manual_action=True)
    with pytest.raises(PermissionDeniedError):
        page_mark(page=page, actor=alice, actionable=None, needed_manual_action=None)
    page.refresh_from_db()
    assert (page.actionable, page.needed_manual_action) == (True, True)
