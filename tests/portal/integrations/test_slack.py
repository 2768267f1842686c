"""The Slack adapter, through slack_sdk's real clients, against the local fake Slack Web API."""

import pytest

from incidents.chat.platform import chat_platform
from portal.integrations.chat import (
    Button,
    ChatAuthError,
    ChatInvalidRequest,
    ChatNotFound,
    ChatNotInChannel,
    ChatRateLimited,
    ChatUnavailable,
    Field,
    Link,
    Message,
    Modal,
    ModalInput,
    Person,
    text,
)
from portal.integrations.slack import SlackPlatform, modal_submission
from tests.fakes.slack import FakeSlack


@pytest.fixture
def slack(fake_slack):
    return SlackPlatform(token=fake_slack.token, base_url=fake_slack.base_url)


@pytest.fixture
def alice(fake_slack):
    fake_slack.add_user("UALICE", email="alice@example.com", name="Alice Liddell")
    return "UALICE"


def block_texts(message):
    return [block["text"]["text"] for block in message["blocks"] if block["type"] == "section"]


# -- posting and formatting ---------------------------------------------------------------------


def test_post_renders_a_status_update_as_blocks_in_template_order(slack, fake_slack, alice):
    message = Message(
        headline=text(
            "⚠️ INCIDENT: payment service down. Investigating. IC: ", Person("Alice", "UALICE")
        ),
        lines=(text("Bridge: ", Link("Zoom", "https://zoom.example.com/j/1")),),
        fields=(
            Field("Status", text("INVESTIGATING")),
            Field("Impact", text("Card payments fail")),
            Field("Next update", text("in 30 minutes")),
        ),
        links=(Link("Incident page", "https://firebreak.example.com/incidents/7/"),),
        buttons=(
            Button(action="incident_ack", label="Acknowledge", value="7", style="primary"),
            Button(action="incident_resolve", label="Resolve", value="7", style="danger"),
            Button(action="incident_update", label="Post update", value="7"),
        ),
        context="Firebreak · incident #7",
    )

    posted = slack.post(channel_id="CINCIDENTS", message=message)

    [sent] = fake_slack.messages("CINCIDENTS")
    assert posted.channel_id == "CINCIDENTS"
    assert posted.message_id == sent["ts"]
    assert sent["text"] == "⚠️ INCIDENT: payment service down. Investigating. IC: <@UALICE>"
    assert block_texts(sent) == [
        "⚠️ INCIDENT: payment service down. Investigating. IC: <@UALICE>",
        "Bridge: <https://zoom.example.com/j/1|Zoom>",
        "*Status:* INVESTIGATING\n*Impact:* Card payments fail\n*Next update:* in 30 minutes",
        "<https://firebreak.example.com/incidents/7/|Incident page>",
    ]
    [actions] = [block for block in sent["blocks"] if block["type"] == "actions"]
    assert [
        (button["action_id"], button["text"]["text"], button["value"], button.get("style"))
        for button in actions["elements"]
    ] == [
        ("incident_ack", "Acknowledge", "7", "primary"),
        ("incident_resolve", "Resolve", "7", "danger"),
        ("incident_update", "Post update", "7", None),
    ]
    [context] = [block for block in sent["blocks"] if block["type"] == "context"]
    assert context["elements"][0]["text"] == "Firebreak · incident #7"


def test_plain_text_is_escaped_and_people_without_a_member_id_are_named(slack, fake_slack):
    message = Message(
        headline=text("<!channel> A & B > C, IC: ", Person("Bob <ops>")),
        fields=(Field("R&D", text("x < y")),),
        context="a<b",
    )

    slack.post(channel_id="CINCIDENTS", message=message)

    [sent] = fake_slack.messages("incidents")
    # A title typed as "<!channel>" must not ping the whole channel.
    assert sent["text"] == "&lt;!channel&gt; A &amp; B &gt; C, IC: Bob &lt;ops&gt;"
    assert block_texts(sent) == [sent["text"], "*R&amp;D:* x &lt; y"]
    assert sent["blocks"][-1]["elements"][0]["text"] == "a&lt;b"


def test_a_field_longer_than_a_section_allows_is_cut_rather_than_rejected(slack, fake_slack):
    message = Message(headline=text("Update"), fields=(Field("Impact", text("x" * 5000)),))

    slack.post(channel_id="CINCIDENTS", message=message)

    [sent] = fake_slack.messages("incidents")
    impact = block_texts(sent)[1]
    assert impact.startswith("*Impact:* xxx") and impact.endswith("…")
    assert len(impact) <= 3000


def test_a_marked_message_is_found_again_and_an_unmarked_one_is_not(slack, fake_slack):
    slack.post(channel_id="CINCIDENTS", message=Message(headline=text("plain")))
    posted = slack.post(
        channel_id="CINCIDENTS", message=Message(headline=text("first"), marker="update-42")
    )
    slack.post(channel_id="CINCIDENTS", message=Message(headline=text("later"), marker="update-43"))

    assert slack.find_marked(channel_id="CINCIDENTS", marker="update-42") == posted.message_id
    assert slack.find_marked(channel_id="CINCIDENTS", marker="update-44") is None
    [with_marker] = [m for m in fake_slack.messages("incidents") if m["text"] == "first"]
    assert with_marker["metadata"] == {
        "event_type": "firebreak_message",
        "event_payload": {"marker": "update-42"},
    }


def test_update_replaces_a_message_and_a_missing_one_is_not_found(slack, fake_slack):
    posted = slack.post(channel_id="CINCIDENTS", message=Message(headline=text("Paged: Alice")))

    slack.update(
        channel_id="CINCIDENTS",
        message_id=posted.message_id,
        message=Message(headline=text("Paged: Alice (acknowledged)")),
    )

    assert [m["text"] for m in fake_slack.messages("incidents")] == ["Paged: Alice (acknowledged)"]
    with pytest.raises(ChatNotFound) as raised:
        slack.update(
            channel_id="CINCIDENTS", message_id="1.000001", message=Message(headline=text("x"))
        )
    assert raised.value.code == "message_not_found"


def test_announce_by_name_and_joins_a_public_channel_it_is_not_in(slack, fake_slack):
    fake_slack.add_channel("ops-news", channel_id="COPSNEWS", members={"UOTHER"})

    first = slack.announce(channel="#incidents", message=Message(headline=text("INCIDENT: one")))
    second = slack.announce(channel="#ops-news", message=Message(headline=text("INCIDENT: two")))

    assert first.channel_id == "CINCIDENTS"
    assert [m["text"] for m in fake_slack.messages("CINCIDENTS")] == ["INCIDENT: one"]
    assert second.channel_id == "COPSNEWS"
    assert [m["text"] for m in fake_slack.messages("COPSNEWS")] == ["INCIDENT: two"]
    assert fake_slack.bot_user_id in fake_slack.channel("COPSNEWS").members


# -- channels -----------------------------------------------------------------------------------


def test_open_channel_creates_it_with_a_topic_and_reuses_it_when_the_name_is_taken(
    slack, fake_slack
):
    first = slack.open_channel(name="inc-7-payments-down", topic="P1 · IC Alice")
    again = slack.open_channel(name="inc-7-payments-down", topic="P1 · IC Alice")

    assert first.created is True
    assert again.created is False
    assert again.channel_id == first.channel_id
    assert len(fake_slack.called("conversations.create")) == 2
    channel = fake_slack.channel_named("inc-7-payments-down")
    assert channel.id == first.channel_id
    assert channel.topic == "P1 · IC Alice"
    assert fake_slack.bot_user_id in channel.members


def test_open_channel_unarchives_and_joins_an_archived_channel_of_that_name(slack, fake_slack):
    old = fake_slack.add_channel("inc-7-payments-down", archived=True, members={"UOTHER"})

    channel = slack.open_channel(name="inc-7-payments-down")

    assert (channel.channel_id, channel.created) == (old.id, False)
    assert old.archived is False
    assert fake_slack.bot_user_id in old.members
    slack.post(channel_id=channel.channel_id, message=Message(headline=text("back")))
    assert [m["text"] for m in fake_slack.messages(old.id)] == ["back"]


def test_open_channel_finds_a_taken_name_beyond_the_first_page_of_channels(slack, fake_slack):
    for number in range(250):
        fake_slack.add_channel(f"team-{number}")
    taken = fake_slack.add_channel("inc-8-late", members={fake_slack.bot_user_id})

    channel = slack.open_channel(name="inc-8-late")

    assert channel.channel_id == taken.id
    assert len(fake_slack.called("conversations.list")) == 2


def test_open_channel_with_an_invalid_name_is_an_invalid_request(slack):
    with pytest.raises(ChatInvalidRequest) as raised:
        slack.open_channel(name="Inc 7!")
    assert raised.value.code == "invalid_name_specials"


def test_invite_adds_new_members_and_ignores_those_already_in_and_the_app(slack, fake_slack, alice):
    fake_slack.add_user("UBOBBY", name="Bobby")
    channel = slack.open_channel(name="inc-9-db")
    slack.invite(channel_id=channel.channel_id, member_ids=["UALICE"])

    slack.invite(channel_id=channel.channel_id, member_ids=["UALICE", "UBOBBY", "UBOT"])

    assert fake_slack.channel(channel.channel_id).members == {"UBOT", "UALICE", "UBOBBY"}


def test_invite_of_an_unknown_member_is_not_found(slack):
    channel = slack.open_channel(name="inc-9-db")

    with pytest.raises(ChatNotFound) as raised:
        slack.invite(channel_id=channel.channel_id, member_ids=["UNOBODY"])
    assert raised.value.code == "user_not_found"


def test_archive_twice_is_fine(slack, fake_slack):
    channel = slack.open_channel(name="inc-10-done")

    slack.archive(channel_id=channel.channel_id)
    slack.archive(channel_id=channel.channel_id)

    assert fake_slack.channel(channel.channel_id).archived is True


def test_archive_joins_first_when_the_app_was_removed_from_the_channel(slack, fake_slack):
    channel = fake_slack.add_channel("inc-11-done", members={"UOTHER"})

    slack.archive(channel_id=channel.id)

    assert channel.archived is True


# -- people -------------------------------------------------------------------------------------


def test_member_and_member_by_email(slack, alice):
    member = slack.member(member_id="UALICE")

    assert (member.member_id, member.name, member.email) == (
        "UALICE",
        "Alice Liddell",
        "alice@example.com",
    )
    assert slack.member_by_email(email="alice@example.com") == member
    assert slack.member_by_email(email="nobody@example.com") is None
    with pytest.raises(ChatNotFound) as raised:
        slack.member(member_id="UNOBODY")
    assert raised.value.code == "user_not_found"


def test_direct_message_goes_to_the_members_dm_channel(slack, fake_slack, alice):
    message = Message(
        headline=text("You are paged for incident #7"),
        buttons=(Button(action="page_ack", label="Acknowledge", value="page-3"),),
    )

    first = slack.direct_message(member_id="UALICE", message=message)
    second = slack.direct_message(member_id="UALICE", message=message)

    assert first.channel_id == second.channel_id
    assert fake_slack.channel(first.channel_id).is_im
    sent = fake_slack.messages(first.channel_id)
    assert [m["text"] for m in sent] == ["You are paged for incident #7"] * 2
    with pytest.raises(ChatNotFound):
        slack.direct_message(member_id="UNOBODY", message=message)


def test_pinned_message_returns_its_author_text_and_time(slack, fake_slack, alice):
    channel = slack.open_channel(name="inc-12-pins")
    ts = fake_slack.add_message(channel.channel_id, text="Rolled back deploy 4711", user="UALICE")
    fake_slack.add_message(channel.channel_id, text="later chatter", user="UALICE")

    pinned = slack.pinned_message(channel_id=channel.channel_id, message_id=ts)

    assert pinned.author_member_id == "UALICE"
    assert pinned.text == "Rolled back deploy 4711"
    assert pinned.posted_at_ts == float(ts)
    with pytest.raises(ChatNotFound):
        slack.pinned_message(channel_id=channel.channel_id, message_id="1600000000.000100")


# -- modals and replies -------------------------------------------------------------------------


def test_open_modal_sends_a_view_with_the_forms_inputs(slack, fake_slack):
    modal = Modal(
        callback="status_update",
        title="Post a status update for incident 7",
        submit="Post",
        intro="Fill in the template. <b>",
        metadata='{"incident": 7}',
        inputs=(
            ModalInput(block="status", label="Status", initial="INVESTIGATING"),
            ModalInput(block="impact", label="Impact", multiline=True, hint="Who is affected"),
            ModalInput(block="next", label="Next update", optional=True, max_length=100),
        ),
    )

    slack.open_modal(trigger_id="13345224609.738474920.8088930838d88f008e0", modal=modal)

    [opened] = fake_slack.views
    view = opened["view"]
    assert opened["trigger_id"] == "13345224609.738474920.8088930838d88f008e0"
    assert view["callback_id"] == "status_update"
    assert view["private_metadata"] == '{"incident": 7}'
    assert len(view["title"]["text"]) <= 24
    assert view["close"]["text"] == "Cancel"
    assert view["blocks"][0]["text"]["text"] == "Fill in the template. &lt;b&gt;"
    inputs = view["blocks"][1:]
    assert [(block["block_id"], block["optional"]) for block in inputs] == [
        ("status", False),
        ("impact", False),
        ("next", True),
    ]
    assert inputs[0]["element"] == {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": False,
        "max_length": 3000,
        "initial_value": "INVESTIGATING",
    }
    assert inputs[1]["element"]["multiline"] is True
    assert inputs[1]["hint"]["text"] == "Who is affected"
    assert inputs[2]["element"]["max_length"] == 100


def test_open_modal_with_an_expired_trigger_is_an_invalid_request(slack, fake_slack):
    fake_slack.expire_trigger("old-trigger")

    with pytest.raises(ChatInvalidRequest) as raised:
        slack.open_modal(trigger_id="old-trigger", modal=Modal(callback="c", title="T", submit="S"))
    assert raised.value.code == "expired_trigger_id"
    assert fake_slack.views == []


def test_modal_submission_reads_values_submitter_and_form():
    payload = {
        "type": "view_submission",
        "user": {"id": "UALICE", "username": "alice"},
        "view": {
            "callback_id": "status_update",
            "private_metadata": '{"incident": 7}',
            "state": {
                "values": {
                    "status": {"value": {"type": "plain_text_input", "value": "MITIGATED"}},
                    "next": {"value": {"type": "plain_text_input", "value": None}},
                }
            },
        },
    }

    submission = modal_submission(payload)

    assert submission.callback == "status_update"
    assert submission.member_id == "UALICE"
    assert submission.metadata == '{"incident": 7}'
    assert submission.values == {"status": "MITIGATED", "next": ""}


def test_reply_posts_to_the_response_url_ephemeral_or_in_channel(slack, fake_slack):
    slack.reply(response_url=fake_slack.response_url("cmd"), message=Message(headline=text("Done")))
    slack.reply(
        response_url=fake_slack.response_url("cmd"),
        message=Message(headline=text("Declared")),
        ephemeral=False,
    )

    assert [(r["_key"], r["response_type"], r["text"]) for r in fake_slack.responses] == [
        ("cmd", "ephemeral", "Done"),
        ("cmd", "in_channel", "Declared"),
    ]
    assert fake_slack.responses[0]["blocks"][0]["text"]["text"] == "Done"


def test_reply_to_an_expired_response_url_is_not_found(slack, fake_slack):
    fake_slack.expire_response_url("old")

    with pytest.raises(ChatNotFound) as raised:
        slack.reply(response_url=fake_slack.response_url("old"), message=Message(text("x")))
    assert raised.value.code == "expired_url"


# -- failures -----------------------------------------------------------------------------------


def test_rate_limit_raises_at_once_with_retry_after_and_the_retry_posts_once(slack, fake_slack):
    fake_slack.rate_limit("chat.postMessage", retry_after=7)
    message = Message(headline=text("Status update"))

    with pytest.raises(ChatRateLimited) as raised:
        slack.post(channel_id="CINCIDENTS", message=message)

    assert raised.value.retry_after == 7.0
    # Raised on the first answer: the client did not retry (and so did not sleep) by itself.
    assert len(fake_slack.called("chat.postMessage")) == 1
    assert fake_slack.messages("incidents") == []
    slack.post(channel_id="CINCIDENTS", message=message)
    assert [m["text"] for m in fake_slack.messages("incidents")] == ["Status update"]


def test_a_rate_limited_modal_raises_rate_limited(slack, fake_slack):
    fake_slack.rate_limit("views.open", retry_after=3)

    with pytest.raises(ChatRateLimited) as raised:
        slack.open_modal(trigger_id="t", modal=Modal(callback="c", title="T", submit="S"))
    assert raised.value.retry_after == 3.0


def test_invalid_token_is_an_auth_error(fake_slack):
    slack = SlackPlatform(token="xoxb-revoked", base_url=fake_slack.base_url)

    with pytest.raises(ChatAuthError) as raised:
        slack.post(channel_id="CINCIDENTS", message=Message(headline=text("x")))
    assert raised.value.code == "invalid_auth"
    assert fake_slack.messages("incidents") == []


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        ("missing_scope", ChatAuthError),
        ("token_revoked", ChatAuthError),
        ("fatal_error", ChatUnavailable),
        ("ratelimited", ChatRateLimited),
        ("msg_too_long", ChatInvalidRequest),
    ],
)
def test_slack_error_names_map_to_chat_error_kinds(slack, fake_slack, error, kind):
    fake_slack.fail("chat.postMessage", error)

    with pytest.raises(kind) as raised:
        slack.post(channel_id="CINCIDENTS", message=Message(headline=text("x")))
    assert raised.value.code == error


def test_unknown_channel_is_not_found(slack):
    with pytest.raises(ChatNotFound) as raised:
        slack.post(channel_id="CNOWHERE", message=Message(headline=text("x")))
    assert raised.value.code == "channel_not_found"


def test_posting_to_a_channel_the_app_is_not_in_is_not_in_channel(slack, fake_slack):
    channel = fake_slack.add_channel("private-ops", members={"UOTHER"})

    with pytest.raises(ChatNotInChannel):
        slack.post(channel_id=channel.id, message=Message(headline=text("x")))
    assert fake_slack.messages(channel.id) == []


def test_server_error_is_unavailable_and_the_next_call_succeeds(slack, fake_slack):
    fake_slack.server_error("chat.postMessage", status=503)

    with pytest.raises(ChatUnavailable) as raised:
        slack.post(channel_id="CINCIDENTS", message=Message(headline=text("x")))
    assert raised.value.code == "http_503"
    assert len(fake_slack.called("chat.postMessage")) == 1
    slack.post(channel_id="CINCIDENTS", message=Message(headline=text("x")))
    assert len(fake_slack.messages("incidents")) == 1


def test_unreachable_server_is_unavailable():
    closed = FakeSlack()
    closed.close()
    slack = SlackPlatform(token=closed.token, base_url=closed.base_url, timeout=2)

    with pytest.raises(ChatUnavailable):
        slack.post(channel_id="CINCIDENTS", message=Message(headline=text("x")))
    with pytest.raises(ChatUnavailable):
        slack.reply(response_url=closed.response_url(), message=Message(headline=text("x")))


def test_configured_chat_platform_talks_to_the_fake(fake_slack):
    platform = chat_platform()

    assert platform is not None and platform.name == "slack"
    platform.announce(channel="#incidents", message=Message(headline=text("hello")))
    assert [m["text"] for m in fake_slack.messages("incidents")] == ["hello"]
