"""Inbound alert webhooks: authenticate the sender, read a bounded body, call one service.

Status codes a sender can act on: 400 names the malformed field (do not retry), 401 a wrong or
missing secret, 413 a body over 512 KB; 5xx means retry. Nothing is stored from a rejected request:
services validate the whole payload before they write.
"""

import base64
import binascii
import json
import logging
from collections.abc import Callable, Collection
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from incidents.heartbeats.services import heartbeat_watchdog_take
from incidents.heartbeats.watchdog import watchdog_in_delivery
from portal.errors import ApplicationError
from portal.webhook_bodies import MAX_BODY_BYTES, BodyTooLarge, read_bounded_body

from . import selectors, services
from .formats import PayloadInvalid, pagerduty_routing_key, parse_alertmanager
from .models import AlertSource
from .services import IngestResult

logger = logging.getLogger(__name__)

Ingest = Callable[..., IngestResult]
CountRepeat = Callable[..., IngestResult | None]


class BodyNotJson(Exception):
    pass


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        # JSONDecodeError and UnicodeDecodeError are ValueErrors.
        raise BodyNotJson(str(exc)[:200]) from exc


def _secret(request: HttpRequest) -> str:
    """Return the secret from `Authorization: Bearer …` (or Basic, as the password)."""
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    return ""


def _error(status: int, detail: str, field: str | None = None, **extra: Any) -> JsonResponse:
    body: dict[str, Any] = {"detail": detail}
    if field:
        body["field"] = field
    body.update(extra)
    response = JsonResponse(body, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="firebreak-hooks"'
    return response


def _bearer_hook(
    request: HttpRequest,
    source_id: int,
    kinds: Collection[str],
    ingest: Ingest,
    *,
    status: int = 200,
    count_repeat: CountRepeat | None = None,
    heartbeats: bool = False,
) -> JsonResponse:
    try:
        body = read_bounded_body(request)
        secret = _secret(request)
        try:
            payload, not_json = _json(body), None
        except BodyNotJson as exc:
            payload, not_json = None, exc
        if (
            heartbeats
            and not_json is None
            and watchdog_in_delivery(source_id=source_id, payload=payload)
        ):
            return _heartbeat_delivery(source_id, kinds, ingest, secret, payload, status)
        if count_repeat is not None and not_json is None:
            # A plain repeat is counted in one statement that also checks the secret; anything
            # else is answered below, in the usual order: 401 or 404 before 400.
            counted = count_repeat(source_id=source_id, kinds=kinds, secret=secret, payload=payload)
            if counted is not None:
                return JsonResponse(_summary(counted), status=status)
        source = selectors.alert_source_for_hook(source_id=source_id, kinds=kinds, secret=secret)
        if not_json is not None:
            raise not_json
        if count_repeat is not None:
            result = ingest(source=source, payload=payload, repeat_checked=True)
        else:
            result = ingest(source=source, payload=payload)
    except BodyTooLarge:
        return _error(413, f"The body is larger than {MAX_BODY_BYTES // 1024} KB.")
    except BodyNotJson as exc:
        return _error(400, f"The body is not valid JSON: {exc}", field="body")
    except PayloadInvalid as exc:
        logger.info("alert source %s sent an invalid payload: %s", source_id, exc.message)
        return _error(400, exc.message, field=exc.field, errors=dict(exc.errors))
    except ApplicationError as exc:
        return _error(exc.status_code, exc.message, field=exc.extra.get("field"))  # type: ignore[arg-type]
    return JsonResponse(_summary(result), status=status)


def _heartbeat_delivery(
    source_id: int,
    kinds: Collection[str],
    ingest: Ingest,
    secret: str,
    payload: Any,
    status: int,
) -> JsonResponse:
    """A delivery carrying a heartbeat's Watchdog: that alert pings it, the others are ingested.

    docs/ARCHITECTURE.md, Heartbeats. Only deliveries with an alert name some heartbeat of this
    source watches come here (known without a query); they are authenticated and validated whole
    before the ping, and the delivery's other alerts are ingested as usual.
    """
    source = selectors.alert_source_for_hook(source_id=source_id, kinds=kinds, secret=secret)
    parse_alertmanager(payload)
    taken = heartbeat_watchdog_take(source=source, payload=payload)
    result = ingest(source=source, payload=taken.rest) if taken.rest["alerts"] else IngestResult()
    summary = {**_summary(result), "heartbeat_alerts": taken.taken}
    return JsonResponse({**summary, "heartbeats_pinged": len(taken.pings)}, status=status)


def _summary(result: IngestResult) -> dict[str, Any]:
    return {
        "status": "success",
        **({"dedup_key": result.dedup_key} if result.dedup_key else {}),
        "created": result.created,
        "repeated": result.repeated,
        "resolved": result.resolved,
        "dropped": result.dropped,
        "incidents_opened": [incident.reference for incident in result.incidents_opened],
    }


@csrf_exempt
@require_POST
def alertmanager_hook(request: HttpRequest, source_id: int) -> JsonResponse:
    """Receive a Prometheus Alertmanager webhook (version 4); a heartbeat's Watchdog pings it."""
    return _bearer_hook(
        request,
        source_id,
        {AlertSource.Kind.ALERTMANAGER},
        services.alertmanager_ingest,
        count_repeat=services.alertmanager_count_repeat,
        heartbeats=True,
    )


@csrf_exempt
@require_POST
def grafana_hook(request: HttpRequest, source_id: int) -> JsonResponse:
    """Receive a Grafana webhook contact point's notification (version 1)."""
    return _bearer_hook(
        request,
        source_id,
        {AlertSource.Kind.GRAFANA},
        services.alertmanager_ingest,
        count_repeat=services.alertmanager_count_repeat,
    )


@csrf_exempt
@require_POST
def generic_hook(request: HttpRequest, source_id: int) -> JsonResponse:
    """Receive a generic JSON alert; the reply (202) carries its dedup key."""
    return _bearer_hook(
        request, source_id, {AlertSource.Kind.GENERIC}, services.generic_ingest, status=202
    )


PAGERDUTY_ERROR_STATUS = {401: "unauthorized", 404: "not found"}


def _pagerduty_error(status: int, message: str, errors: list[str]) -> JsonResponse:
    """Answer in the Events API's error shape; a 4xx tells the sender not to retry."""
    word = PAGERDUTY_ERROR_STATUS.get(status, "invalid event")
    return JsonResponse({"status": word, "message": message, "errors": errors}, status=status)


@csrf_exempt
@require_POST
def pagerduty_enqueue(request: HttpRequest) -> JsonResponse:
    """Receive a PagerDuty Events API v2 event; the routing key in the body is the secret."""
    try:
        body = read_bounded_body(request)
        data = _json(body)
        source = selectors.alert_source_for_routing_key(routing_key=pagerduty_routing_key(data))
        result = services.pagerduty_event(source=source, event=data)
    except BodyTooLarge:
        return _pagerduty_error(
            413,
            "Request entity too large",
            [f"The body is larger than {MAX_BODY_BYTES // 1024} KB."],
        )
    except BodyNotJson as exc:
        return _pagerduty_error(400, "Event object is invalid", [f"body: not valid JSON ({exc})"])
    except PayloadInvalid as exc:
        return _pagerduty_error(400, "Event object is invalid", exc.messages())
    except ApplicationError as exc:
        return _pagerduty_error(exc.status_code, exc.message, [exc.message])
    return JsonResponse(
        {"status": "success", "message": "Event processed", "dedup_key": result.dedup_key},
        status=202,
    )
