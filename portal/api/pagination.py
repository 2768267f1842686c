"""Paging of the API's lists: `limit` and `offset`, bounded; out of range answers 400."""

from typing import Any

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

MAX_LIMIT = 500
# Far beyond any list the portal holds, and within every database's integer range.
MAX_OFFSET = 2**31 - 1


def _bounded(request: Request, name: str, *, minimum: int, maximum: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError({name: ["A whole number is required."]}) from None
    if not minimum <= value <= maximum:
        raise ValidationError({name: [f"Must be between {minimum} and {maximum}."]})
    return value


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    """LimitOffsetPagination whose `limit` is 1 to MAX_LIMIT and `offset` 0 to MAX_OFFSET.

    DRF's own class reads any number, so a huge one reached the database and overflowed its
    integers (a 500); anything out of range or not a number now answers 400 naming the parameter.
    """

    max_limit = MAX_LIMIT

    def get_limit(self, request: Request) -> int | None:
        limit = _bounded(request, self.limit_query_param, minimum=1, maximum=MAX_LIMIT)
        return self.default_limit if limit is None else limit

    def get_offset(self, request: Request) -> int:
        offset = _bounded(request, self.offset_query_param, minimum=0, maximum=MAX_OFFSET)
        return offset or 0

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": MAX_LIMIT},
            self.offset_query_param: {"minimum": 0, "maximum": MAX_OFFSET},
        }
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters
