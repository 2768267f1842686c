"""A person issues, replaces and revokes their own API token from the profile page."""

import re

from django.urls import reverse
from rest_framework.authtoken.models import Token


def issue(client) -> str:
    response = client.post(reverse("api-token"), {"action": "rotate"}, follow=True)
    text = response.content.decode()
    match = re.search(r"New API token: ([0-9a-f]{40})", text)
    assert match, text
    return match.group(1)


def test_issue_use_replace_and_revoke(client, alice):
    client.force_login(alice)
    first = issue(client)
    api = client.__class__()

    assert api.get("/api/v1/incidents/", HTTP_AUTHORIZATION=f"Token {first}").status_code == 200

    second = issue(client)
    assert second != first
    assert api.get("/api/v1/incidents/", HTTP_AUTHORIZATION=f"Token {first}").status_code == 401
    assert api.get("/api/v1/incidents/", HTTP_AUTHORIZATION=f"Token {second}").status_code == 200

    client.post(reverse("api-token"), {"action": "revoke"})
    assert not Token.objects.filter(user=alice).exists()
    assert api.get("/api/v1/incidents/", HTTP_AUTHORIZATION=f"Token {second}").status_code == 401


def test_token_needs_a_signed_in_post(client, alice):
    assert client.post(reverse("api-token")).status_code == 302  # to the login page
    client.force_login(alice)
    assert client.get(reverse("api-token")).status_code == 405
    assert not Token.objects.exists()
