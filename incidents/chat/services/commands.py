"""Slash commands, buttons and the update form from the chat, run as the member's portal user.

A command or button press is recorded once by its trigger id (`ChatCommand`) when it arrives,
and run after commit in a task by `chat_command_run`: it maps the member to a portal user and
calls the same service the web form calls, under the same permissions, with `source=slack`.
The record keeps what happened (`finished_at`, `outcome`), so a retried task never acts twice;
the answer to the person goes out through the command's `response_url` afterwards, and only
that reply is retried when the chat is busy.
"""

import logging
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from incidents.forms import StatusUpdateForm
from incidents.models import (
    Incident,
    IncidentRole,
    IncidentStatus,
    Severity,
    Source,
)
from incidents.oncall.acks import PageGone, page_acknowledge_as
from incidents.oncall.escalation import page_targets
from incidents.oncall.models import Page
from incidents.oncall.paging import page_more
from incidents.policies import Action, require
from incidents.selectors import severity_list
from incidents.services import (
    incident_acknowledge,
    incident_change_severity,
    incident_declare,
    incident_mitigate,
    incident_resolve,
    incident_role_assign,
    status_update_post,
)
from portal.errors import ApplicationError, PermissionDeniedError
from portal.integrations.chat import (
    ChatError,
    ChatPlatform,
    ChatRateLimited,
    ChatUnavailable,
    Link,
    Message,
    ModalSubmission,
    text,
)
from portal.people import display_name
from portal.timers import timer_schedule

from ..accounts import chat_account_user
from ..commands import (
    COMMAND,
    Acknowledge,
    AssignRole,
    ChangeSeverity,
    Command,
    CommandError,
    Declare,
    Help,
    Mitigate,
    PageMore,
    PostUpdate,
    Resolve,
    command_parse,
)
from ..messages import (
    ACTION_INCIDENT_ACK,
    ACTION_INCIDENT_RESOLVE,
    ACTION_INCIDENT_UPDATE,
    ACTION_PAGE_ACK,
    incident_url,
)
from ..modals import STATUS_UPDATE_FIELDS, STATUS_WORDS
from ..models import ChatCommand, ChatFormSubmission, IncidentChannel
from ..platform import chat_platform

logger = logging.getLogger(__name__)

# Timer kinds (handlers in ..tasks): run a recorded command once, then answer its member.
COMMAND_RUN_KIND = "chat.command_run"
COMMAND_REPLY_KIND = "chat.command_reply"

# Buttons on the messages the portal posts (action ids), run like commands.
ACK_BUTTON = ACTION_INCIDENT_ACK
UPDATE_BUTTON = ACTION_INCIDENT_UPDATE
RESOLVE_BUTTON = ACTION_INCIDENT_RESOLVE
PAGE_ACK_BUTTON = ACTION_PAGE_ACK
BUTTON_ACTIONS = frozenset({ACK_BUTTON, RESOLVE_BUTTON, PAGE_ACK_BUTTON})

UNKNOWN_MEMBER = (
    "I don't know who you are in Firebreak: ask an admin to add your Slack member ID to your "
    "Firebreak account, or use the same email address in Slack and in Firebreak."
)
NOT_AN_INCIDENT_CHANNEL = (
    "This is not an incident channel. Run it in the incident's own channel, or declare one: "
    f'`{COMMAND} P1 "payment service down"`.'
)
OUTCOME_MAX = ChatCommand._meta.get_field("outcome").max_length or 300
TITLE_MAX = Incident._meta.get_field("title").max_length or 200


class CommandRefused(Exception):
    """The command can't run as asked; `message` tells the person what to do instead."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str


def severity_codes() -> list[str]:
    """Return the severity codes people may type, most severe first."""
    return list(severity_list().values_list("code", flat=True))


def incident_for_channel(*, platform: str, channel_id: str) -> Incident | None:
    """Return the incident whose own channel this is, or None."""
    if not channel_id:
        return None
    channel = (
        IncidentChannel.objects.select_related("incident__severity")
        .filter(platform=platform, channel_id=channel_id)
        .first()
    )
    return channel.incident if channel is not None else None


def incident_for_button(
    *, platform: str, action_id: str, value: str, channel_id: str
) -> Incident | None:
    """Return the incident a button acts on: named by its value, else its channel's."""
    if action_id == PAGE_ACK_BUTTON:
        page = Page.objects.select_related("incident").filter(pk=_int(value)).first()
        return page.incident if page is not None else None
    if value.isdigit():
        incident = Incident.objects.select_related("severity").filter(pk=int(value)).first()
        if incident is not None:
            return incident
    return incident_for_channel(platform=platform, channel_id=channel_id)


def _int(value: str) -> int:
    return int(value) if value.isdigit() else 0


def command_kind(command: Command) -> str:
    """Return the short name a parsed command is recorded under."""
    return {
        Declare: "declare",
        Acknowledge: "ack",
        PostUpdate: "update",
        ChangeSeverity: "severity",
        AssignRole: "role",
        PageMore: "page",
        Mitigate: "mitigated",
        Resolve: "resolve",
        Help: "help",
    }[type(command)]


def chat_command_receive(
    *,
    platform: str,
    key: str,
    member_id: str,
    command: str,
    text: str,
    incident: Incident | None,
    response_url: str,
) -> ChatCommand | None:
    """Record a command or button press once by its trigger id, and have a worker run it.

    Return None when that trigger id was recorded before (Slack repeated the request).
    """
    try:
        with transaction.atomic():
            record = ChatCommand.objects.create(
                platform=platform,
                key=key,
                member_id=member_id,
                command=command,
                text=text,
                incident=incident,
            )
            # The run is a timer written with the record: a broker that is down, or a worker
            # that dies, delays the command but never loses it.
            timer_schedule(
                kind=COMMAND_RUN_KIND,
                key=f"chat.command-{record.pk}",
                due_at=timezone.now(),
                payload={"command_id": record.pk, "response_url": response_url},
                fresh=True,
            )
    except IntegrityError:
        logger.info("%s command %s arrived again; done once already", platform, key)
        return None
    return record


def _channel_open_schedule(*, incident: Incident, requested_by: User) -> bool:
    """Open the channel of an incident whose severity gets one by itself; return whether."""
    # Imported late: the outbound side of the chat app builds on the same records.
    from .channels import channel_auto_opens, channel_open_schedule

    if not channel_auto_opens(incident.severity):
        return False
    channel_open_schedule(incident=incident, requested_by=requested_by)
    return True


def _mapped(platform: ChatPlatform, member_id: str) -> User:
    user = chat_account_user(platform=platform, member_id=member_id)
    if user is None:
        raise CommandRefused(
            f"I don't know who <@{member_id}> is in Firebreak: ask an admin to add their Slack "
            "member ID to their Firebreak account."
        )
    return user


def _severity(code: str) -> Severity:
    severity = Severity.objects.filter(code=code).first()
    if severity is None:
        raise CommandRefused(
            f"{code} is no longer a severity; use one of {', '.join(severity_codes())}."
        )
    return severity


def _command_of(record: ChatCommand) -> Command:
    """Return what a record asks for: a button's command, or the typed text parsed again."""
    if record.command == ACK_BUTTON:
        return Acknowledge()
    if record.command == RESOLVE_BUTTON:
        return Resolve()
    return command_parse(record.text, severity_codes=severity_codes())


def _incident(record: ChatCommand) -> Incident:
    if record.incident is None:
        raise CommandRefused(NOT_AN_INCIDENT_CHANNEL)
    return record.incident


def _declare(record: ChatCommand, command: Declare, user: User) -> Outcome:
    if len(command.title) > TITLE_MAX:
        raise CommandRefused(
            f"The title is {len(command.title)} characters long; keep it within {TITLE_MAX}."
        )
    incident = incident_declare(
        actor=user,
        title=command.title,
        severity=_severity(command.severity),
        source=Source.SLACK,
    )
    record.incident = incident
    declared = (
        f"Declared {incident.reference} ({incident.severity.code}): {incident.title}. "
        "You are Incident Commander"
    )
    if _channel_open_schedule(incident=incident, requested_by=user):
        return Outcome(True, f"{declared}; the incident channel is being opened and announced.")
    # Only the severities that call for a war room get one by themselves, wherever declared.
    return Outcome(
        True,
        f"{declared}. {incident.severity.code} incidents get no channel of their own; "
        "open one from the incident page if you need it.",
    )


def _acknowledge(incident: Incident, user: User) -> Outcome:
    if incident.status not in (IncidentStatus.TRIGGERED, IncidentStatus.ACKNOWLEDGED):
        # Declared incidents and those being worked on were acknowledged already: say so
        # (to those who may acknowledge) rather than refuse a transition nobody asked to make.
        require(user, Action.ACKNOWLEDGE, incident)
        return Outcome(
            True,
            f"{incident.reference} is already acknowledged; it is "
            f"{incident.get_status_display().lower()}.",
        )
    already = incident.status == IncidentStatus.ACKNOWLEDGED
    incident = incident_acknowledge(incident=incident, actor=user, source=Source.SLACK)
    if already:
        return Outcome(True, f"{incident.reference} was already acknowledged.")
    return Outcome(True, f"Acknowledged {incident.reference}: paging stops.")


def _change_severity(incident: Incident, command: ChangeSeverity, user: User) -> Outcome:
    old = incident.severity.code
    incident = incident_change_severity(
        incident=incident,
        actor=user,
        severity=_severity(command.severity),
        reason=command.reason,
        source=Source.SLACK,
    )
    if incident.severity.code == old:
        return Outcome(True, f"{incident.reference} is already {old}.")
    return Outcome(True, f"{incident.reference} is now {incident.severity.code} (was {old}).")


def _assign_role(
    platform: ChatPlatform, incident: Incident, command: AssignRole, user: User
) -> Outcome:
    holder = _mapped(platform, command.member_id) if command.member_id else user
    assignment = incident_role_assign(
        incident=incident, actor=user, role=command.role, user=holder, source=Source.SLACK
    )
    label = IncidentRole(assignment.role).label
    who = "You are" if holder.pk == user.pk else f"{display_name(holder)} is"
    return Outcome(True, f"{who} {label} of {incident.reference}.")


def _page(platform: ChatPlatform, incident: Incident, command: PageMore, user: User) -> Outcome:
    users: list[User] = []
    unknown: list[str] = []
    for member_id in command.member_ids:
        mapped = chat_account_user(platform=platform, member_id=member_id)
        if mapped is None:
            unknown.append(f"<@{member_id}>")
        else:
            users.append(mapped)
    if unknown:
        raise CommandRefused(
            f"I don't know who {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} in "
            "Firebreak, so I paged nobody: ask an admin to add their Slack member IDs."
        )
    pages = page_more(
        incident=incident,
        actor=user,
        targets=page_targets(users=users),
        source=Source.SLACK,
    )
    paged = {page.recipient_id for page in pages}
    names = ", ".join(display_name(person) for person in users if person.pk in paged)
    if not names:
        return Outcome(True, f"Those people were paged for {incident.reference} already.")
    return Outcome(True, f"Paged {names} for {incident.reference}.")


def _mitigate(incident: Incident, command: Mitigate, user: User) -> Outcome:
    incident = incident_mitigate(
        incident=incident, actor=user, message=command.message, source=Source.SLACK
    )
    return Outcome(True, f"{incident.reference} is mitigated; keep monitoring it.")


def _resolve(incident: Incident, command: Resolve, user: User) -> Outcome:
    incident = incident_resolve(
        incident=incident, actor=user, message=command.message, source=Source.SLACK
    )
    return Outcome(True, f"{incident.reference} is resolved.")


def _page_acknowledge(record: ChatCommand, user: User) -> Outcome:
    """Acknowledge a page from its DM button, as its ack link does, but as the clicking user."""
    try:
        page, acted = page_acknowledge_as(
            page_id=_int(record.text), actor=user, source=Source.SLACK
        )
    except PageGone as exc:
        raise CommandRefused(str(exc)) from None
    incident = page.incident
    if acted:
        return Outcome(True, f"Acknowledged {incident.reference}: paging stops.")
    return Outcome(
        True,
        f"{incident.reference} was acknowledged already; it is "
        f"{incident.get_status_display().lower()}.",
    )


def _act(platform: ChatPlatform, record: ChatCommand, user: User) -> Outcome:
    if record.command == PAGE_ACK_BUTTON:
        return _page_acknowledge(record, user)
    command = _command_of(record)
    if isinstance(command, Declare):
        return _declare(record, command, user)
    if isinstance(command, Help | PostUpdate):
        # Answered in the request; recorded only if a client sent it here anyway.
        return Outcome(True, f"Type `{COMMAND} help` for what I can do.")
    incident = _incident(record)
    if isinstance(command, Acknowledge):
        return _acknowledge(incident, user)
    if isinstance(command, ChangeSeverity):
        return _change_severity(incident, command, user)
    if isinstance(command, AssignRole):
        return _assign_role(platform, incident, command, user)
    if isinstance(command, PageMore):
        return _page(platform, incident, command, user)
    if isinstance(command, Mitigate):
        return _mitigate(incident, command, user)
    return _resolve(incident, command, user)


def _lookup_refused(exc: ChatError) -> str:
    return (
        f"I couldn't look you up in Slack ({exc.code or exc}): ask an admin to check the "
        "Slack app's installation."
    )


def _clip(message: str) -> str:
    return message if len(message) <= OUTCOME_MAX else message[: OUTCOME_MAX - 1] + "…"


def chat_command_run(*, command_id: int) -> bool:
    """Run a recorded command once as its member's portal user; return whether it ran now.

    Raises ChatRateLimited or ChatUnavailable (nothing done yet) when the member could not be
    looked up in the chat; the caller retries later.
    """
    platform = chat_platform()
    if platform is None:
        logger.info("chat command %s not run: chat is not configured any more", command_id)
        return False
    record = ChatCommand.objects.filter(pk=command_id).first()
    if record is None or record.finished_at is not None:
        return False
    # May ask the chat for the member's email (outside the lock: it is a network call).
    refusal = UNKNOWN_MEMBER
    try:
        user = chat_account_user(platform=platform, member_id=record.member_id)
    except (ChatRateLimited, ChatUnavailable):
        raise
    except ChatError as exc:
        # A revoked token or a missing scope: retrying will not help, an admin will.
        logger.error(
            "chat command %s: member %s not looked up: %s", command_id, record.member_id, exc
        )
        user = None
        refusal = _lookup_refused(exc)
    with transaction.atomic():
        record = (
            ChatCommand.objects.select_for_update(of=("self",))
            .select_related("incident__severity")
            .get(pk=command_id)
        )
        if record.finished_at is not None:
            return False  # a concurrent run of the same task got here first
        if user is None:
            outcome = Outcome(False, refusal)
        else:
            incident = record.incident
            try:
                # A refusal rolls back whatever the service wrote; the record still commits.
                with transaction.atomic():
                    outcome = _act(platform, record, user)
            except (ApplicationError, CommandError, CommandRefused) as exc:
                record.incident = incident  # a declaration that rolled back made none
                outcome = Outcome(False, exc.message)
        record.finished_at = timezone.now()
        record.outcome = _clip(outcome.message if outcome.ok else f"✗ {outcome.message}")
        record.save(update_fields=["finished_at", "outcome", "incident"])
    logger.info("chat command %s (%s): %s", record.pk, record.command, record.outcome)
    return True


def chat_command_reply_message(*, record: ChatCommand) -> Message:
    """Return the answer to a finished command: what happened, and the incident's link."""
    links: tuple[Link, ...] = ()
    if record.incident is not None:
        links = (Link(f"Open {record.incident.reference}", incident_url(record.incident)),)
    return Message(headline=text(record.outcome), links=links)


def chat_command_reply(*, command_id: int, response_url: str) -> None:
    """Tell the person privately what their command did; raises ChatError on failure."""
    platform = chat_platform()
    record = ChatCommand.objects.select_related("incident").filter(pk=command_id).first()
    if platform is None or record is None or not response_url or record.finished_at is None:
        return
    platform.reply(
        response_url=response_url,
        message=chat_command_reply_message(record=record),
        ephemeral=True,
    )


# --- The status update form --------------------------------------------------------------------


def chat_command_refusal(*, platform: ChatPlatform, member_id: str, kind: str) -> str:
    """Return why a slash command is refused before it is taken, or "" to take it.

    Asked in the request so the member's first answer is the refusal, not "Declaring …":
    a member the portal does not know, one Slack refuses to look up, or one who may not
    declare. A chat that is busy right now lets the command through (its run looks the member
    up again).
    """
    try:
        user = chat_account_user(platform=platform, member_id=member_id)
    except (ChatRateLimited, ChatUnavailable) as exc:
        logger.warning("member %s not looked up before a command: %s", member_id, exc)
        return ""
    except ChatError as exc:
        # A revoked token or a missing scope: the run would refuse the same way.
        logger.error("member %s not looked up: %s", member_id, exc)
        return _lookup_refused(exc)
    if user is None:
        return UNKNOWN_MEMBER
    if kind == "declare":
        try:
            require(user, Action.DECLARE)
        except PermissionDeniedError as exc:
            return exc.message
    return ""


def chat_update_form_refusal(*, platform: ChatPlatform, member_id: str, incident: Incident) -> str:
    """Return why the member may not post an update on the incident, or "" if they may.

    Asked before the form opens, so nobody fills in a form that will be refused; a chat that
    cannot be asked right now lets the form open (the submission checks again).
    """
    try:
        user = chat_account_user(platform=platform, member_id=member_id)
    except ChatError as exc:
        logger.warning("member %s not looked up before the update form: %s", member_id, exc)
        return ""
    if user is None:
        return UNKNOWN_MEMBER
    try:
        require(user, Action.STATUS_UPDATE, incident)
    except PermissionDeniedError as exc:
        return exc.message
    return ""


def chat_status_update_submit(
    *, platform: ChatPlatform, submission: ModalSubmission, view_id: str, view_hash: str = ""
) -> dict[str, str]:
    """Post the status update a member submitted in the chat's form; return errors by block.

    Validates with the web form's rules and calls the same service; nothing is written when
    any field is wrong. An empty result means the update was posted, now or by an earlier
    submission of the same form: the form is recorded once by its view id with the update it
    posted (`ChatFormSubmission`), so a double submit posts one update, and one channel post.
    """
    first = STATUS_UPDATE_FIELDS[0]
    incident = (
        Incident.objects.select_related("severity").filter(pk=_int(submission.metadata)).first()
    )
    if incident is None:
        return {first: "This incident no longer exists."}
    user = chat_account_user(platform=platform, member_id=submission.member_id)
    if user is None:
        return {first: UNKNOWN_MEMBER}
    values = dict(submission.values)
    values["status"] = values.get("status", "").strip().upper()
    form = StatusUpdateForm(
        data={name: values.get(name, "") for name in STATUS_UPDATE_FIELDS}, incident=incident
    )
    if not form.is_valid():
        errors: dict[str, str] = {}
        for name, messages in form.errors.items():
            block = name if name in STATUS_UPDATE_FIELDS else first
            errors[block] = (
                f"Write {STATUS_WORDS}."
                if name == "status"
                else " ".join(str(message) for message in messages)
            )
        return errors
    data = form.cleaned_data
    try:
        with transaction.atomic():
            try:
                # Recorded first: a concurrent repeat waits on the row, then finds it taken.
                with transaction.atomic():
                    record = ChatFormSubmission.objects.create(
                        platform=platform.name,
                        view_id=view_id,
                        view_hash=view_hash,
                        callback=submission.callback,
                        member_id=submission.member_id,
                        incident=incident,
                    )
            except IntegrityError:
                logger.info("%s form %s submitted again; taken once", platform.name, view_id)
                return {}
            record.status_update = status_update_post(
                incident=incident,
                actor=user,
                status=data["status"],
                impact=data["impact"],
                last_action=data["last_action"],
                next_action=data["next_action"],
                eta=data["eta"],
                source=Source.SLACK,
            )
            record.save(update_fields=["status_update"])
    except ApplicationError as exc:
        field = exc.extra.get("field")
        block = field if isinstance(field, str) and field in STATUS_UPDATE_FIELDS else first
        return {block: exc.message}
    return {}


__all__ = [
    "ACK_BUTTON",
    "BUTTON_ACTIONS",
    "PAGE_ACK_BUTTON",
    "RESOLVE_BUTTON",
    "UPDATE_BUTTON",
    "chat_command_receive",
    "chat_command_refusal",
    "chat_command_reply",
    "chat_command_run",
    "chat_status_update_submit",
    "chat_update_form_refusal",
]
