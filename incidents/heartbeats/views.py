"""The ping address: `/hooks/heartbeat/<secret>/`, GET or POST, no authentication but the secret.

Answers 200 with a short JSON body (a paused heartbeat's ping too, so its sender does not
retry), 404 for an address no heartbeat has, 413 for a body over PING_BODY_BYTES (a ping carries
nothing Firebreak keeps). Never cached: a proxy answering for Firebreak would swallow pings.
"""

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from portal.webhook_bodies import BodyTooLarge, read_bounded_body

from . import services
from .selectors import HeartbeatNotFound

PING_BODY_BYTES = 1024


@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def heartbeat_ping_hook(request: HttpRequest, secret: str) -> JsonResponse:
    """Record a ping of the heartbeat whose secret is in the address."""
    try:
        read_bounded_body(request, limit=PING_BODY_BYTES)
        result = services.heartbeat_ping(secret=secret)
    except BodyTooLarge:
        return JsonResponse(
            {"detail": f"A ping's body is at most {PING_BODY_BYTES} bytes; nothing is kept."},
            status=413,
        )
    except HeartbeatNotFound as exc:
        return JsonResponse({"detail": exc.message}, status=404)
    body: dict[str, Any] = {"status": result.outcome, "heartbeat": result.heartbeat.name}
    if result.outcome == "paused":
        body["detail"] = "The heartbeat is paused: pings are ignored until it is active again."
    else:
        assert result.next_expected_at is not None
        body["next_expected_at"] = result.next_expected_at.isoformat()
    if result.incident is not None:
        body["incident"] = result.incident.reference
        body["incident_resolved"] = result.incident_resolved
    return JsonResponse(body)
