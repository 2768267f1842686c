"""Idempotency-Key on the API's creating POSTs: a retried request creates nothing twice.

A client whose POST got no answer (a timeout, a dropped connection, a 5xx from a proxy) cannot
know whether its incident was declared. Sent with an ``Idempotency-Key`` header (as at Stripe,
PagerDuty and in draft-ietf-httpapi-idempotency-key-header), the retry is safe:

- the first request with a key runs, and its answer (status and JSON body) is stored with the
  key, in the transaction of its work: committed together or not at all;
- a repeat with the same key and body gets the stored answer again with
  ``Idempotent-Replayed: true``, without running the view;
- the same key with another body answers 422; the same key while the first request is still
  running answers 409 (PostgreSQL; SQLite runs one writer at a time, so the repeat waits and
  gets the replay);
- only 2xx answers are stored: a request refused (400, 403, 409...) changed nothing, so a
  corrected retry with the same key runs.

Keys are opaque strings of 1 to 255 printable ASCII characters, scoped to the signed-in user (or
the API token's user), the method and the path. They are replayed for
``FIREBREAK_IDEMPOTENCY_TTL_HOURS`` (24); a beat task deletes older ones. Decorate each creating
view method with :func:`idempotent`; the schema hook documents the header and its answers.
"""

import functools
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.http.request import RawPostDataException
from django.http.response import HttpResponseBase
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from portal.errors import ApplicationError
from portal.models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Headers of the first answer that a replay repeats besides its status and body.
STORED_HEADERS = ("Location",)
_VALID_KEY = re.compile(r"[\x20-\x7e]{1,255}")

ViewMethod = TypeVar("ViewMethod", bound=Callable[..., HttpResponseBase])


class IdempotencyError(ApplicationError):
    """A request the key refuses; the body names the reason in `code`."""

    code = ""

    def __init__(self, message: str) -> None:
        super().__init__(message, extra={"code": self.code})


class IdempotencyKeyInvalid(IdempotencyError):
    status_code = 400
    code = "idempotency_key_invalid"


class IdempotencyKeyInUse(IdempotencyError):
    status_code = 409
    code = "idempotency_key_in_use"


class IdempotencyKeyReused(IdempotencyError):
    status_code = 422
    code = "idempotency_key_reused"


def idempotency_ttl() -> timedelta:
    """Return how long a stored answer is replayed."""
    return timedelta(hours=settings.FIREBREAK_IDEMPOTENCY_TTL_HOURS)


def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Delete the stored answers older than the TTL; return how many went."""
    cutoff = (now or timezone.now()) - idempotency_ttl()
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def parse_key(value: str) -> str:
    """Return the key if it is 1 to 255 printable ASCII characters, else raise a 400."""
    if not _VALID_KEY.fullmatch(value):
        raise IdempotencyKeyInvalid(
            f"{HEADER} must be 1 to 255 printable ASCII characters (a random UUID, say)."
        )
    return value


def _canonical_json(data: Any) -> bytes:
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode()


def request_fingerprint(request: Request) -> str:
    """Return the SHA-256 of the request's body, JSON in a canonical form (sorted keys, no
    insignificant whitespace), so an equal body written differently is the same request."""
    try:
        raw: bytes | None = request.body
    except RawPostDataException:  # already read as a stream (a multipart upload, say)
        raw = None
    if raw is not None:
        try:
            canonical = b"json:" + _canonical_json(json.loads(raw))
        except ValueError:  # not JSON (UnicodeDecodeError is a ValueError too)
            canonical = b"raw:" + raw
    else:
        data = request.data
        if hasattr(data, "lists"):  # a QueryDict: keep repeated fields
            data = {name: values for name, values in data.lists()}
        canonical = b"json:" + _canonical_json(data)
    return hashlib.sha256(canonical).hexdigest()


def _scope(method: str, path: str) -> str:
    return hashlib.sha256(f"{method} {path}".encode()).hexdigest()


def _try_lock(user_id: int, scope: str, key: str) -> bool:
    """Take the key's lock for this transaction; False if a running request holds it.

    PostgreSQL only (an advisory lock, so the repeat answers 409 at once instead of waiting on
    the unique index); elsewhere writers are serialised and the unique constraint decides.
    """
    if connection.vendor != "postgresql":
        return True
    digest = hashlib.sha256(f"idempotency-key\0{user_id}\0{scope}\0{key}".encode()).digest()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(%s)",
            [int.from_bytes(digest[:8], "big", signed=True)],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def _stored(*, user_id: int, scope: str, key: str) -> IdempotencyKey | None:
    """Return the committed answer under the key, forgetting it once expired."""
    record = IdempotencyKey.objects.filter(user_id=user_id, scope=scope, key=key).first()
    if record is not None and record.created_at < timezone.now() - idempotency_ttl():
        record.delete()
        return None
    return record


def _in_use() -> IdempotencyKeyInUse:
    return IdempotencyKeyInUse(
        f"A request with this {HEADER} is still being processed; retry once it has finished."
    )


def _replay(record: IdempotencyKey, fingerprint: str) -> Response:
    if record.status_code is None:  # not committed: another request is still running
        raise _in_use()
    if not hmac.compare_digest(record.fingerprint, fingerprint):
        raise IdempotencyKeyReused(
            f"This {HEADER} was already used with a different request body; "
            "send a new key for a new request."
        )
    headers = {**record.response_headers, REPLAYED_HEADER: "true"}
    return Response(record.response_body, status=record.status_code, headers=headers)


def respond_once(request: Request, run: Callable[[], HttpResponseBase]) -> HttpResponseBase:
    """Answer the request by `run`, or by replaying the answer stored under its key."""
    value = request.headers.get(HEADER)
    user = request.user
    if value is None or not user or not user.is_authenticated:
        return run()
    key = parse_key(value)
    fingerprint = request_fingerprint(request)
    method = cast(str, request.method)
    scope = _scope(method, request.path)
    user_id = cast(int, user.pk)
    with transaction.atomic():
        if not _try_lock(user_id, scope, key):
            raise _in_use()
        record = _stored(user_id=user_id, scope=scope, key=key)
        if record is not None:
            return _replay(record, fingerprint)
        try:
            with transaction.atomic():
                # Claimed before the work: where no lock answered 409, a simultaneous repeat
                # waits here on the unique index and then finds the committed answer.
                record = IdempotencyKey.objects.create(
                    user_id=user_id,
                    method=method,
                    path=request.path,
                    scope=scope,
                    key=key,
                    fingerprint=fingerprint,
                )
        except IntegrityError:
            record = _stored(user_id=user_id, scope=scope, key=key)
            if record is None:
                raise _in_use() from None
            return _replay(record, fingerprint)
        # An exception from the view rolls back its work and the claim alike.
        response = run()
        if isinstance(response, Response) and status.is_success(response.status_code):
            record.status_code = response.status_code
            record.response_body = response.data
            record.response_headers = {
                name: str(response[name]) for name in STORED_HEADERS if response.has_header(name)
            }
            record.save(update_fields=["status_code", "response_body", "response_headers"])
        else:  # refused: nothing to replay, and a corrected retry with the key must run
            record.delete()
        return response


KEY_PARAMETER = OpenApiParameter(
    HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=False,
    pattern=r"^[ -~]{1,255}$",
    description=(
        "Makes a retry safe: for 24 hours (by default) a repeat with the same key and body gets "
        f"the first answer again, with `{REPLAYED_HEADER}: true`, and creates nothing. The same "
        "key with another body answers 422; while the first request is still running, 409. "
        "Keys are 1 to 255 printable ASCII characters (a random UUID, say), per user and "
        "endpoint. Only successful answers are kept: after a refusal the same key runs again."
    ),
)


def idempotent(view_method: ViewMethod) -> ViewMethod:
    """Honour Idempotency-Key on the POSTs of a view method (other methods run as they are).

    Apply it above ``@action`` and ``@extend_schema``; it adds the header to the schema.
    """

    @functools.wraps(view_method)
    def wrapper(view: Any, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method != "POST":
            return view_method(view, request, *args, **kwargs)
        return respond_once(request, lambda: view_method(view, request, *args, **kwargs))

    return cast(ViewMethod, extend_schema(methods=["POST"], parameters=[KEY_PARAMETER])(wrapper))


# --- Schema ---------------------------------------------------------------------------------------

_ERROR_COMPONENT = "IdempotencyError"
_ERROR_SCHEMA = {
    "type": "object",
    "description": f"A request the {HEADER} refused.",
    "properties": {
        "detail": {"type": "string"},
        "code": {
            "type": "string",
            "enum": [
                IdempotencyKeyInvalid.code,
                IdempotencyKeyInUse.code,
                IdempotencyKeyReused.code,
            ],
        },
    },
    "required": ["detail", "code"],
}
_REPLAYED_SCHEMA = {
    "description": f"`true` when this is the stored answer to a repeat with the same {HEADER}.",
    "schema": {"type": "string", "enum": ["true"]},
}
_ANSWERS = {
    "400": f"`{IdempotencyKeyInvalid.code}`: the {HEADER} is not 1 to 255 printable ASCII "
    "characters.",
    "409": f"`{IdempotencyKeyInUse.code}`: a request with this {HEADER} is still running; "
    "retry once it has finished.",
    "422": f"`{IdempotencyKeyReused.code}`: this {HEADER} was used before with a different body.",
}


def postprocess_schema(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Add the answers of the key to every operation that takes it (a drf-spectacular hook)."""
    error_ref = {"$ref": f"#/components/schemas/{_ERROR_COMPONENT}"}
    used = False
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            parameters = operation.get("parameters", []) if isinstance(operation, dict) else []
            if not any(p.get("in") == "header" and p.get("name") == HEADER for p in parameters):
                continue
            used = True
            responses = operation.setdefault("responses", {})
            for code, description in _ANSWERS.items():
                if code in responses:  # copied: drf-spectacular may share answer objects
                    answer = responses[code]
                    responses[code] = {
                        **answer,
                        "description": f"{answer['description']} Or {description}",
                    }
                else:
                    responses[code] = {
                        "description": description,
                        "content": {"application/json": {"schema": error_ref}},
                    }
            for code, answer in list(responses.items()):
                if code.startswith("2"):
                    headers = {**answer.get("headers", {}), REPLAYED_HEADER: _REPLAYED_SCHEMA}
                    responses[code] = {**answer, "headers": headers}
    if used:
        result.setdefault("components", {}).setdefault("schemas", {})[_ERROR_COMPONENT] = (
            _ERROR_SCHEMA
        )
    return result
