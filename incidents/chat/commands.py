"""The `/incident` command's text, parsed into typed commands; no database, no chat calls.

Forms (severity codes come from the Severity table and are passed in):

    /incident P1 "payment service down"      declare (also `declare P1 "…"`)
    /incident ack | update | mitigated [note] | resolve [note]
    /incident severity P2 [reason]
    /incident role scribe @user | me         (commander or ic, investigator, communicator, scribe)
    /incident page @user [@user …]
    /incident help                           (and an empty command)

Mentions arrive escaped by the chat (`<@U123|name>`); people type straight or curly quotes.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass

from portal.integrations.slack_inbound import mention_member_id, mentions_compact, plain_text

COMMAND = "/incident"

USAGE = f"""How to use {COMMAND}:
• `{COMMAND} P1 "payment service down"` declares an incident (you become Incident Commander)
In an incident channel:
• `{COMMAND} ack` acknowledges it
• `{COMMAND} update` posts a status update (opens a form)
• `{COMMAND} severity P2` changes its severity
• `{COMMAND} role scribe @someone` gives a role (commander, investigator, communicator, \
scribe); `me` takes it yourself
• `{COMMAND} page @someone` pages more people
• `{COMMAND} mitigated` marks it mitigated; `{COMMAND} resolve` resolves it
• `{COMMAND} help` shows this"""


@dataclass(frozen=True)
class Declare:
    severity: str
    title: str


@dataclass(frozen=True)
class Acknowledge:
    pass


@dataclass(frozen=True)
class PostUpdate:
    pass


@dataclass(frozen=True)
class ChangeSeverity:
    severity: str
    reason: str = ""


@dataclass(frozen=True)
class AssignRole:
    """Give `role` to the member mentioned; no member id means the person typing it."""

    role: str
    member_id: str = ""


@dataclass(frozen=True)
class PageMore:
    member_ids: tuple[str, ...]


@dataclass(frozen=True)
class Mitigate:
    message: str = ""


@dataclass(frozen=True)
class Resolve:
    message: str = ""


@dataclass(frozen=True)
class Help:
    pass


Command = (
    Declare
    | Acknowledge
    | PostUpdate
    | ChangeSeverity
    | AssignRole
    | PageMore
    | Mitigate
    | Resolve
    | Help
)


class CommandError(Exception):
    """The text is not a command; `message` says what to fix, `usage` how the command reads."""

    def __init__(self, message: str, *, usage: str = USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.usage = usage

    def reply(self) -> str:
        """Return the whole answer to the person: what was wrong, then how to write it."""
        return f"{self.message}\n\n{self.usage}"


# The incident's role values (incidents.models.IncidentRole) by the words people type.
ROLES = {
    "commander": "commander",
    "ic": "commander",
    "investigator": "investigator",
    "communicator": "communicator",
    "scribe": "scribe",
}
ROLE_WORDS = "commander (or ic), investigator, communicator, scribe"
MYSELF = {"me", "myself"}

# Straight, curly and low quotes (escaped here: they look alike).
DOUBLE_QUOTES = '"\u201c\u201d\u201e'
SINGLE_QUOTES = "'\u2018\u2019\u201a"
# What looks like a severity code, to say "not a severity" rather than "unknown command".
SEVERITY_LIKE = re.compile(r"^(?:p|sev)[-_]?\d+$", re.IGNORECASE)
DECLARE_EXAMPLE = f'`{COMMAND} P1 "payment service down"`'


def _severity(word: str, codes: Sequence[str]) -> str | None:
    """Return the severity code the word names, ignoring case, or None."""
    for code in codes:
        if code.lower() == word.lower():
            return code
    return None


def _not_a_severity(word: str, codes: Sequence[str]) -> CommandError:
    return CommandError(f"{word} is not a severity; use one of {', '.join(codes)}.")


def _title(rest: str) -> str:
    """Return the title from what follows the severity: quoted (any quotes) or plain words."""
    rest = rest.strip()
    if not rest:
        raise CommandError(f"Give the incident a title, in quotes: {DECLARE_EXAMPLE}.")
    first = rest[0]
    for family in (DOUBLE_QUOTES, SINGLE_QUOTES):
        if first in family:
            if len(rest) < 2 or rest[-1] not in family:
                raise CommandError(
                    f"The title's quotes are not balanced: it opens with {first} but does not "
                    f"end with a closing quote. Put the whole title in quotes: {DECLARE_EXAMPLE}."
                )
            title = rest[1:-1].strip()
            if not title:
                raise CommandError(
                    f"The title is empty; write it in the quotes: {DECLARE_EXAMPLE}."
                )
            return title
    # Unquoted words are the title as typed; a stray double quote means something was cut off
    # (apostrophes are fine: "Bob's service down").
    if sum(rest.count(quote) for quote in DOUBLE_QUOTES) % 2:
        raise CommandError(
            f"The title's quotes are not balanced. Put the whole title in quotes: "
            f"{DECLARE_EXAMPLE}."
        )
    return rest


def _declare(words: list[str], rest: str, codes: Sequence[str]) -> Declare:
    if not words:
        raise CommandError(f"Say the severity and the title: {DECLARE_EXAMPLE}.")
    severity = _severity(words[0], codes)
    if severity is None:
        raise _not_a_severity(words[0], codes)
    # The chat escapes &, < and > and marks up mentions and links: store what people read.
    return Declare(severity=severity, title=plain_text(_title(rest)))


def _nothing_after(name: str, words: list[str]) -> None:
    if words:
        raise CommandError(f"`{COMMAND} {name}` takes nothing after it; you wrote {words[0]!r}.")


def _member(word: str) -> str:
    member_id = mention_member_id(word)
    if member_id is None:
        raise CommandError(
            f"{word} is not a mention: type @ and pick the person from Slack's list "
            f"(or `me` for yourself)."
        )
    return member_id


def _split_head(text: str) -> tuple[str, str]:
    """Return the first word and the text after it, as typed."""
    head, _, rest = text.strip().partition(" ")
    return head, rest.strip()


def command_parse(text: str, *, severity_codes: Sequence[str]) -> Command:
    """Return the command the text says; raise CommandError saying how to fix it."""
    # Chat clients send non-breaking spaces and tabs too; a line break counts as a space.
    text = re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()
    if not text:
        return Help()
    head, rest = _split_head(text)
    word = head.lower()
    # A mention's label may hold spaces (`<@U1|ann lee>`); only the member id matters.
    words = mentions_compact(rest).split()
    if word == "help":
        return Help()
    if word == "declare":
        severity_word, after = _split_head(rest)
        return _declare([severity_word] if severity_word else [], after, severity_codes)
    if _severity(head, severity_codes) is not None:
        return _declare([head], rest, severity_codes)
    if SEVERITY_LIKE.match(head):
        raise _not_a_severity(head, severity_codes)
    if word in {"ack", "acknowledge"}:
        _nothing_after(word, words)
        return Acknowledge()
    if word == "update":
        _nothing_after(word, words)
        return PostUpdate()
    if word in {"severity", "sev"}:
        if not words:
            raise CommandError(
                f"Say the new severity, one of {', '.join(severity_codes)}: "
                f"`{COMMAND} severity P2`."
            )
        code = _severity(words[0], severity_codes)
        if code is None:
            raise _not_a_severity(words[0], severity_codes)
        return ChangeSeverity(severity=code, reason=plain_text(_split_head(rest)[1]))
    if word == "role":
        if not words:
            raise CommandError(f"Say which role and who: `{COMMAND} role scribe @someone`.")
        role = ROLES.get(words[0].lower())
        if role is None:
            raise CommandError(f"{words[0]} is not a role; use one of {ROLE_WORDS}.")
        if len(words) > 2:
            raise CommandError(
                f"Give a role to one person at a time: `{COMMAND} role {words[0]} @someone`."
            )
        if len(words) == 1 or words[1].lower() in MYSELF:
            return AssignRole(role=role)
        return AssignRole(role=role, member_id=_member(words[1]))
    if word == "page":
        # Mentions may be separated by commas or "and" as people write them.
        targets = [
            w for w in re.split(r"[\s,]+", mentions_compact(rest)) if w and w.lower() != "and"
        ]
        if not targets:
            raise CommandError(f"Say whom to page: `{COMMAND} page @someone @someone-else`.")
        member_ids = tuple(dict.fromkeys(_member(target) for target in targets))
        return PageMore(member_ids=member_ids)
    if word in {"mitigated", "mitigate"}:
        return Mitigate(message=plain_text(rest))
    if word in {"resolve", "resolved"}:
        return Resolve(message=plain_text(rest))
    raise CommandError(f"I don't know `{head}`.")


__all__ = [
    "USAGE",
    "Acknowledge",
    "AssignRole",
    "ChangeSeverity",
    "Command",
    "CommandError",
    "Declare",
    "Help",
    "Mitigate",
    "PageMore",
    "PostUpdate",
    "Resolve",
    "command_parse",
]
