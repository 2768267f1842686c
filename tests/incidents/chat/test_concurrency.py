"""A double click on the update form's submit: two requests at once post one update."""

# Fixtures are imported from slack_requests and then named as test arguments.
# ruff: noqa: F811

import threading
import time

import pytest
from django.db import connection, connections
from django.test import Client

from incidents.chat.models import ChatPost
from incidents.chat.services import commands
from incidents.models import StatusUpdate

from .slack_requests import (  # noqa: F401 - fixtures
    incident_in_channel,
    interact,
    people,
    slack,
    submission_payload,
)

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks are PostgreSQL's (set DATABASE_URL)"
)

FIELDS = {
    "status": "INVESTIGATING",
    "impact": "Checkout fails for 30% of EU users",
    "last_action": "Rolled back payments-api to v41",
    "next_action": "Watching the error rate",
    "eta": "20 minutes",
}


@pytest.fixture
def slow_post(monkeypatch):
    """Widen the window between taking a submission and committing its update."""
    real = commands.status_update_post

    def slow(**kwargs):
        time.sleep(0.3)
        return real(**kwargs)

    monkeypatch.setattr(commands, "status_update_post", slow)


def test_simultaneous_submits_of_one_form_post_one_update(
    live_db, slack, people, incident_in_channel, slow_post
):
    payload = submission_payload(incident_id=incident_in_channel.pk, values=FIELDS)
    start = threading.Barrier(2)
    answers: list[tuple[int, bytes]] = []
    errors: list[BaseException] = []

    def submit() -> None:
        try:
            start.wait()
            response = interact(Client(), payload)
            answers.append((response.status_code, response.content))
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert answers == [(200, b""), (200, b"")]  # both close the form
    update = StatusUpdate.objects.get()
    posts = ChatPost.objects.filter(kind=ChatPost.Kind.STATUS_UPDATE)
    assert [post.status_update for post in posts] == [update]
