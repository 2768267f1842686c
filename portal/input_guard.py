"""Refuse, with a clear 4xx, input no layer below could store: the first middleware.

PostgreSQL cannot store a NUL character in text, UTF-8 cannot encode a lone surrogate, and
Python's JSON reader overflows its stack on deep nesting: each used to surface as a 500 wherever
the value first reached the database. `RequestGuardMiddleware` answers them up front;
`text_problem` and `check_storable` are the same rules for parsers of their own (alert hooks).
"""

import json
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

API_PREFIX = "/api/"
# Bodies these paths read raw (signatures are over the exact bytes); their parsers check them.
RAW_BODY_PREFIXES = ("/hooks/",)
# Deeper JSON than this is refused: no request of the API nests more than a few levels.
MAX_JSON_DEPTH = 32
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class UnstorableText(ValueError):
    """A string holds a character the database cannot store (NUL, a lone surrogate)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


def text_problem(value: str) -> str | None:
    """Return why `value` cannot be stored as text (PostgreSQL refuses NUL, UTF-8 a lone
    surrogate), or None when it can."""
    if "\x00" in value:
        return "contains a NUL character (\\u0000)."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate; text must be valid Unicode."
    return None


def check_storable(data: object, where: str = "body", *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise UnstorableText for the first key or string in `data` that cannot be stored, or for
    nesting deeper than `max_depth`. Walks without recursion."""
    stack: list[tuple[object, str, int]] = [(data, where, 0)]
    while stack:
        item, name, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item)
            if problem:
                raise UnstorableText(name, problem)
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise UnstorableText(name, f"nests deeper than {max_depth} levels.")
            if isinstance(item, dict):
                for key, value in item.items():
                    key_text = str(key)
                    problem = text_problem(key_text)
                    if problem:
                        raise UnstorableText(f"{name} (a key)", problem)
                    stack.append((value, f"{name}.{key_text}", depth + 1))
            else:
                stack.extend((value, f"{name}[{i}]", depth + 1) for i, value in enumerate(item))


class RequestGuardMiddleware:
    """Refuse, with a clear 4xx, input that would otherwise fail deep inside as a 500.

    First in MIDDLEWARE and free of the database and cache: a NUL character or lone surrogate in
    the path, the query or a submitted field (PostgreSQL cannot store NUL, UTF-8 no surrogate)
    answers 400; under /api/ also such a JSON body, or one nested deeper than MAX_JSON_DEPTH
    (400, never a RecursionError), and a body over DATA_UPLOAD_MAX_MEMORY_SIZE (413). API answers
    are JSON `{"detail": …}` like every API error; elsewhere plain text.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        is_api = request.path_info.startswith(API_PREFIX)
        if is_api and self._too_large(request):
            limit_kb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1024
            return self._refuse(is_api, 413, f"The request body is larger than {limit_kb} KB.")
        try:
            self._check(request, is_api)
        except UnstorableText as exc:
            return self._refuse(is_api, 400, str(exc))
        return self.get_response(request)

    @staticmethod
    def _too_large(request: HttpRequest) -> bool:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return False
        return limit is not None and declared > limit

    def _check(self, request: HttpRequest, is_api: bool) -> None:
        problem = text_problem(request.path)
        if problem:
            raise UnstorableText("The address", problem)
        for name, values in request.GET.lists():
            check_storable(name, "A query parameter name")
            for value in values:
                check_storable(value, f"The query parameter {name}")
        if request.method in ("GET", "HEAD", "OPTIONS") or request.path_info.startswith(
            RAW_BODY_PREFIXES
        ):
            return
        content_type = request.content_type or ""
        if content_type in FORM_TYPES:
            for name, values in request.POST.lists():
                check_storable(name, "A field name")
                for value in values:
                    check_storable(value, name)
        elif is_api and content_type.endswith("json") and request.body:
            try:
                data = json.loads(request.body)
            except RecursionError:
                raise UnstorableText(
                    "body", f"nests deeper than {MAX_JSON_DEPTH} levels."
                ) from None
            except ValueError:
                return  # not JSON: the API's parser answers that with its own 400
            check_storable(data)

    @staticmethod
    def _refuse(is_api: bool, status: int, message: str) -> HttpResponse:
        if is_api:
            return JsonResponse({"detail": message}, status=status)
        return HttpResponse(f"{message}\n", status=status, content_type="text/plain; charset=utf-8")
