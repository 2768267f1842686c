"""Idempotency-Key on the API's creating POSTs: a client's retry creates nothing twice."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from incidents import services
from incidents.models import Incident, StatusUpdate, TimelineEvent
from incidents.oncall.models import Page
from portal.celery import app
from portal.idempotency import idempotency_keys_purge
from portal.models import IdempotencyKey
from tests import factories

INCIDENTS = "/api/v1/incidents/"
DECLARE = {"title": "Payments service returning 503", "severity": "P3"}
UPDATE = {
    "status": "INVESTIGATING",
    "impact": "Checkout fails for 30% of EU users",
    "last_action": "Rolled back deploy 4512",
    "next_action": "Watch error rates",
    "eta": "30 min",
}

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks are PostgreSQL's (set DATABASE_URL)"
)


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def signed_in(user) -> APIClient:
    """A client that writes nothing to sign in (no session, no last_login) for threaded tests."""
    client = APIClient()
    client.force_authenticate(user)
    return client


def post(client: APIClient, path: str, body: dict, key: str | None):
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(path, body, format="json", **extra)


# --- Declare --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_repeated_declaration_replays_the_first_answer_and_declares_once(alice):
    client = client_for(alice)

    first = post(client, INCIDENTS, DECLARE, "retry-1")
    repeat = post(client, INCIDENTS, DECLARE, "retry-1")

    assert first.status_code == repeat.status_code == 201, first.json()
    assert repeat.json() == first.json()
    assert repeat.json()["id"] == first.json()["id"]
    assert repeat["Location"] == first["Location"] == first.json()["url"]
    assert repeat["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert Incident.objects.count() == 1


@pytest.mark.django_db
def test_the_same_json_written_differently_is_the_same_request(alice):
    client = client_for(alice)

    first = post(client, INCIDENTS, {"title": "Login errors", "severity": "P3"}, "k")
    repeat = client.post(
        INCIDENTS,
        '{ "severity" : "P3",\n  "title": "Login errors" }',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k",
    )

    assert repeat.status_code == 201, repeat.json()
    assert repeat.json()["id"] == first.json()["id"]
    assert Incident.objects.count() == 1


@pytest.mark.django_db
def test_without_a_key_every_post_declares(alice):
    client = client_for(alice)

    ids = {post(client, INCIDENTS, DECLARE, None).json()["id"] for _ in range(2)}

    assert len(ids) == 2
    assert not IdempotencyKey.objects.exists()


@pytest.mark.django_db
def test_the_same_key_with_another_body_answers_422_and_declares_nothing_more(alice):
    client = client_for(alice)
    first = post(client, INCIDENTS, DECLARE, "retry-1")

    other = post(client, INCIDENTS, {**DECLARE, "title": "Queue backlog"}, "retry-1")

    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert "different request body" in other.json()["detail"]
    assert list(Incident.objects.values_list("pk", flat=True)) == [first.json()["id"]]


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "caf\u00e9", "line\nbreak"])
def test_a_malformed_key_answers_400_and_declares_nothing(alice, key):
    response = post(client_for(alice), INCIDENTS, DECLARE, key)

    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_invalid"
    assert "Idempotency-Key" in response.json()["detail"]
    assert not Incident.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["a", "x" * 255, '"8e03978e-40d5-43e8-bc93-6894a57f9324"', "a b~!"])
def test_any_printable_ascii_key_of_up_to_255_characters_is_accepted(alice, key):
    client = client_for(alice)

    first = post(client, INCIDENTS, DECLARE, key)
    repeat = post(client, INCIDENTS, DECLARE, key)

    assert first.status_code == 201, first.json()
    assert repeat.json()["id"] == first.json()["id"]
    assert Incident.objects.count() == 1


@pytest.mark.django_db
def test_a_key_of_one_user_is_not_replayed_for_another(alice, bob):
    token_client = APIClient()
    token_client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=bob).key}")

    by_alice = post(client_for(alice), INCIDENTS, DECLARE, "shared-key")
    by_bob = post(token_client, INCIDENTS, DECLARE, "shared-key")
    bob_again = post(token_client, INCIDENTS, DECLARE, "shared-key")

    assert by_alice.status_code == by_bob.status_code == 201
    assert by_bob.json()["id"] != by_alice.json()["id"]
    assert not by_bob.has_header("Idempotent-Replayed")
    assert (by_bob.json()["declared_by"], by_alice.json()["declared_by"]) == ("bob", "alice")
    assert bob_again.json()["id"] == by_bob.json()["id"]
    assert Incident.objects.count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad",
    [
        {"severity": "P3"},  # the serializer refuses: no title
        {**DECLARE, "impact_started_at": "2999-01-01T00:00:00Z"},  # the service refuses
    ],
)
def test_a_refused_request_is_not_stored_so_the_corrected_retry_declares(alice, bad):
    client = client_for(alice)

    refused = post(client, INCIDENTS, bad, "retry-1")
    corrected = post(client, INCIDENTS, DECLARE, "retry-1")

    assert refused.status_code == 400
    assert corrected.status_code == 201, corrected.json()
    assert not corrected.has_header("Idempotent-Replayed")
    assert list(Incident.objects.values_list("pk", flat=True)) == [corrected.json()["id"]]


@pytest.mark.django_db
def test_a_failure_after_the_work_undoes_the_incident_and_the_key_so_the_retry_declares(
    alice, monkeypatch
):
    from incidents.api import views

    client = client_for(alice)
    client.raise_request_exception = False
    real_get = views.selectors.incident_get

    def fail_rendering(**kwargs):
        raise RuntimeError("the server fell over after declaring")

    monkeypatch.setattr(views.selectors, "incident_get", fail_rendering)
    failed = post(client, INCIDENTS, DECLARE, "retry-1")
    monkeypatch.setattr(views.selectors, "incident_get", real_get)
    retried = post(client, INCIDENTS, DECLARE, "retry-1")

    assert failed.status_code == 500
    assert retried.status_code == 201
    assert list(Incident.objects.values_list("pk", flat=True)) == [retried.json()["id"]]


@pytest.mark.django_db
def test_a_key_is_per_endpoint(alice):
    client = client_for(alice)
    declared = post(client, INCIDENTS, DECLARE, "same-key")

    note = post(
        client, f"{INCIDENTS}{declared.json()['id']}/timeline/", {"body": "Rolled back"}, "same-key"
    )

    assert note.status_code == 201, note.json()
    assert note.json()["message"] == "Rolled back"


# --- Notes, status updates, pages -----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("verb", "body", "created"),
    [
        (
            "timeline",
            {"body": "Deploy 4512 went out"},
            lambda: TimelineEvent.objects.filter(kind="note"),
        ),
        ("updates", UPDATE, lambda: StatusUpdate.objects.all()),
        ("page", {"users": ["bob"]}, lambda: Page.objects.filter(kind=Page.Kind.MANUAL)),
    ],
)
def test_a_repeated_note_update_or_page_is_created_once(alice, bob, verb, body, created):
    incident = factories.declared(alice, "P1")
    client = client_for(alice)
    path = f"{INCIDENTS}{incident.pk}/{verb}/"

    first = post(client, path, body, "retry-1")
    repeat = post(client, path, body, "retry-1")
    other = post(client, path, body, "retry-2")

    assert first.status_code == repeat.status_code == other.status_code == 201, first.json()
    assert repeat.json() == first.json()
    assert repeat["Idempotent-Replayed"] == "true"
    assert created().count() == 2


@pytest.mark.django_db
def test_reads_ignore_the_key(alice):
    incident = factories.declared(alice, "P1")

    response = client_for(alice).get(
        f"{INCIDENTS}{incident.pk}/timeline/", HTTP_IDEMPOTENCY_KEY="\t"
    )

    assert response.status_code == 200
    assert not IdempotencyKey.objects.exists()


# --- Expiry ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_expired_key_is_not_replayed(alice, settings):
    settings.FIREBREAK_IDEMPOTENCY_TTL_HOURS = 2
    client = client_for(alice)
    first = post(client, INCIDENTS, DECLARE, "retry-1")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=3))

    later = post(client, INCIDENTS, DECLARE, "retry-1")
    repeat = post(client, INCIDENTS, DECLARE, "retry-1")

    assert later.status_code == 201
    assert later.json()["id"] != first.json()["id"]
    assert repeat.json()["id"] == later.json()["id"]
    assert Incident.objects.count() == 2


@pytest.mark.django_db
def test_the_purge_deletes_expired_keys_only(alice):
    client = client_for(alice)
    post(client, INCIDENTS, DECLARE, "old")
    post(client, INCIDENTS, DECLARE, "new")
    IdempotencyKey.objects.filter(key="old").update(
        created_at=timezone.now() - timedelta(hours=24, minutes=1)
    )

    assert idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_beat_runs_the_purge():
    task = settings.CELERY_BEAT_SCHEDULE["idempotency-keys-purge"]["task"]

    assert task in app.tasks


# --- Concurrency (PostgreSQL) ---------------------------------------------------------------------


@postgresql_only
def test_a_repeat_while_the_first_request_runs_answers_409_and_one_incident_is_declared(
    live_db, monkeypatch
):
    alice = factories.responder("alice")
    first_is_working = threading.Event()
    repeat_answered = threading.Event()
    real_declare = services.incident_declare

    def declare_then_wait(**kwargs):
        incident = real_declare(**kwargs)  # declared, not yet committed
        first_is_working.set()
        repeat_answered.wait(timeout=30)
        return incident

    monkeypatch.setattr(services, "incident_declare", declare_then_wait)
    answers = {}
    errors: list[BaseException] = []

    def first_request():
        try:
            answers["first"] = post(signed_in(alice), INCIDENTS, DECLARE, "retry-1")
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            first_is_working.set()
            connections.close_all()

    thread = threading.Thread(target=first_request)
    thread.start()
    assert first_is_working.wait(timeout=30)
    repeat = post(signed_in(alice), INCIDENTS, DECLARE, "retry-1")
    repeat_answered.set()
    thread.join(timeout=30)
    after = post(signed_in(alice), INCIDENTS, DECLARE, "retry-1")

    assert errors == []
    assert repeat.status_code == 409
    assert repeat.json()["code"] == "idempotency_key_in_use"
    assert answers["first"].status_code == 201
    assert after.status_code == 201
    assert after["Idempotent-Replayed"] == "true"
    assert list(Incident.objects.values_list("pk", flat=True)) == [answers["first"].json()["id"]]
    assert after.json()["id"] == answers["first"].json()["id"]


@postgresql_only
def test_simultaneous_repeats_declare_one_incident(live_db):
    alice = factories.responder("alice")
    start = threading.Barrier(2)
    answers = []
    errors: list[BaseException] = []

    def request():
        try:
            client = signed_in(alice)
            start.wait(timeout=30)
            answers.append(post(client, INCIDENTS, DECLARE, "retry-1"))
        except BaseException as exc:  # surfaced in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    [incident_id] = Incident.objects.values_list("pk", flat=True)
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses in ([201, 201], [201, 409])
    assert {a.json()["id"] for a in answers if a.status_code == 201} == {incident_id}
