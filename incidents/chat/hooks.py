"""Slack's requests to the portal: slash commands, button clicks and forms, Events API.

Each view reads a bounded raw body, verifies Slack's signature on it (401 and nothing stored
otherwise), parses it, records what must happen and answers within Slack's 3 seconds; the work
runs in Celery. Only three things happen inside the request: refusing a command from a member
the portal does not know (or a declaration from one who may not declare), opening the update
form (its trigger expires in 3 seconds) and posting a submitted update (a quick database write
whose field errors must go back in the answer). Without Slack configured, these addresses do not
exist (404).
"""

import logging

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from incidents.models import Incident
from portal.integrations.chat import ChatError, ChatPlatform, Message, text
from portal.integrations.slack_inbound import (
    BlockAction,
    SlackRequestInvalid,
    ephemeral_reply,
    event_envelope_parse,
    interaction_parse,
    modal_errors,
    request_verified,
    signature_headers,
    slash_command_parse,
)
from portal.webhook_bodies import MAX_BODY_BYTES, BodyTooLarge, read_bounded_body

from .commands import COMMAND, CommandError, Help, PostUpdate, command_parse
from .messages import incident_url
from .modals import STATUS_UPDATE_CALLBACK, status_update_modal
from .models import ChatFormSubmission
from .platform import chat_platform
from .services.commands import (
    BUTTON_ACTIONS,
    NOT_AN_INCIDENT_CHANNEL,
    UPDATE_BUTTON,
    chat_command_receive,
    chat_command_refusal,
    chat_status_update_submit,
    chat_update_form_refusal,
    command_kind,
    incident_for_button,
    incident_for_channel,
    severity_codes,
)
from .services.events import chat_event_receive

logger = logging.getLogger(__name__)

VIEW_ID_MAX = ChatFormSubmission._meta.get_field("view_id").max_length or 60
VIEW_HASH_MAX = ChatFormSubmission._meta.get_field("view_hash").max_length or 120


def _verified_body(request: HttpRequest) -> tuple[ChatPlatform, bytes] | HttpResponse:
    """Return the platform and the signed body, or the answer refusing the request."""
    platform = chat_platform()
    if platform is None:
        raise Http404("Slack is not configured.")
    try:
        body = read_bounded_body(request)
    except BodyTooLarge:
        return HttpResponse(
            f"The body is larger than {MAX_BODY_BYTES // 1024} KB.",
            status=413,
            content_type="text/plain",
        )
    if not request_verified(
        signing_secret=settings.FIREBREAK_SLACK_SIGNING_SECRET,
        body=body,
        headers=signature_headers(request.META),
    ):
        logger.warning("Slack request to %s refused: bad, missing or stale signature", request.path)
        return HttpResponse(
            "The Slack signature is missing, wrong or too old.",
            status=401,
            content_type="text/plain",
        )
    return platform, body


def _bad_request(exc: SlackRequestInvalid) -> HttpResponse:
    return HttpResponse(exc.message, status=400, content_type="text/plain")


def _ephemeral(message: str) -> JsonResponse:
    return JsonResponse(ephemeral_reply(message))


def _open_update_form(
    platform: ChatPlatform, trigger_id: str, member_id: str, incident: Incident
) -> str:
    """Open the status update form now (the trigger expires in 3 s); return an error, if any."""
    refusal = chat_update_form_refusal(platform=platform, member_id=member_id, incident=incident)
    if refusal:
        return refusal
    try:
        platform.open_modal(trigger_id=trigger_id, modal=status_update_modal(incident=incident))
    except ChatError as exc:
        logger.warning("%s: update form not opened: %s", incident.reference, exc)
        return (
            f"I couldn't open the update form ({exc.code or 'Slack error'}); try again, or post "
            f"the update on the incident page: {incident_url(incident)}"
        )
    return ""


@csrf_exempt
@require_POST
def slack_command(request: HttpRequest) -> HttpResponse:
    """Receive `/incident …`: answer help and mistakes at once, run the rest in a task."""
    verified = _verified_body(request)
    if isinstance(verified, HttpResponse):
        return verified
    platform, body = verified
    try:
        slash = slash_command_parse(body)
    except SlackRequestInvalid as exc:
        return _bad_request(exc)
    try:
        command = command_parse(slash.text, severity_codes=severity_codes())
    except CommandError as exc:
        return _ephemeral(exc.reply())
    if isinstance(command, Help):
        return _ephemeral(CommandError("").usage)
    kind = command_kind(command)
    incident = incident_for_channel(platform=platform.name, channel_id=slash.channel_id)
    if kind != "declare" and incident is None:
        return _ephemeral(NOT_AN_INCIDENT_CHANNEL)
    if isinstance(command, PostUpdate):
        assert incident is not None
        error = _open_update_form(platform, slash.trigger_id, slash.member_id, incident)
        return _ephemeral(error) if error else HttpResponse(status=200)
    refusal = chat_command_refusal(platform=platform, member_id=slash.member_id, kind=kind)
    if refusal:
        return _ephemeral(refusal)
    record = chat_command_receive(
        platform=platform.name,
        key=slash.trigger_id,
        member_id=slash.member_id,
        command=kind,
        text=slash.text,
        incident=None if kind == "declare" else incident,
        response_url=slash.response_url,
    )
    if record is None:
        return HttpResponse(status=200)  # a repeat of a command already taken
    if kind == "declare":
        return _ephemeral(f"Declaring {slash.text.strip()} …")
    return _ephemeral(f"Working on it: `{COMMAND} {slash.text.strip()}` …")


def _button(platform: ChatPlatform, action: BlockAction) -> HttpResponse:
    incident = incident_for_button(
        platform=platform.name,
        action_id=action.action_id,
        value=action.value,
        channel_id=action.channel_id,
    )
    if action.action_id == UPDATE_BUTTON:
        if incident is not None:
            error = _open_update_form(platform, action.trigger_id, action.member_id, incident)
            if error and action.response_url:
                # A click's answer is ignored by Slack: say it privately where it was clicked.
                try:
                    platform.reply(response_url=action.response_url, message=Message(text(error)))
                except ChatError as exc:
                    logger.warning("refusal of the update form not delivered: %s", exc)
        return HttpResponse(status=200)
    chat_command_receive(
        platform=platform.name,
        key=action.trigger_id,
        member_id=action.member_id,
        command=action.action_id,
        text=action.value,
        incident=incident,
        response_url=action.response_url,
    )
    return HttpResponse(status=200)


@csrf_exempt
@require_POST
def slack_interactivity(request: HttpRequest) -> HttpResponse:
    """Receive button clicks (run in a task) and update form submissions (posted at once)."""
    verified = _verified_body(request)
    if isinstance(verified, HttpResponse):
        return verified
    platform, body = verified
    try:
        interaction = interaction_parse(body)
    except SlackRequestInvalid as exc:
        return _bad_request(exc)
    if interaction.kind == "block_actions":
        for action in interaction.actions:
            if action.action_id in BUTTON_ACTIONS | {UPDATE_BUTTON} and action.trigger_id:
                return _button(platform, action)
        # Link buttons report their clicks too; nothing to do for them.
        return HttpResponse(status=200)
    submission = interaction.submission
    if submission is not None and submission.callback == STATUS_UPDATE_CALLBACK:
        view = interaction.payload.get("view")
        view_id = view.get("id") if isinstance(view, dict) else None
        view_hash = view.get("hash") if isinstance(view, dict) else None
        if not isinstance(view_id, str) or not view_id or len(view_id) > VIEW_ID_MAX:
            return HttpResponse(
                "A view submission without a view id.", status=400, content_type="text/plain"
            )
        errors = chat_status_update_submit(
            platform=platform,
            submission=submission,
            view_id=view_id,
            view_hash=view_hash[:VIEW_HASH_MAX] if isinstance(view_hash, str) else "",
        )
        if errors:
            return JsonResponse(modal_errors(errors))
    return HttpResponse(status=200)


@csrf_exempt
@require_POST
def slack_events(request: HttpRequest) -> HttpResponse:
    """Receive Events API deliveries: answer the URL check, handle each event once."""
    verified = _verified_body(request)
    if isinstance(verified, HttpResponse):
        return verified
    platform, body = verified
    try:
        envelope = event_envelope_parse(body)
    except SlackRequestInvalid as exc:
        return _bad_request(exc)
    if envelope.kind == "url_verification":
        return JsonResponse({"challenge": envelope.challenge})
    if envelope.kind == "event_callback":
        chat_event_receive(
            platform=platform.name,
            event_id=envelope.event_id,
            event_type=envelope.event_type,
            event=envelope.event,
        )
    return HttpResponse(status=200)
