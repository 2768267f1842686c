"""Slack behind the chat interface: slack_sdk's Web API client, Block Kit formatting, own errors.

Everything Slack-specific lives here: how a `Message` becomes blocks and mrkdwn, how a `Modal`
becomes a view, and how Slack's `{"ok": false, "error": ...}`, HTTP 429 and network failures
become the `ChatError` kinds of `portal.integrations.chat`.

The clients never retry by themselves: slack_sdk's retry handlers sleep, and a Celery worker
must not; a rate limit surfaces as `ChatRateLimited(retry_after=...)` for the task to retry.
"""

import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.client import HTTPException
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import WebClient
from slack_sdk.webhook import WebhookClient

from portal.integrations.chat import (
    Button,
    Channel,
    ChatAuthError,
    ChatError,
    ChatInvalidRequest,
    ChatNotFound,
    ChatNotInChannel,
    ChatRateLimited,
    ChatUnavailable,
    Field,
    Link,
    Member,
    Message,
    Modal,
    ModalInput,
    ModalSubmission,
    Person,
    PinnedMessage,
    Posted,
    Text,
)

DEFAULT_BASE_URL = "https://slack.com/api/"
# The metadata event type marking our messages, so a resend after a crash can find the first.
MARKER_EVENT_TYPE = "firebreak_message"

NOT_FOUND_ERRORS = frozenset(
    {"channel_not_found", "user_not_found", "users_not_found", "message_not_found"}
)
AUTH_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "missing_scope",
        "no_permission",
    }
)
UNAVAILABLE_ERRORS = frozenset(
    {"fatal_error", "internal_error", "service_unavailable", "request_timeout"}
)
# Slack's error names are snake_case; anything else in `error` was made up by slack_sdk from a
# body that was not JSON (a proxy's error page), and is no error name.
# Seconds views.open may take (slack_sdk counts timeouts in whole seconds).
MODAL_TIMEOUT_SECONDS = 2

ERROR_NAME = re.compile(r"^[a-z0-9_.]+$")

# Block Kit limits (https://docs.slack.dev/reference/block-kit/blocks).
SECTION_TEXT_LIMIT = 3000
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
ACTIONS_ELEMENT_LIMIT = 25
CONTEXT_TEXT_LIMIT = 3000
VIEW_TITLE_LIMIT = 24
VIEW_BUTTON_LIMIT = 24
VIEW_METADATA_LIMIT = 3000
INPUT_LABEL_LIMIT = 2000
INPUT_HINT_LIMIT = 2000
ELLIPSIS = "…"


# -- formatting ---------------------------------------------------------------------------------


def escape(value: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(text: Text) -> str:
    """Render a piece of text as Slack mrkdwn: escaped strings, `<@U…>` mentions, `<url|label>`."""
    parts = []
    for part in text:
        if isinstance(part, Person):
            parts.append(f"<@{part.member_id}>" if part.member_id else escape(part.name))
        elif isinstance(part, Link):
            parts.append(_link(part))
        else:
            parts.append(escape(part))
    return "".join(parts)


def _link(link: Link) -> str:
    # `|` and `>` end the url part of Slack's link syntax; percent-encoding keeps the address.
    url = link.url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return f"<{url}|{escape(link.label)}>" if link.label else f"<{url}>"


def _truncate(value: str, limit: int) -> str:
    """Shorten mrkdwn to `limit` characters without cutting a `<…>` or an `&…;` in two."""
    if len(value) <= limit:
        return value
    cut = value[: limit - len(ELLIPSIS)]
    opening = cut.rfind("<")
    if opening > cut.rfind(">"):
        cut = cut[:opening]
    ampersand = cut.rfind("&")
    if ampersand > cut.rfind(";"):
        cut = cut[:ampersand]
    return cut + ELLIPSIS


def _plain(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - len(ELLIPSIS)] + ELLIPSIS


def _section(value: str) -> dict[str, Any]:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": _truncate(value, SECTION_TEXT_LIMIT)},
    }


def _field_sections(fields: Sequence[Field]) -> list[dict[str, Any]]:
    """Return the fields one line each, in the template's order, packed into sections."""
    sections: list[dict[str, Any]] = []
    chunk: list[str] = []
    size = 0
    for item in fields:
        line = _truncate(f"*{escape(item.label)}:* {mrkdwn(item.value)}", SECTION_TEXT_LIMIT)
        if chunk and size + 1 + len(line) > SECTION_TEXT_LIMIT:
            sections.append(_section("\n".join(chunk)))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        sections.append(_section("\n".join(chunk)))
    return sections


def _button(button: Button) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "action_id": button.action,
        "text": {"type": "plain_text", "text": _plain(button.label, BUTTON_TEXT_LIMIT)},
        "value": button.value[:BUTTON_VALUE_LIMIT],
    }
    if button.style:
        element["style"] = button.style
    return element


def message_blocks(message: Message) -> tuple[str, list[dict[str, Any]]]:
    """Return a message's notification text and its Block Kit blocks."""
    headline = mrkdwn(message.headline)
    blocks = [_section(headline)]
    blocks.extend(_section(mrkdwn(line)) for line in message.lines)
    blocks.extend(_field_sections(message.fields))
    if message.links:
        blocks.append(_section(" · ".join(_link(link) for link in message.links)))
    for start in range(0, len(message.buttons), ACTIONS_ELEMENT_LIMIT):
        buttons = message.buttons[start : start + ACTIONS_ELEMENT_LIMIT]
        blocks.append({"type": "actions", "elements": [_button(button) for button in buttons]})
    if message.context:
        text = _truncate(escape(message.context), CONTEXT_TEXT_LIMIT)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
    # The fallback is the headline's mrkdwn too: notifications then show mentions as names and
    # a title typed as "<!channel>" cannot ping everyone.
    return headline, blocks


def _marker_metadata(marker: str) -> dict[str, Any] | None:
    if not marker:
        return None
    return {"event_type": MARKER_EVENT_TYPE, "event_payload": {"marker": marker}}


def modal_view(modal: Modal) -> dict[str, Any]:
    """Return the Block Kit modal view for a form."""
    blocks: list[dict[str, Any]] = []
    if modal.intro:
        blocks.append(_section(escape(modal.intro)))
    blocks.extend(_input_block(item) for item in modal.inputs)
    return {
        "type": "modal",
        "callback_id": modal.callback,
        "title": {"type": "plain_text", "text": _plain(modal.title, VIEW_TITLE_LIMIT)},
        "submit": {"type": "plain_text", "text": _plain(modal.submit, VIEW_BUTTON_LIMIT)},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": modal.metadata[:VIEW_METADATA_LIMIT],
        "blocks": blocks,
    }


def _input_block(item: ModalInput) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": item.multiline,
        "max_length": item.max_length,
    }
    if item.initial:
        # Slack rejects the whole view if the initial value is longer than the input allows.
        element["initial_value"] = item.initial[: item.max_length]
    block: dict[str, Any] = {
        "type": "input",
        "block_id": item.block,
        "label": {"type": "plain_text", "text": _plain(item.label, INPUT_LABEL_LIMIT)},
        "optional": item.optional,
        "element": element,
    }
    if item.hint:
        block["hint"] = {"type": "plain_text", "text": _plain(item.hint, INPUT_HINT_LIMIT)}
    return block


def modal_submission(payload: dict[str, Any]) -> ModalSubmission:
    """Return the values, submitter and form of a `view_submission` payload."""
    view = payload.get("view") or {}
    values: dict[str, str] = {}
    for block_id, actions in ((view.get("state") or {}).get("values") or {}).items():
        action = (actions or {}).get("value") or {}
        # An optional input left empty arrives as `"value": null`.
        values[block_id] = action.get("value") or ""
    return ModalSubmission(
        callback=view.get("callback_id") or "",
        member_id=(payload.get("user") or {}).get("id") or "",
        metadata=view.get("private_metadata") or "",
        values=values,
    )


# -- errors -------------------------------------------------------------------------------------


def _retry_after(headers: Any) -> float:
    value = None
    if headers:
        value = headers.get("Retry-After") or headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:
        return 1.0
    return seconds if math.isfinite(seconds) and seconds >= 0 else 1.0


def _api_error(method: str, error: SlackApiError) -> ChatError:
    """Return the chat error for a Slack API error answer."""
    response = error.response
    status = response.status_code
    data = response.data if isinstance(response.data, dict) else {}
    code = str(data.get("error") or "")
    if not ERROR_NAME.match(code):
        code = ""
    message = f"Slack {method} failed: {code or f'HTTP {status}'}"
    if status == 429 or code == "ratelimited":
        return ChatRateLimited(message, retry_after=_retry_after(response.headers))
    if status >= 500 or code in UNAVAILABLE_ERRORS:
        return ChatUnavailable(message, code=code or f"http_{status}")
    if code in NOT_FOUND_ERRORS:
        return ChatNotFound(message, code=code)
    if code == "not_in_channel":
        return ChatNotInChannel(message, code=code)
    if code in AUTH_ERRORS:
        return ChatAuthError(message, code=code)
    return ChatInvalidRequest(message, code=code or f"http_{status}")


@contextmanager
def _translated(method: str) -> Iterator[None]:
    """Turn Slack and network failures inside the block into `ChatError`s."""
    try:
        yield
    except SlackApiError as error:
        raise _api_error(method, error) from error
    except SlackClientError as error:
        # Refused by slack_sdk before sending (say, a missing argument): a bug on our side.
        raise ChatInvalidRequest(f"Slack {method} not sent: {error}") from error
    # URLError, socket timeouts and ConnectionError are all OSErrors; a server that hangs up
    # mid-answer raises http.client's own errors.
    except (OSError, HTTPException) as error:
        raise ChatUnavailable(f"Slack {method} unreachable: {error}") from error


class SlackPlatform:
    """The chat interface over Slack's Web API."""

    name = "slack"

    def __init__(
        self, *, token: str, base_url: str = DEFAULT_BASE_URL, timeout: float = 10.0
    ) -> None:
        # slack_sdk types its timeouts as whole seconds.
        self._timeout = max(1, math.ceil(timeout))
        self._client = WebClient(
            token=token, base_url=base_url, timeout=self._timeout, retry_handlers=[]
        )
        # A modal is opened inside Slack's 3-second answer window, with a trigger that expires
        # within it: waiting longer than this could only answer the person too late.
        self._modal_client = WebClient(
            token=token, base_url=base_url, timeout=MODAL_TIMEOUT_SECONDS, retry_handlers=[]
        )

    def open_channel(self, *, name: str, topic: str = "") -> Channel:
        """Create a public channel, or return the existing one of that name (idempotent)."""
        try:
            with _translated("conversations.create"):
                created = self._client.conversations_create(name=name, is_private=False)
            channel = Channel(channel_id=created["channel"]["id"], name=name, created=True)
        except ChatInvalidRequest as error:
            if error.code != "name_taken":
                raise
            channel = self._reuse_channel(name=name)
        if topic:
            with _translated("conversations.setTopic"):
                self._client.conversations_setTopic(channel=channel.channel_id, topic=topic)
        return channel

    def _reuse_channel(self, *, name: str) -> Channel:
        """Return the existing channel of that name, unarchived and joined."""
        found = self._find_channel(name=name)
        if found is None:
            # Taken by a channel we cannot see (say, a private one): a new name is needed.
            raise ChatInvalidRequest(
                f"Slack channel #{name} exists but is not visible", code="name_taken"
            )
        channel_id = str(found["id"])
        if found.get("is_archived"):
            with _translated("conversations.unarchive"):
                self._client.conversations_unarchive(channel=channel_id)
        # Joining a channel the app is already in only warns; a retry needs no special case.
        with _translated("conversations.join"):
            self._client.conversations_join(channel=channel_id)
        return Channel(channel_id=channel_id, name=name, created=False)

    def _find_channel(self, *, name: str) -> dict[str, Any] | None:
        """Return the public channel of that name, archived or not, by paging through the list."""
        cursor = ""
        while True:
            with _translated("conversations.list"):
                page = self._client.conversations_list(
                    types="public_channel", exclude_archived=False, limit=200, cursor=cursor or None
                )
            for channel in page.get("channels") or []:
                if channel.get("name") == name:
                    return dict(channel)
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                return None

    def invite(self, *, channel_id: str, member_ids: Sequence[str]) -> None:
        """Add members to a channel; members already in it are fine."""
        # One call per member: Slack fails a whole multi-user invite when one member is
        # already in, and a retried task must not depend on who joined since.
        for member_id in dict.fromkeys(member_ids):
            try:
                with _translated("conversations.invite"):
                    self._client.conversations_invite(channel=channel_id, users=member_id)
            except ChatInvalidRequest as error:
                if error.code not in ("already_in_channel", "cant_invite_self"):
                    raise

    def announce(self, *, channel: str, message: Message) -> Posted:
        """Post to a well-known channel given by name (`#incidents`) or id."""
        try:
            return self._post(channel=channel, message=message)
        except ChatNotInChannel:
            # A public announcement channel the app was never added to: join it once and post.
            channel_id = self._channel_id(channel)
            if channel_id is None:
                raise
            with _translated("conversations.join"):
                self._client.conversations_join(channel=channel_id)
            return self._post(channel=channel_id, message=message)

    def _channel_id(self, channel: str) -> str | None:
        name = channel.removeprefix("#")
        if not channel.startswith("#") and re.match(r"^[CG][A-Z0-9]+$", channel):
            return channel
        found = self._find_channel(name=name)
        return str(found["id"]) if found else None

    def post(self, *, channel_id: str, message: Message) -> Posted:
        """Post a message to a channel."""
        return self._post(channel=channel_id, message=message)

    def _post(self, *, channel: str, message: Message) -> Posted:
        fallback, blocks = message_blocks(message)
        with _translated("chat.postMessage"):
            response = self._client.chat_postMessage(
                channel=channel,
                text=fallback,
                blocks=blocks,
                metadata=_marker_metadata(message.marker),
                unfurl_links=False,
                unfurl_media=False,
            )
        return Posted(channel_id=str(response["channel"]), message_id=str(response["ts"]))

    def update(self, *, channel_id: str, message_id: str, message: Message) -> None:
        """Replace the content of a message posted earlier (say, a page once acknowledged)."""
        fallback, blocks = message_blocks(message)
        with _translated("chat.update"):
            self._client.chat_update(
                channel=channel_id, ts=message_id, text=fallback, blocks=blocks
            )

    def find_marked(self, *, channel_id: str, marker: str, limit: int = 100) -> str | None:
        """Return the id of a recent message carrying `marker`, if one was already posted."""
        with _translated("conversations.history"):
            history = self._client.conversations_history(
                channel=channel_id, limit=limit, include_all_metadata=True
            )
        for found in history.get("messages") or []:
            metadata = found.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == MARKER_EVENT_TYPE and payload.get("marker") == marker:
                return str(found["ts"])
        return None

    def direct_message(self, *, member_id: str, message: Message) -> Posted:
        """Send a message to one member privately."""
        with _translated("conversations.open"):
            opened = self._client.conversations_open(users=member_id)
        return self._post(channel=str(opened["channel"]["id"]), message=message)

    def archive(self, *, channel_id: str) -> None:
        """Archive a channel; one already archived is fine."""
        try:
            try:
                with _translated("conversations.archive"):
                    self._client.conversations_archive(channel=channel_id)
            except ChatNotInChannel:
                # Someone removed the app from the channel: only a member may archive it.
                with _translated("conversations.join"):
                    self._client.conversations_join(channel=channel_id)
                with _translated("conversations.archive"):
                    self._client.conversations_archive(channel=channel_id)
        except ChatInvalidRequest as error:
            if error.code != "already_archived":
                raise

    def member(self, *, member_id: str) -> Member:
        """Return a member's name and email."""
        with _translated("users.info"):
            user = self._client.users_info(user=member_id)["user"]
        return _member(user)

    def member_by_email(self, *, email: str) -> Member | None:
        """Return the member with that email address, or None if there is none."""
        try:
            with _translated("users.lookupByEmail"):
                user = self._client.users_lookupByEmail(email=email)["user"]
        except ChatNotFound:
            return None
        return _member(user)

    def pinned_message(self, *, channel_id: str, message_id: str) -> PinnedMessage:
        """Return a message of a channel by its id (to record what someone pinned)."""
        with _translated("conversations.history"):
            history = self._client.conversations_history(
                channel=channel_id, latest=message_id, inclusive=True, limit=1
            )
        found = next(iter(history.get("messages") or []), None)
        if found is None or found.get("ts") != message_id:
            raise ChatNotFound(
                f"Slack message {message_id} not found in {channel_id}", code="message_not_found"
            )
        return PinnedMessage(
            channel_id=channel_id,
            message_id=message_id,
            author_member_id=str(found.get("user") or found.get("bot_id") or ""),
            text=str(found.get("text") or ""),
            posted_at_ts=float(message_id),
        )

    def open_modal(self, *, trigger_id: str, modal: Modal) -> None:
        """Open a form for the person who just acted (the trigger expires in seconds)."""
        with _translated("views.open"):
            self._modal_client.views_open(trigger_id=trigger_id, view=modal_view(modal))

    def reply(self, *, response_url: str, message: Message, ephemeral: bool = True) -> None:
        """Answer a command or button click later, through the address the platform gave."""
        fallback, blocks = message_blocks(message)
        webhook = WebhookClient(response_url, timeout=self._timeout, retry_handlers=[])
        with _translated("response_url"):
            response = webhook.send(
                text=fallback,
                blocks=blocks,
                response_type="ephemeral" if ephemeral else "in_channel",
            )
        if response.status_code == 200:
            return
        # Slack answers a response url's errors as plain text (`expired_url`, `used_url`, ...).
        body = (response.body or "").strip()
        code = body if ERROR_NAME.match(body) else f"http_{response.status_code}"
        text = f"Slack response_url failed: {code}"
        if response.status_code == 429:
            raise ChatRateLimited(text, retry_after=_retry_after(response.headers))
        if response.status_code >= 500:
            raise ChatUnavailable(text, code=code)
        if response.status_code == 404:
            raise ChatNotFound(text, code=code)
        raise ChatInvalidRequest(text, code=code)


def _member(user: dict[str, Any]) -> Member:
    profile = user.get("profile") or {}
    return Member(
        member_id=str(user["id"]),
        name=str(user.get("real_name") or profile.get("real_name") or user.get("name") or ""),
        email=str(profile.get("email") or ""),
    )
