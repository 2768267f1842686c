"""What Slack sends us, read into typed values; and the bodies we answer it with. No models.

Slack signs every request (slash commands, interactivity, Events API) with the app's signing
secret: `X-Slack-Signature: v0=<HMAC-SHA256 of "v0:{timestamp}:{raw body}">` and
`X-Slack-Request-Timestamp`. The signature covers the raw bytes, so verify before parsing.
"""

import html
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import Clock, SignatureVerifier

from .chat import ModalSubmission
from .slack import modal_submission

# Slack refuses to replay requests older than this, and so do we.
MAX_REQUEST_AGE_SECONDS = 5 * 60

# `<@U123>` or `<@U123|name>` (W… for Enterprise Grid members).
MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
# `<#C123|name>`, `<!here>`, `<https://x|label>`, `<mailto:a@b|a@b>`.
CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
SPECIAL = re.compile(r"<!([a-z^]+)(?:\^[^|>]*)?(?:\|([^>]*))?>")
LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")


class SlackRequestInvalid(Exception):
    """The request is signed but its body is not what Slack sends there; `message` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def request_verified(
    *,
    signing_secret: str,
    body: bytes,
    headers: Mapping[str, str],
    now: float | None = None,
) -> bool:
    """Return whether Slack signed this raw body within the last five minutes.

    `headers` needs `X-Slack-Request-Timestamp` and `X-Slack-Signature` (any case); a missing,
    malformed or stale one is not valid.
    """
    if not signing_secret.strip():
        return False
    normalized = {name.lower(): value for name, value in headers.items()}
    timestamp = normalized.get("x-slack-request-timestamp", "")
    signature = normalized.get("x-slack-signature", "")
    # SignatureVerifier would raise on a non-numeric timestamp: that is a forgery, not a crash.
    if not timestamp.isdigit() or not signature:
        return False
    clock = _FixedClock(now if now is not None else time.time())
    # The verifier refuses timestamps more than five minutes away (MAX_REQUEST_AGE_SECONDS).
    verifier = SignatureVerifier(signing_secret=signing_secret, clock=clock)
    try:
        return verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
    except UnicodeDecodeError:
        return False


def signature_headers(meta: Mapping[str, Any]) -> dict[str, str]:
    """Return Slack's signature headers from a WSGI environ (Django's `request.META`)."""
    return {
        "X-Slack-Request-Timestamp": str(meta.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")),
        "X-Slack-Signature": str(meta.get("HTTP_X_SLACK_SIGNATURE", "")),
    }


# --- Text ---------------------------------------------------------------------------------------


def mention_member_id(word: str) -> str | None:
    """Return the member id of a mention that is the whole word, else None."""
    match = MENTION.fullmatch(word.strip())
    return match.group(1) if match else None


def mentions_compact(text: str) -> str:
    """Return the text with each mention reduced to `<@ID>` (labels may hold spaces)."""
    return MENTION.sub(lambda m: f"<@{m.group(1)}>", text)


def plain_text(text: str) -> str:
    """Return what a reader sees of Slack's escaped text: names, labels, &, < and >."""

    def mention(match: re.Match[str]) -> str:
        return f"@{match.group(2) or match.group(1)}"

    def channel(match: re.Match[str]) -> str:
        return f"#{match.group(2) or match.group(1)}"

    def special(match: re.Match[str]) -> str:
        return f"@{match.group(2) or match.group(1)}"

    def link(match: re.Match[str]) -> str:
        url, label = match.group(1), match.group(2)
        if not label or label == url or url == f"mailto:{label}":
            return label or url
        return f"{label} ({url})"

    text = MENTION.sub(mention, text)
    text = CHANNEL.sub(channel, text)
    text = SPECIAL.sub(special, text)
    text = LINK.sub(link, text)
    return html.unescape(text).strip()


def ts_seconds(ts: str) -> float:
    """Return a Slack message timestamp (`"1700000000.000100"`) as Unix seconds."""
    try:
        return float(Decimal(ts))
    except (InvalidOperation, ValueError):
        raise SlackRequestInvalid(f"{ts!r} is not a Slack timestamp.") from None


# --- Slash commands -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SlashCommand:
    """A slash command invocation (form-encoded fields of Slack's POST)."""

    command: str
    text: str
    member_id: str
    channel_id: str
    trigger_id: str
    response_url: str
    team_id: str = ""
    channel_name: str = ""
    user_name: str = ""
    api_app_id: str = ""


def _form(body: bytes) -> dict[str, str]:
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SlackRequestInvalid("The body is not UTF-8.") from None
    return {key: values[-1] for key, values in parse_qs(decoded, keep_blank_values=True).items()}


def slash_command_parse(body: bytes) -> SlashCommand:
    """Return the slash command in a form-encoded body; raise SlackRequestInvalid if not one."""
    form = _form(body)
    missing = [
        name
        for name in ("command", "user_id", "channel_id", "trigger_id", "response_url")
        if not form.get(name)
    ]
    if missing:
        raise SlackRequestInvalid(f"Not a slash command: no {', '.join(missing)}.")
    return SlashCommand(
        command=form["command"],
        text=form.get("text", ""),
        member_id=form["user_id"],
        channel_id=form["channel_id"],
        trigger_id=form["trigger_id"],
        response_url=form["response_url"],
        team_id=form.get("team_id", ""),
        channel_name=form.get("channel_name", ""),
        user_name=form.get("user_name", ""),
        api_app_id=form.get("api_app_id", ""),
    )


# --- Interactivity ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockAction:
    """A click on a button of a message we posted."""

    action_id: str
    value: str
    member_id: str
    trigger_id: str
    response_url: str
    channel_id: str = ""
    message_ts: str = ""


@dataclass(frozen=True)
class Interaction:
    """One interactivity payload: its type and, for the kinds we handle, what it says."""

    kind: str  # "block_actions", "view_submission", or another type we ignore
    payload: dict[str, Any] = field(default_factory=dict)
    actions: tuple[BlockAction, ...] = ()
    submission: ModalSubmission | None = None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _block_actions(payload: dict[str, Any]) -> tuple[BlockAction, ...]:
    member_id = _str(_dict(payload.get("user")).get("id"))
    channel = _dict(payload.get("channel"))
    container = _dict(payload.get("container"))
    message = _dict(payload.get("message"))
    actions = payload.get("actions")
    if not member_id or not isinstance(actions, list):
        raise SlackRequestInvalid("A block action without a user or actions.")
    return tuple(
        BlockAction(
            action_id=_str(action.get("action_id")),
            value=_str(action.get("value")),
            member_id=member_id,
            trigger_id=_str(payload.get("trigger_id")),
            response_url=_str(payload.get("response_url")),
            channel_id=_str(channel.get("id")) or _str(container.get("channel_id")),
            message_ts=_str(container.get("message_ts")) or _str(message.get("ts")),
        )
        for action in actions
        if isinstance(action, dict)
    )


def interaction_parse(body: bytes) -> Interaction:
    """Return the interactivity payload of a form-encoded body (`payload=<JSON>`)."""
    raw = _form(body).get("payload")
    if not raw:
        raise SlackRequestInvalid("No payload field.")
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        raise SlackRequestInvalid("The payload is not JSON.") from None
    if not isinstance(payload, dict):
        raise SlackRequestInvalid("The payload is not a JSON object.")
    kind = _str(payload.get("type"))
    if kind == "block_actions":
        return Interaction(kind=kind, payload=payload, actions=_block_actions(payload))
    if kind == "view_submission":
        submission = modal_submission(payload)
        if not submission.member_id:
            raise SlackRequestInvalid("A view submission without a user.")
        return Interaction(kind=kind, payload=payload, submission=submission)
    return Interaction(kind=kind, payload=payload)


# --- Events API ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PinAdded:
    """A message pinned in a channel; text and author when the event carried them."""

    channel_id: str
    message_ts: str
    pinned_by: str
    author_member_id: str = ""
    text: str = ""


@dataclass(frozen=True)
class EventEnvelope:
    """An Events API delivery: a URL check, or one event callback with its id."""

    kind: str  # "url_verification", "event_callback", …
    challenge: str = ""
    event_id: str = ""
    event_type: str = ""
    event: dict[str, Any] = field(default_factory=dict)


def event_envelope_parse(body: bytes) -> EventEnvelope:
    """Return the Events API envelope of a JSON body; raise SlackRequestInvalid if not one."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise SlackRequestInvalid("The body is not JSON.") from None
    if not isinstance(data, dict):
        raise SlackRequestInvalid("The body is not a JSON object.")
    kind = _str(data.get("type"))
    if kind == "url_verification":
        challenge = _str(data.get("challenge"))
        if not challenge:
            raise SlackRequestInvalid("A URL verification without a challenge.")
        return EventEnvelope(kind=kind, challenge=challenge)
    if kind == "event_callback":
        event = _dict(data.get("event"))
        event_id = _str(data.get("event_id"))
        if not event_id or not event:
            raise SlackRequestInvalid("An event callback without an event or its id.")
        return EventEnvelope(
            kind=kind, event_id=event_id, event_type=_str(event.get("type")), event=event
        )
    return EventEnvelope(kind=kind)


def pin_added_parse(event: dict[str, Any]) -> PinAdded | None:
    """Return the pinned message of a `pin_added` event, or None for a pinned file or other."""
    item = _dict(event.get("item"))
    if _str(item.get("type")) != "message":
        return None
    message = _dict(item.get("message"))
    channel_id = _str(event.get("channel_id")) or _str(item.get("channel"))
    message_ts = _str(message.get("ts"))
    if not channel_id or not message_ts:
        return None
    return PinAdded(
        channel_id=channel_id,
        message_ts=message_ts,
        pinned_by=_str(event.get("user")) or _str(item.get("created_by")),
        author_member_id=_str(message.get("user")) or _str(message.get("bot_id")),
        text=_str(message.get("text")),
    )


# --- Answers ------------------------------------------------------------------------------------


def ephemeral_reply(text: str) -> dict[str, Any]:
    """Return a reply only the person who acted sees."""
    return {"response_type": "ephemeral", "text": text}


def modal_errors(errors: Mapping[str, str]) -> dict[str, Any]:
    """Return the answer that keeps a modal open and shows messages under its blocks."""
    return {"response_action": "errors", "errors": dict(errors)}
