from django.urls import reverse

from portal.forms import time_zone_choices


def test_time_zone_choices_are_places_not_aliases():
    names = [value for value, _ in time_zone_choices()]
    assert "Europe/Berlin" in names
    assert "UTC" in names
    assert not {"localtime", "Factory", "US/Eastern", "Etc/GMT+5"} & set(names)


def test_a_person_sets_their_time_zone(client, alice):
    client.force_login(alice)
    response = client.post(reverse("profile"), {"time_zone": "Asia/Tokyo"}, follow=True)
    assert "Times are now shown in Asia/Tokyo" in response.content.decode()
    assert client.post(reverse("profile"), {"time_zone": "localtime"}).status_code == 200
    alice.profile.refresh_from_db()
    assert alice.profile.time_zone == "Asia/Tokyo"
