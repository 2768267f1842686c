"""The chat interface the portal speaks to a team chat: typed, platform-neutral, no models inside.

The portal says *what* a message holds (a headline, lines, fields of the runbook's template,
links, buttons, who is mentioned); an adapter (`portal.integrations.slack`) turns that into its
platform's markup and calls its API. Another platform (Teams, Mattermost) is one more module
implementing `ChatPlatform`.

Every failure is one of the exceptions below, so callers decide by kind, never by the
platform's error strings: `ChatRateLimited` and `ChatUnavailable` are worth retrying (the first
after its `retry_after`), the others are not.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol


class ChatError(Exception):
    """The chat platform refused or failed a call; `code` is its error name, if it gave one."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class ChatRateLimited(ChatError):
    """Too many calls: try again after `retry_after` seconds (never by sleeping in a worker)."""

    def __init__(self, message: str, *, retry_after: float, code: str = "ratelimited") -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class ChatUnavailable(ChatError):
    """The platform could not be reached or answered with a server error; retry later."""


class ChatNotFound(ChatError):
    """The channel, user or message does not exist (or the app cannot see it)."""


class ChatNotInChannel(ChatError):
    """The app is not a member of the channel it tried to post to."""


class ChatAuthError(ChatError):
    """The token is missing, revoked or lacks a scope; an admin must fix the installation."""


class ChatInvalidRequest(ChatError):
    """The platform rejected what was sent (a bug on our side or bad input); do not retry."""


@dataclass(frozen=True)
class Person:
    """Someone to mention: by platform member id when known, else by name in plain text."""

    name: str
    member_id: str = ""


@dataclass(frozen=True)
class Link:
    label: str
    url: str


# A piece of text: plain strings are escaped by the adapter; people and links are rendered
# the platform's way (a mention, a hyperlink).
Inline = str | Person | Link
Text = tuple[Inline, ...]


def text(*parts: Inline) -> Text:
    """Return a piece of text made of strings, mentions and links, in order."""
    return tuple(parts)


@dataclass(frozen=True)
class Field:
    """One labelled value, such as the status update template's `Impact:` line."""

    label: str
    value: Text


@dataclass(frozen=True)
class Button:
    """An interactive button; `action` names what it does, `value` what it applies to."""

    action: str
    label: str
    value: str
    style: Literal["", "primary", "danger"] = ""


@dataclass(frozen=True)
class Message:
    """What one chat message says; `headline` is also the notification's plain text."""

    headline: Text
    lines: tuple[Text, ...] = ()
    fields: tuple[Field, ...] = ()
    links: tuple[Link, ...] = ()
    buttons: tuple[Button, ...] = ()
    context: str = ""
    # Attached to the message invisibly so that a resend after a crash can be detected.
    marker: str = ""


@dataclass(frozen=True)
class Posted:
    """Where a message went: the channel id and the platform's message id (Slack's `ts`)."""

    channel_id: str
    message_id: str


@dataclass(frozen=True)
class Channel:
    channel_id: str
    name: str
    created: bool  # False when a channel of that name already existed and was reused


@dataclass(frozen=True)
class Member:
    """A chat workspace member, as far as the portal needs one."""

    member_id: str
    name: str
    email: str = ""


@dataclass(frozen=True)
class ModalInput:
    """One text input of a modal form; `block` names it in the submission and in its errors."""

    block: str
    label: str
    initial: str = ""
    multiline: bool = False
    optional: bool = False
    hint: str = ""
    max_length: int = 3000


@dataclass(frozen=True)
class Modal:
    """A form in a dialog: `callback` says which form it is, `metadata` carries our own state."""

    callback: str
    title: str
    submit: str
    inputs: tuple[ModalInput, ...] = ()
    intro: str = ""
    metadata: str = ""


@dataclass(frozen=True)
class PinnedMessage:
    """A message someone pinned: its author and time on the platform, and its text."""

    channel_id: str
    message_id: str
    author_member_id: str
    text: str
    posted_at_ts: float


class ChatPlatform(Protocol):
    """What the portal needs from a team chat; every method raises a `ChatError` on failure."""

    name: str

    def open_channel(self, *, name: str, topic: str = "") -> Channel:
        """Create a public channel, or return the existing one of that name (idempotent)."""
        ...

    def invite(self, *, channel_id: str, member_ids: Sequence[str]) -> None:
        """Add members to a channel; members already in it are fine."""
        ...

    def announce(self, *, channel: str, message: Message) -> Posted:
        """Post to a well-known channel given by name (`#incidents`) or id."""
        ...

    def post(self, *, channel_id: str, message: Message) -> Posted:
        """Post a message to a channel."""
        ...

    def update(self, *, channel_id: str, message_id: str, message: Message) -> None:
        """Replace the content of a message posted earlier (say, a page once acknowledged)."""
        ...

    def find_marked(self, *, channel_id: str, marker: str, limit: int = 100) -> str | None:
        """Return the id of a recent message carrying `marker`, if one was already posted."""
        ...

    def direct_message(self, *, member_id: str, message: Message) -> Posted:
        """Send a message to one member privately."""
        ...

    def archive(self, *, channel_id: str) -> None:
        """Archive a channel; one already archived is fine."""
        ...

    def member(self, *, member_id: str) -> Member:
        """Return a member's name and email."""
        ...

    def member_by_email(self, *, email: str) -> Member | None:
        """Return the member with that email address, or None if there is none."""
        ...

    def pinned_message(self, *, channel_id: str, message_id: str) -> PinnedMessage:
        """Return a message of a channel by its id (to record what someone pinned)."""
        ...

    def open_modal(self, *, trigger_id: str, modal: Modal) -> None:
        """Open a form for the person who just acted (the trigger expires in seconds)."""
        ...

    def reply(self, *, response_url: str, message: Message, ephemeral: bool = True) -> None:
        """Answer a command or button click later, through the address the platform gave."""
        ...


@dataclass
class ModalSubmission:
    """A submitted modal: the values by block, whatever the platform's shape."""

    callback: str
    member_id: str
    metadata: str
    values: dict[str, str] = field(default_factory=dict)
