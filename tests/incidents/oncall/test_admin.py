"""The on-call back-office: staff and managers manage schedules; overrides pass the same checks."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.oncall.models import (
    CalendarFeedToken,
    ContactMethod,
    Override,
    Rotation,
    RotationParticipant,
    Schedule,
)

from .conftest import make_rotation

pytestmark = pytest.mark.django_db

MODELS = [Schedule, Rotation, Override, ContactMethod, CalendarFeedToken]


def changelist(model) -> str:
    return reverse(f"admin:oncall_{model._meta.model_name}_changelist")


@pytest.fixture
def records(schedule, alice, bob):
    make_rotation(schedule, [alice, bob], start_date=date(2026, 3, 2))
    now = timezone.now()
    Override.objects.create(schedule=schedule, user=bob, start=now, end=now + timedelta(hours=1))
    ContactMethod.objects.create(user=alice, kind="email", address="alice@example.com")
    CalendarFeedToken.objects.create(user=alice)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_staff_sees_every_changelist(client, staff_user, records, model):
    client.force_login(staff_user)
    response = client.get(changelist(model))
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_the_schedule_list_says_who_is_on_call_now(client, staff_user, records):
    client.force_login(staff_user)
    response = client.get(changelist(Schedule))
    assert '<td class="field-on_call_now">Bob</td>' in response.content.decode()


def test_calendar_tokens_are_never_shown(client, staff_user, records):
    client.force_login(staff_user)
    token = CalendarFeedToken.objects.get()
    page = client.get(reverse("admin:oncall_calendarfeedtoken_change", args=[token.pk]))
    assert page.status_code == 200
    assert token.token not in page.content.decode()


def test_a_manager_creates_a_schedule_with_a_rotation(client, manager_user, team, alice, bob):
    client.force_login(manager_user)
    response = client.post(
        reverse("admin:oncall_schedule_add"),
        {
            "name": "Checkout",
            "slug": "checkout",
            "team": team.pk,
            "time_zone": "Europe/Berlin",
            "description": "",
            "rotations-TOTAL_FORMS": "1",
            "rotations-INITIAL_FORMS": "0",
            "rotations-MIN_NUM_FORMS": "0",
            "rotations-MAX_NUM_FORMS": "1000",
            "rotations-0-name": "Primary",
            "rotations-0-priority": "0",
            "rotations-0-shift_length": "7 00:00:00",
            "rotations-0-handoff_time": "09:00",
            "rotations-0-start_date": "2026-03-02",
            "rotations-0-restrict_weekdays": "[]",
        },
    )
    assert response.status_code == 302, response.context["adminform"].errors
    rotation = Rotation.objects.get(schedule__slug="checkout")
    assert rotation.shift_length == timedelta(days=7)

    response = client.post(
        reverse("admin:oncall_rotation_change", args=[rotation.pk]),
        {
            "schedule": rotation.schedule.pk,
            "name": "Primary",
            "priority": "0",
            "shift_length": "7 00:00:00",
            "handoff_time": "09:00",
            "start_date": "2026-03-02",
            "restrict_weekdays": "[]",
            "participant_entries-TOTAL_FORMS": "2",
            "participant_entries-INITIAL_FORMS": "0",
            "participant_entries-MIN_NUM_FORMS": "0",
            "participant_entries-MAX_NUM_FORMS": "1000",
            "participant_entries-0-position": "1",
            "participant_entries-0-user": bob.pk,
            "participant_entries-1-position": "0",
            "participant_entries-1-user": alice.pk,
        },
    )
    assert response.status_code == 302
    assert [p.user for p in RotationParticipant.objects.filter(rotation=rotation)] == [alice, bob]


def test_a_manager_sees_contact_methods_but_cannot_change_them(client, manager_user, records):
    client.force_login(manager_user)
    method = ContactMethod.objects.get()
    assert client.get(changelist(ContactMethod)).status_code == 200
    response = client.post(
        reverse("admin:oncall_contactmethod_change", args=[method.pk]),
        {"user": method.user.pk, "kind": "email", "address": "evil@example.com", "position": 0},
    )
    assert response.status_code == 403
    method.refresh_from_db()
    assert method.address == "alice@example.com"


def test_an_override_added_in_the_admin_must_be_for_a_responder(
    client, staff_user, schedule, viewer_user
):
    client.force_login(staff_user)
    now = timezone.localtime()
    response = client.post(
        reverse("admin:oncall_override_add"),
        {
            "schedule": schedule.pk,
            "user": viewer_user.pk,
            "start_0": now.strftime("%Y-%m-%d"),
            "start_1": "00:00",
            "end_0": (now + timedelta(days=2)).strftime("%Y-%m-%d"),
            "end_1": "00:00",
            "reason": "",
        },
    )
    assert response.status_code == 200
    assert "is not a responder" in response.content.decode()
    assert not Override.objects.exists()


def test_an_override_added_in_the_admin_records_who_added_it(client, staff_user, schedule, alice):
    client.force_login(staff_user)
    now = timezone.localtime()
    response = client.post(
        reverse("admin:oncall_override_add"),
        {
            "schedule": schedule.pk,
            "user": alice.pk,
            "start_0": now.strftime("%Y-%m-%d"),
            "start_1": "00:00",
            "end_0": (now + timedelta(days=2)).strftime("%Y-%m-%d"),
            "end_1": "00:00",
            "reason": "Holiday cover",
        },
    )
    assert response.status_code == 302
    assert Override.objects.get().created_by == staff_user
