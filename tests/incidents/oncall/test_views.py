"""The schedule pages in the browser's shoes, and the private calendar feed."""

import html
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.urls import reverse
from icalendar import Calendar

from incidents.oncall import services
from incidents.oncall.models import CalendarFeedToken, Override
from portal.models import UserProfile

from .conftest import berlin, make_rotation

pytestmark = pytest.mark.django_db

NOW = berlin(2026, 3, 2, 10)  # Monday
DASH = "\N{EN DASH}"


def page_html(response) -> str:
    return html.unescape(response.content.decode())


def page_text(response) -> str:
    """Return what a person reads: tags dropped, whitespace collapsed."""
    text = re.sub(r"<[^>]+>", " ", response.content.decode())
    return re.sub(r"\s+", " ", html.unescape(text))


def page_rows(response) -> list[str]:
    """Return the text of each table body row."""
    body = page_html(response).split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
        for row in body.split("</tr>")
        if row.strip()
    ]


def day_labels(response) -> list[str]:
    return re.findall(r'<th scope="row" data-label="Day">([^<]+)</th>', page_html(response))


@pytest.fixture(autouse=True)
def clock(freeze):
    return freeze(NOW)


@pytest.fixture
def rota(schedule, alice, bob):
    make_rotation(schedule, [alice, bob], start_date=date(2026, 3, 2))
    return schedule


@pytest.fixture
def logged_in(client):
    def login(user, time_zone: str | None = "Europe/Berlin"):
        if time_zone:
            UserProfile.objects.update_or_create(user=user, defaults={"time_zone": time_zone})
        client.force_login(user)
        return client

    return login


def detail_url(schedule) -> str:
    return reverse("oncall:detail", kwargs={"slug": schedule.slug})


def add_url(schedule) -> str:
    return reverse("oncall:override_add", kwargs={"slug": schedule.slug})


def form_data(user, start: str = "2026-03-03T12:00", end: str = "2026-03-03T18:00", **extra):
    return {"user": user.pk, "start": start, "end": end, "reason": "Swap", **extra}


class TestAccess:
    def test_anonymous_people_are_sent_to_login(self, client, rota):
        for url in (reverse("oncall:list"), detail_url(rota)):
            response = client.get(url)
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("login"))

    def test_people_outside_the_portal_groups_get_a_403(self, logged_in, outsider, rota):
        client = logged_in(outsider)
        assert client.get(reverse("oncall:list")).status_code == 403
        assert client.get(detail_url(rota)).status_code == 403

    def test_unknown_schedule_is_a_404(self, logged_in, alice):
        assert logged_in(alice).get("/schedules/nope/").status_code == 404


class TestScheduleList:
    def test_shows_who_is_on_call_now_and_the_next_handoff(self, logged_in, viewer_user, rota):
        response = logged_in(viewer_user).get(reverse("oncall:list"))

        assert response.status_code == 200
        (row,) = [row for row in page_rows(response) if "Payments primary" in row]
        assert row == "Payments primary Payments Alice 2026-03-03 09:00 CET → Bob"

    def test_lists_the_viewers_own_upcoming_shifts(self, logged_in, bob, rota):
        text = page_text(logged_in(bob).get(reverse("oncall:list")))

        shifts_card = text[text.index("Your shifts") : text.index("Your calendar feed")]
        assert f"2026-03-03 09:00 CET {DASH} 2026-03-04 09:00 CET" in shifts_card
        assert f"2026-03-05 09:00 CET {DASH} 2026-03-06 09:00 CET" in shifts_card

    def test_makes_and_replaces_the_calendar_address(self, logged_in, alice, rota):
        client = logged_in(alice)
        assert "Make my calendar address" in page_text(client.get(reverse("oncall:list")))

        response = client.post(reverse("oncall:calendar_feed_link"), follow=True)

        token = CalendarFeedToken.objects.get(user=alice).token
        assert f"/schedules/ical/{token}.ics" in page_html(response)

        client.post(reverse("oncall:calendar_feed_link"), {"action": "replace"})
        assert CalendarFeedToken.objects.get(user=alice).token != token


class TestScheduleDetail:
    def test_shows_two_weeks_day_by_day_in_the_viewers_zone(self, logged_in, viewer_user, rota):
        response = logged_in(viewer_user).get(detail_url(rota))

        assert response.status_code == 200
        labels = day_labels(response)
        assert len(labels) == 14
        assert labels[0] == "Mon 2 Mar"
        assert labels[-1] == "Sun 15 Mar"
        text = page_text(response)
        assert "until 09:00 CET" in text
        assert "from 09:00 CET" in text
        # Monday starts before the rotation's first shift: a visible gap.
        assert "Nobody on call" in text

    def test_times_follow_the_viewers_own_zone(self, logged_in, viewer_user, rota):
        text = page_text(logged_in(viewer_user, "Asia/Tokyo").get(detail_url(rota)))

        assert "from 17:00 JST" in text
        assert "09:00 CET" not in text

    def test_overrides_are_marked(self, logged_in, viewer_user, rota, carol):
        Override.objects.create(
            schedule=rota,
            user=carol,
            start=berlin(2026, 3, 4, 12),
            end=berlin(2026, 3, 4, 14),
            reason="Bob at the doctor",
        )

        text = page_text(logged_in(viewer_user).get(detail_url(rota)))

        wednesday = text[text.index("Wed 4 Mar") : text.index("Thu 5 Mar")]
        assert "Carol" in wednesday
        assert f"12:00 CET {DASH} 14:00 CET" in wednesday
        assert "Override" in wednesday
        assert "Bob at the doctor" in text

    def test_viewers_see_no_override_form(self, logged_in, viewer_user, rota):
        text = page_text(logged_in(viewer_user).get(detail_url(rota)))
        assert "Add an override" not in text

    def test_responders_are_offered_only_themselves(self, logged_in, alice, bob, rota):
        response = logged_in(alice).get(detail_url(rota))
        select = page_html(response).split('name="user"')[1].split("</select>")[0]
        assert "alice" in select
        assert "bob" not in select

    def test_managers_are_offered_every_responder(self, logged_in, manager_user, alice, bob, rota):
        response = logged_in(manager_user).get(detail_url(rota))
        select = page_html(response).split('name="user"')[1].split("</select>")[0]
        assert "alice" in select
        assert "bob" in select


class TestOverrideForm:
    def test_a_responder_takes_a_shift(self, logged_in, alice, rota):
        client = logged_in(alice)

        response = client.post(add_url(rota), form_data(alice), follow=True)

        override = Override.objects.get()
        assert (override.user, override.created_by) == (alice, alice)
        # The form's times are the viewer's local times.
        assert override.start == datetime(2026, 3, 3, 11, 0, tzinfo=UTC)
        assert override.end == datetime(2026, 3, 3, 17, 0, tzinfo=UTC)
        assert "Override added: Alice is on call for Payments primary." in page_text(response)
        tuesday = page_text(response).split("Tue 3 Mar")[1].split("Wed 4 Mar")[0]
        assert f"12:00 CET {DASH} 18:00 CET" in tuesday

    def test_an_end_before_the_start_is_refused_with_the_reason(self, logged_in, alice, rota):
        response = logged_in(alice).post(
            add_url(rota), form_data(alice, start="2026-03-03T18:00", end="2026-03-03T12:00")
        )

        assert response.status_code == 400
        assert "The override must end after it starts." in page_text(response)
        assert not Override.objects.exists()

    def test_missing_times_are_refused(self, logged_in, alice, rota):
        response = logged_in(alice).post(add_url(rota), form_data(alice, start=""))

        assert response.status_code == 400
        assert "This field is required." in page_text(response)
        assert not Override.objects.exists()

    def test_a_responder_cannot_put_someone_else_on_call(self, logged_in, alice, bob, rota):
        response = logged_in(alice).post(add_url(rota), form_data(bob))

        assert response.status_code == 400
        assert "You may add overrides only for yourself" in page_text(response)
        assert not Override.objects.exists()

    def test_a_responder_of_another_team_is_told_why_and_refused(self, logged_in, carol, rota):
        client = logged_in(carol)  # a responder, neither on Payments nor in its rotation
        refusal = (
            "Only members and engineering managers of Payments (and managers and staff) may add "
            "overrides to Payments primary; ask a manager to put you on call here."
        )

        page = page_text(client.get(detail_url(rota)))
        assert refusal in page
        assert 'name="user"' not in page_html(client.get(detail_url(rota)))

        response = client.post(add_url(rota), form_data(carol))
        assert response.status_code == 403
        assert refusal in page_text(response)
        assert not Override.objects.exists()

    def test_a_member_of_the_team_takes_a_shift(self, logged_in, carol, rota):
        rota.team.members.add(carol)

        response = logged_in(carol).post(add_url(rota), form_data(carol))

        assert response.status_code == 302
        assert Override.objects.get().user == carol

    def test_a_viewer_cannot_add_an_override(self, logged_in, viewer_user, alice, rota):
        response = logged_in(viewer_user).post(add_url(rota), form_data(alice))

        assert response.status_code == 403
        assert not Override.objects.exists()

    def test_a_manager_puts_someone_on_call(self, logged_in, manager_user, bob, rota):
        response = logged_in(manager_user).post(add_url(rota), form_data(bob))

        assert response.status_code == 302
        assert Override.objects.get().user == bob

    def test_removing_an_override(self, logged_in, alice, bob, rota):
        override = services.override_create(
            schedule=rota, user=alice, start=NOW, end=NOW + timedelta(hours=2), actor=alice
        )
        delete_url = reverse(
            "oncall:override_delete", kwargs={"slug": rota.slug, "pk": override.pk}
        )

        assert logged_in(bob).post(delete_url).status_code == 403
        assert Override.objects.exists()

        response = logged_in(alice).post(delete_url, follow=True)
        assert "Override removed" in page_text(response)
        assert not Override.objects.exists()


class TestCalendarFeed:
    def feed(self, client, user):
        token = services.calendar_feed_token_get_or_create(user=user).token
        return client.get(reverse("oncall:calendar_feed", kwargs={"token": token}))

    def test_the_feed_lists_the_persons_shifts_in_utc(self, client, alice, bob, carol, rota):
        Override.objects.create(
            schedule=rota, user=alice, start=berlin(2026, 3, 3, 12), end=berlin(2026, 3, 3, 14)
        )

        response = self.feed(client, alice)  # nobody is logged in

        assert response.status_code == 200
        assert response["Content-Type"] == "text/calendar; charset=utf-8"
        assert "DTSTART:20260302T080000Z" in response.content.decode()
        events = Calendar.from_ical(response.content).walk("VEVENT")
        found = [(e.decoded("dtstart"), e.decoded("dtend"), str(e["summary"])) for e in events]
        assert found[:3] == [
            (berlin(2026, 3, 2, 9), berlin(2026, 3, 3, 9), "On call: Payments primary"),
            (berlin(2026, 3, 3, 12), berlin(2026, 3, 3, 14), "On call: Payments primary"),
            (berlin(2026, 3, 4, 9), berlin(2026, 3, 5, 9), "On call: Payments primary"),
        ]
        assert all(e.decoded("dtstart").utcoffset() == timedelta(0) for e in events)
        assert "Override" in str(events[1]["description"])
        # The feed runs 90 days ahead; Alice has every other day.
        assert 44 <= len(events) <= 47

    def test_uids_are_unique_and_stable_between_downloads(self, client, alice, rota):
        first = Calendar.from_ical(self.feed(client, alice).content).walk("VEVENT")
        again = Calendar.from_ical(self.feed(client, alice).content).walk("VEVENT")

        uids = [str(e["uid"]) for e in first]
        assert len(set(uids)) == len(uids)
        assert uids == [str(e["uid"]) for e in again]

    def test_only_the_owners_shifts_are_in_it(self, client, bob, rota):
        events = Calendar.from_ical(self.feed(client, bob).content).walk("VEVENT")

        assert [e.decoded("dtstart") for e in events[:3]] == [
            berlin(2026, 3, 3, 9),
            berlin(2026, 3, 5, 9),
            berlin(2026, 3, 7, 9),
        ]

    def test_an_unknown_token_is_a_404(self, client):
        response = client.get(reverse("oncall:calendar_feed", kwargs={"token": "x" * 43}))
        assert response.status_code == 404

    def test_a_replaced_token_is_a_404(self, client, alice, rota):
        old = services.calendar_feed_token_get_or_create(user=alice).token
        services.calendar_feed_token_replace(user=alice)

        response = client.get(reverse("oncall:calendar_feed", kwargs={"token": old}))

        assert response.status_code == 404
