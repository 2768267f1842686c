"""The chat back-office: who is who in Slack is editable; channels, posts, commands are records."""

import pytest
from django.urls import reverse

from incidents.chat.models import ChatAccount, ChatCommand, ChatEvent, ChatPost, IncidentChannel
from tests import factories

pytestmark = pytest.mark.django_db

RECORDS = [IncidentChannel, ChatPost, ChatCommand, ChatEvent]


def url(model, view: str = "changelist", *args) -> str:
    return reverse(f"admin:chat_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def records(alice):
    incident = factories.declared(alice, "P3")
    channel = IncidentChannel.objects.create(
        incident=incident, name=f"inc-{incident.pk}-x", channel_id="C1"
    )
    ChatPost.objects.create(
        incident=incident,
        key=f"inc-{incident.pk}:welcome",
        kind=ChatPost.Kind.WELCOME,
        destination=ChatPost.Destination.INCIDENT_CHANNEL,
        state=ChatPost.State.FAILED,
        last_error="Slack chat.postMessage failed: invalid_blocks",
    )
    ChatCommand.objects.create(key="t.1", member_id="UALICE", command="/incident", text="ack")
    ChatEvent.objects.create(event_id="Ev1", kind="pin_added")
    ChatAccount.objects.create(user=alice, member_id="UALICE")
    return channel


@pytest.mark.parametrize("model", RECORDS, ids=lambda m: m.__name__)
def test_staff_reads_the_records_but_cannot_change_them(client, staff_user, records, model):
    client.force_login(staff_user)
    response = client.get(url(model))
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1
    assert client.get(url(model, "add")).status_code == 403
    obj = model.objects.get()
    assert client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403
    assert model.objects.count() == 1


def test_a_failed_post_shows_why(client, staff_user, records):
    client.force_login(staff_user)
    page = client.get(url(ChatPost) + "?state=failed").content.decode()
    assert "invalid_blocks" in page


def test_staff_maps_a_user_to_a_slack_member(client, staff_user, records, bob):
    client.force_login(staff_user)
    response = client.post(url(ChatAccount, "add"), {"user": bob.pk, "member_id": "UBOB42"})
    assert response.status_code == 302
    account = ChatAccount.objects.get(user=bob)
    assert (account.member_id, account.origin, account.platform) == ("UBOB42", "admin", "slack")


def test_a_member_id_that_is_not_one_is_refused(client, staff_user, bob):
    client.force_login(staff_user)
    response = client.post(url(ChatAccount, "add"), {"user": bob.pk, "member_id": "@bob"})
    assert response.status_code == 200
    assert "Enter the Slack member ID" in response.content.decode()
    assert not ChatAccount.objects.filter(user=bob).exists()


def test_a_viewer_sees_no_chat_admin(client, viewer_user, records):
    client.force_login(viewer_user)
    assert client.get(url(ChatPost)).status_code in (302, 403)
