"""The portal's full addresses: FIREBREAK_BASE_URL in front of a path."""

import pytest
from django.urls import reverse

from portal.links import absolute_url


@pytest.mark.parametrize(
    ("base", "expected"),
    [
        ("https://firebreak.example.com", "https://firebreak.example.com/incidents/7/"),
        ("https://firebreak.example.com/", "https://firebreak.example.com/incidents/7/"),
        ("https://example.com/firebreak/", "https://example.com/firebreak/incidents/7/"),
    ],
)
def test_a_path_gets_the_base_url_without_a_doubled_slash(settings, base, expected):
    settings.FIREBREAK_BASE_URL = base

    assert absolute_url("/incidents/7/") == expected


def test_reverse_results_and_the_empty_path(settings):
    settings.FIREBREAK_BASE_URL = "https://firebreak.example.com/"

    assert absolute_url(reverse("status:page")) == "https://firebreak.example.com/status/"
    assert absolute_url("") == "https://firebreak.example.com"


def test_a_path_without_its_leading_slash_is_a_mistake(settings):
    with pytest.raises(ValueError, match="starts with '/'"):
        absolute_url("incidents/7/")
