"""A local fake of the Slack Web API that slack_sdk's real `WebClient` talks to over HTTP.

It keeps channels, members, messages and views in memory and answers the way Slack does,
errors included (`{"ok": false, "error": ...}` with HTTP 200, HTTP 429 with `Retry-After`,
server errors). Tests inject failures per method with `fail`, `rate_limit` and `server_error`,
and read what was sent through `calls`, `called`, `messages`, `views` and `responses`.

Usage: the `fake_slack` fixture points the portal's Slack settings at a running fake.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

TOKEN = "xoxb-test-token"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "TFIREBREAK"
# Slack's channel name rules: lowercase letters, digits, hyphens and underscores, at most 80.
CHANNEL_NAME = re.compile(r"^[a-z0-9_-]+$")
# Keys slack_sdk may send as JSON text inside a form body; recorded decoded for readable asserts.
JSON_ARGS = ("blocks", "attachments", "view", "metadata")


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return Slack's request signature: `v0=` + HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    """Return Django test client kwargs that sign `body` the way Slack signs a request."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": stamp,
        "HTTP_X_SLACK_SIGNATURE": slack_signature(secret, stamp, body),
    }


@dataclass
class FakeChannel:
    id: str
    name: str
    is_private: bool = False
    archived: bool = False
    members: set[str] = field(default_factory=set)
    topic: str = ""
    is_im: bool = False
    created: int = 1700000000


class SlackError(Exception):
    """An API error answered as HTTP 200 `{"ok": false, "error": ...}`."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "yes")


class FakeSlack:
    """A Slack Web API on 127.0.0.1 behaving like Slack for the methods the portal calls."""

    def __init__(self) -> None:
        self.token = TOKEN
        self.signing_secret = SIGNING_SECRET
        self.bot_user_id = BOT_USER_ID
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.responses: list[dict[str, Any]] = []
        self.views: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._injected: dict[str, deque[tuple[str, Any]]] = {}
        self._channels: dict[str, FakeChannel] = {}
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._users: dict[str, dict[str, str]] = {}
        self._expired_triggers: set[str] = set()
        self._expired_response_keys: set[str] = set()
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)
        self.add_user(BOT_USER_ID, name="firebreak")
        self.add_channel("incidents", channel_id="CINCIDENTS", members={BOT_USER_ID})

        fake = self

        class Handler(_Handler):
            slack = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/api/"
        # A short poll keeps `close` (which waits for the serving loop to notice) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    # -- test API ------------------------------------------------------------------------------

    def called(self, method: str) -> list[dict[str, Any]]:
        """Return the args of each call to `method`, in order."""
        with self._lock:
            return [args for name, args in self.calls if name == method]

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """Answer the next `times` calls to `method` with HTTP 200 `{"ok": false, ...}`."""
        self._inject(method, ("fail", error), times)

    def rate_limit(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next `times` calls to `method` with HTTP 429 and `Retry-After`."""
        self._inject(method, ("ratelimit", retry_after), times)

    def server_error(self, method: str, status: int = 503, times: int = 1) -> None:
        """Answer the next `times` calls to `method` with an HTTP server error."""
        self._inject(method, ("status", status), times)

    def add_user(self, member_id: str, *, email: str = "", name: str = "") -> None:
        """Make a workspace member known to users.info, users.lookupByEmail and invites."""
        with self._lock:
            self._users[member_id] = {"email": email, "name": name or member_id.lower()}

    def add_channel(
        self,
        name: str,
        *,
        channel_id: str | None = None,
        archived: bool = False,
        members: set[str] | None = None,
        is_private: bool = False,
    ) -> FakeChannel:
        """Create a channel directly (not through the API); the bot is a member only if listed."""
        with self._lock:
            channel = FakeChannel(
                id=channel_id or self._new_id("C"),
                name=name.lstrip("#"),
                is_private=is_private,
                archived=archived,
                members=set(members or ()),
            )
            self._channels[channel.id] = channel
            self._messages.setdefault(channel.id, [])
            return channel

    def channel(self, channel_id: str) -> FakeChannel:
        """Return the channel (or DM) with that id; KeyError if there is none."""
        with self._lock:
            return self._channels[channel_id]

    def channel_named(self, name: str) -> FakeChannel | None:
        """Return the channel of that name (with or without '#'), or None."""
        with self._lock:
            wanted = name.lstrip("#")
            for channel in self._channels.values():
                if not channel.is_im and channel.name == wanted:
                    return channel
            return None

    def messages(self, channel_id_or_name: str) -> list[dict[str, Any]]:
        """Return the messages of a channel given by id or name, oldest first."""
        with self._lock:
            if channel_id_or_name in self._channels:
                channel_id = channel_id_or_name
            else:
                channel = self.channel_named(channel_id_or_name)
                if channel is None:
                    raise KeyError(channel_id_or_name)
                channel_id = channel.id
            return list(self._messages.get(channel_id, []))

    def add_message(self, channel_id: str, *, text: str, user: str, ts: str | None = None) -> str:
        """Record a message a person wrote in a channel (say, one to pin); return its ts."""
        with self._lock:
            message: dict[str, Any] = {
                "ts": ts or self._next_ts(),
                "text": text,
                "blocks": [],
                "metadata": None,
                "user": user,
                "thread_ts": None,
            }
            self._messages.setdefault(channel_id, []).append(message)
            self._messages[channel_id].sort(key=lambda m: Decimal(m["ts"]))
            return str(message["ts"])

    def response_url(self, key: str = "r") -> str:
        """Return an address on the fake to use as a command's `response_url`."""
        return f"http://127.0.0.1:{self.port}/response/{key}"

    def expire_response_url(self, key: str) -> None:
        """Make a response url answer 404 `expired_url`, as Slack does after 30 minutes."""
        with self._lock:
            self._expired_response_keys.add(key)

    def expire_trigger(self, trigger_id: str) -> None:
        """Make views.open with this trigger answer `expired_trigger_id`."""
        with self._lock:
            self._expired_triggers.add(trigger_id)

    def close(self) -> None:
        """Stop serving; later calls cannot connect."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- internals -----------------------------------------------------------------------------

    def _inject(self, method: str, what: tuple[str, Any], times: int) -> None:
        with self._lock:
            self._injected.setdefault(method, deque()).extend([what] * times)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def _next_ts(self) -> str:
        micros = 1_700_000_000_000_000 + next(self._ts) * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _record_response(self, key: str, body: dict[str, Any]) -> tuple[int, str]:
        with self._lock:
            if key in self._expired_response_keys:
                return 404, "expired_url"
            self.responses.append({**body, "_key": key})
            return 200, "ok"

    def _handle(
        self, method: str, args: dict[str, Any], bearer: str | None
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one API call: (HTTP status, JSON body, extra headers)."""
        with self._lock:
            token = bearer or args.pop("token", None)
            args.pop("token", None)
            self.calls.append((method, dict(args)))
            if not token:
                return 200, {"ok": False, "error": "not_authed"}, {}
            if token != self.token:
                return 200, {"ok": False, "error": "invalid_auth"}, {}
            queue = self._injected.get(method)
            if queue:
                kind, value = queue.popleft()
                if kind == "fail":
                    return 200, {"ok": False, "error": value}, {}
                if kind == "ratelimit":
                    return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(value)}
                return int(value), {}, {}
            handler = getattr(self, "_api_" + method.replace(".", "_"), None)
            if handler is None:
                return 200, {"ok": False, "error": "unknown_method"}, {}
            try:
                return 200, {"ok": True, **handler(args)}, {}
            except SlackError as error:
                return 200, {"ok": False, "error": error.error, **error.extra}, {}

    # -- lookups shared by the methods ---------------------------------------------------------

    def _find_channel(self, value: Any) -> FakeChannel:
        key = str(value or "")
        if key in self._channels:
            return self._channels[key]
        if key.startswith(("U", "W")) and key in self._users:
            return self._dm(key)
        channel = self.channel_named(key) if key else None
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def _dm(self, member_id: str) -> FakeChannel:
        if member_id not in self._users:
            raise SlackError("user_not_found")
        channel_id = "D" + member_id
        if channel_id not in self._channels:
            self._channels[channel_id] = FakeChannel(
                id=channel_id,
                name=member_id,
                is_private=True,
                members={member_id, BOT_USER_ID},
                is_im=True,
            )
            self._messages[channel_id] = []
        return self._channels[channel_id]

    def _require_member(self, channel: FakeChannel) -> None:
        if not channel.is_im and BOT_USER_ID not in channel.members:
            raise SlackError("not_in_channel")

    def _channel_json(self, channel: FakeChannel) -> dict[str, Any]:
        if channel.is_im:
            return {"id": channel.id, "is_im": True, "user": channel.name, "is_open": True}
        return {
            "id": channel.id,
            "name": channel.name,
            "name_normalized": channel.name,
            "is_channel": not channel.is_private,
            "is_group": channel.is_private,
            "is_im": False,
            "is_private": channel.is_private,
            "is_archived": channel.archived,
            "is_general": False,
            "is_member": BOT_USER_ID in channel.members,
            "created": channel.created,
            "creator": BOT_USER_ID,
            "topic": {"value": channel.topic, "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "num_members": len(channel.members),
        }

    def _user_json(self, member_id: str) -> dict[str, Any]:
        user = self._users[member_id]
        return {
            "id": member_id,
            "team_id": TEAM_ID,
            "name": user["name"],
            "real_name": user["name"],
            "deleted": False,
            "is_bot": member_id == BOT_USER_ID,
            "profile": {
                "email": user["email"],
                "real_name": user["name"],
                "display_name": user["name"],
            },
        }

    def _message_json(self, message: dict[str, Any], *, with_metadata: bool) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "type": "message",
            "user": message["user"],
            "text": message["text"],
            "ts": message["ts"],
        }
        if message["user"] == BOT_USER_ID:
            shown["bot_id"] = BOT_ID
        if message["blocks"]:
            shown["blocks"] = message["blocks"]
        if message["thread_ts"]:
            shown["thread_ts"] = message["thread_ts"]
        if with_metadata and message["metadata"]:
            shown["metadata"] = message["metadata"]
        return shown

    def _check_blocks(self, blocks: Any) -> list[dict[str, Any]]:
        """Reject what Slack's Block Kit validation would reject, roughly."""
        if blocks in (None, ""):
            return []
        if not isinstance(blocks, list) or len(blocks) > 50:
            raise SlackError("invalid_blocks")
        for block in blocks:
            if not isinstance(block, dict) or "type" not in block:
                raise SlackError("invalid_blocks")
            if block["type"] == "section":
                if "text" not in block and "fields" not in block:
                    raise SlackError("invalid_blocks")
                if (
                    len(block.get("text", {}).get("text", "")) > 3000
                    or len(block.get("fields", [])) > 10
                ):
                    raise SlackError("invalid_blocks")
            if block["type"] == "actions":
                elements = block.get("elements", [])
                action_ids = [element.get("action_id") for element in elements]
                if not elements or len(elements) > 25 or len(set(action_ids)) != len(action_ids):
                    raise SlackError("invalid_blocks")
        return blocks

    # -- API methods ---------------------------------------------------------------------------

    def _api_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://firebreak-test.slack.com/",
            "team": "Firebreak Test",
            "user": "firebreak",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
        }

    def _api_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._find_channel(args.get("channel"))
        if channel.archived:
            raise SlackError("is_archived")
        self._require_member(channel)
        blocks = self._check_blocks(args.get("blocks"))
        text = args.get("text") or ""
        if not text and not blocks:
            raise SlackError("no_text")
        metadata = args.get("metadata") or None
        if metadata is not None and (
            not isinstance(metadata, dict) or "event_type" not in metadata
        ):
            raise SlackError("invalid_metadata_format")
        message = {
            "ts": self._next_ts(),
            "text": text,
            "blocks": blocks,
            "metadata": metadata,
            "user": BOT_USER_ID,
            "thread_ts": args.get("thread_ts") or None,
        }
        self._messages[channel.id].append(message)
        return {
            "channel": channel.id,
            "ts": message["ts"],
            "message": self._message_json(message, with_metadata=True),
        }

    def _api_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._find_channel(args.get("channel"))
        if channel.archived:
            raise SlackError("is_archived")
        for message in self._messages[channel.id]:
            if message["ts"] == args.get("ts"):
                break
        else:
            raise SlackError("message_not_found")
        if message["user"] != BOT_USER_ID:
            raise SlackError("cant_update_message")
        if "blocks" in args:
            message["blocks"] = self._check_blocks(args.get("blocks"))
        if "text" in args:
            message["text"] = args.get("text") or ""
        if args.get("metadata"):
            message["metadata"] = args["metadata"]
        return {
            "channel": channel.id,
            "ts": message["ts"],
            "text": message["text"],
            "message": self._message_json(message, with_metadata=False),
        }

    def _api_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._find_channel(args.get("channel"))
        if channel.archived:
            raise SlackError("is_archived")
        user = str(args.get("user") or "")
        if user not in self._users:
            raise SlackError("user_not_found")
        if not channel.is_im and user not in channel.members:
            raise SlackError("user_not_in_channel")
        self._check_blocks(args.get("blocks"))
        if not args.get("text") and not args.get("blocks"):
            raise SlackError("no_text")
        return {"message_ts": self._next_ts()}

    def _api_conversations_create(self, args: dict[str, Any]) -> dict[str, Any]:
        name = str(args.get("name") or "")
        if not name:
            raise SlackError("invalid_name_required")
        if len(name) > 80:
            raise SlackError("invalid_name_maxlength")
        if not CHANNEL_NAME.match(name):
            raise SlackError("invalid_name_specials")
        if self.channel_named(name) is not None:
            raise SlackError("name_taken")
        channel = self.add_channel(
            name, members={BOT_USER_ID}, is_private=_flag(args.get("is_private", False))
        )
        return {"channel": self._channel_json(channel)}

    def _api_conversations_invite(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._find_channel(args.get("channel"))
        if channel.archived:
            raise SlackError("is_archived")
        self._require_member(channel)
        users = [user.strip() for user in str(args.get("users") or "").split(",") if user.strip()]
        if not users:
            raise SlackError("no_user")
        errors: list[dict[str, Any]] = []
        for user in users:
            if user == BOT_USER_ID:
                errors.append({"user": user, "ok": False, "error": "cant_invite_self"})
            elif user not in self._users:
                errors.append({"user": user, "ok": False, "error": "user_not_found"})
            elif user in channel.members:
                errors.append({"user": user, "ok": False, "error": "already_in_channel"})
        if errors:
            # Without `force`, Slack invites nobody when one of the users fails.
            raise SlackError(errors[0]["error"], errors=errors)
        channel.members.update(users)
        return {"channel": self._channel_json(channel)}

    def _api_conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._find_channel(args.get("channel"))
        if channel.archived:
            raise SlackError("is_archived")
        if channel.is_private and BOT_USER_ID not in channel.members:
            raise SlackError("method_not_supported_for_channel_type")
        already = BOT_USER_ID in channel.members
        channel.members.add(BOT_USER_ID)
        answer: dict[str, Any] = {"channel": self._channel_json(channel)}
        if already:
            answer["warning"] = "already_in_channel"
            answer["response_metadata"] = {"warnings": ["already_in_channel"]}
        return answer

    def _api_conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        types = str(args.get("types") or "public_channel").split(",")
        exclude_archived = _flag(args.get("exclude_archived", False))
        limit = max(1, min(int(args.get("limit") or 100), 1000))
        cursor = str(args.get("cursor") or "")
        try:
            start = int(base64.b64decode(cursor).decode().removeprefix("offset:")) if cursor else 0
        except ValueError as error:
            raise SlackError("invalid_cursor") from error
        selected = []
        for channel in self._channels.values():
            if channel.is_im:
                kind = "im"
            elif channel.is_private:
                kind = "private_channel"
            else:
                kind = "public_channel"
            if kind not in types or (exclude_archived and channel.archived):
                continue
            if kind != "public_channel" and BOT_USER_ID not in channel.members:
                continue
            selected.append(channel)
        page = selected[start : start + limit]
        after = start + limit
        next_cursor = (
            base64.b64encode(f"offset:{after}".encode()).decode() if after < len(selected) else ""
        )
        return {
            "channels": [self._channel_json(channel) for channel in page],
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _api_conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._find_channel(args.get("channel"))
        return {"channel": self._channel_json(channel)}

    def _api_conversations_archive(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._find_channel(args.get("channel"))
        if channel.is_im:
            raise SlackError("method_not_supported_for_channel_type")
        if channel.archived:
            raise SlackError("already_archived")
        self._require_member(channel)
        channel.archived = True
        return {}

    def _api_conversations_unarchive(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._find_channel(args.get("channel"))
        if not channel.archived:
            raise SlackError("not_archived")
        channel.archived = False
        return {}

    def _api_conversations_setTopic(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._find_channel(args.get("channel"))
        if channel.archived:
            raise SlackError("is_archived")
        self._require_member(channel)
        topic = str(args.get("topic") or "")
        if len(topic) > 250:
            raise SlackError("too_long")
        channel.topic = topic
        return {"channel": self._channel_json(channel)}

    def _api_conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._find_channel(args.get("channel"))
        self._require_member(channel)
        limit = max(1, min(int(args.get("limit") or 100), 999))
        inclusive = _flag(args.get("inclusive", False))
        latest = Decimal(str(args["latest"])) if args.get("latest") else None
        oldest = Decimal(str(args["oldest"])) if args.get("oldest") else None
        with_metadata = _flag(args.get("include_all_metadata", False))
        selected = []
        for message in reversed(self._messages[channel.id]):
            ts = Decimal(message["ts"])
            if latest is not None and (ts > latest or (ts == latest and not inclusive)):
                continue
            if oldest is not None and (ts < oldest or (ts == oldest and not inclusive)):
                continue
            selected.append(message)
        page = selected[:limit]
        return {
            "messages": [
                self._message_json(message, with_metadata=with_metadata) for message in page
            ],
            "has_more": len(selected) > limit,
            "pin_count": 0,
            "response_metadata": {"next_cursor": ""},
        }

    def _api_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = [user.strip() for user in str(args.get("users") or "").split(",") if user.strip()]
        if args.get("channel"):
            return {"channel": {"id": self._find_channel(args["channel"]).id}}
        if len(users) != 1:
            raise SlackError("users_list_not_supplied" if not users else "not_enough_users")
        existed = "D" + users[0] in self._channels
        channel = self._dm(users[0])
        answer: dict[str, Any] = {"channel": {"id": channel.id}}
        if existed:
            answer.update(no_op=True, already_open=True)
        return answer

    def _api_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        member_id = str(args.get("user") or "")
        if member_id not in self._users:
            raise SlackError("user_not_found")
        return {"user": self._user_json(member_id)}

    def _api_users_lookupByEmail(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args.get("email") or "").lower()
        for member_id, user in self._users.items():
            if email and user["email"].lower() == email:
                return {"user": self._user_json(member_id)}
        raise SlackError("users_not_found")

    def _api_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger_id = str(args.get("trigger_id") or "")
        view = args.get("view")
        if not trigger_id:
            raise SlackError("invalid_arguments")
        if trigger_id in self._expired_triggers:
            raise SlackError("expired_trigger_id")
        if not isinstance(view, dict) or not all(
            key in view for key in ("type", "title", "blocks")
        ):
            raise SlackError("invalid_arguments")
        self._check_blocks(view["blocks"])
        self.views.append({"trigger_id": trigger_id, "view": view})
        return {
            "view": {"id": self._new_id("V"), "team_id": TEAM_ID, "state": {"values": {}}, **view}
        }


class _Handler(BaseHTTPRequestHandler):
    slack: FakeSlack

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        body: dict[str, Any] = {}
        if raw and content_type == "application/json":
            try:
                body = json.loads(raw)
            except ValueError:
                self._answer(200, {"ok": False, "error": "invalid_json"})
                return
        elif raw:
            body = dict(parse_qsl(raw.decode(), keep_blank_values=True))
        if parts.path.startswith("/response/"):
            status, text = self.slack._record_response(parts.path.removeprefix("/response/"), body)
            self._answer_text(status, text)
            return
        if not parts.path.startswith("/api/"):
            self._answer_text(404, "not found")
            return
        args: dict[str, Any] = dict(parse_qsl(parts.query, keep_blank_values=True))
        args.update(body)
        for key in JSON_ARGS:
            value = args.get(key)
            if isinstance(value, str) and value[:1] in ("[", "{"):
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(value)
        authorization = self.headers.get("Authorization") or ""
        bearer = (
            authorization.removeprefix("Bearer ").strip()
            if authorization.startswith("Bearer ")
            else None
        )
        status, answer, headers = self.slack._handle(parts.path.removeprefix("/api/"), args, bearer)
        if status >= 500:
            # A load balancer's answer, not Slack's JSON: the client must cope with both.
            self._answer_text(status, "Service Unavailable")
            return
        self._answer(status, answer, headers)

    def _answer(
        self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _answer_text(self, status: int, text: str) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake_slack(settings: Any) -> Iterator[FakeSlack]:
    """Run a fake Slack and point the portal's Slack settings at it."""
    from incidents.chat.platform import _slack

    fake = FakeSlack()
    settings.FIREBREAK_SLACK_BOT_TOKEN = fake.token
    settings.FIREBREAK_SLACK_SIGNING_SECRET = fake.signing_secret
    settings.FIREBREAK_SLACK_API_URL = fake.base_url
    _slack.cache_clear()
    yield fake
    _slack.cache_clear()
    fake.close()
