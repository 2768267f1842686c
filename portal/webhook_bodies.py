"""Reading the body of an inbound webhook (alert sources, Slack) within a size limit."""

from django.http import HttpRequest

# The largest webhook body accepted (PagerDuty's and Slack's own limits are of this order).
MAX_BODY_BYTES = 512 * 1024


class BodyTooLarge(Exception):
    """The body is over the limit; answer 413 and store nothing."""


def read_bounded_body(request: HttpRequest, limit: int = MAX_BODY_BYTES) -> bytes:
    """Return the raw body, refusing anything over the limit whatever Content-Length claims."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise BodyTooLarge
    body = request.read(limit + 1)
    if len(body) > limit:
        raise BodyTooLarge
    return body
