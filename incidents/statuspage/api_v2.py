"""Statuspage public API v2 (FORMATS.md): JSON anyone may read, from any origin."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.views.decorators.http import require_http_methods

from . import selectors, serializers
from .models import PageSettings, PublicIncident
from .publiccache import public_cached

View = Callable[..., HttpResponseBase]

PREFLIGHT_MAX_AGE_SECONDS = 24 * 60 * 60


def cors_get(view: View) -> View:
    """Let any origin GET the view (no credentials) and answer its preflight requests."""

    @require_http_methods(["GET", "HEAD", "OPTIONS"])
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.method == "OPTIONS":
            response: HttpResponseBase = HttpResponse(status=204)
            response["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
            requested = request.headers.get("Access-Control-Request-Headers")
            if requested:
                response["Access-Control-Allow-Headers"] = requested
            response["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE_SECONDS)
        else:
            response = view(request, *args, **kwargs)
            # Let scripts read the validator for their own conditional requests.
            response["Access-Control-Expose-Headers"] = "ETag"
        response["Access-Control-Allow-Origin"] = "*"
        return response

    return wrapper


def _json(data: dict[str, Any]) -> JsonResponse:
    return JsonResponse(data, json_dumps_params={"ensure_ascii": False})


@cors_get
@public_cached
def summary(request: HttpRequest) -> JsonResponse:
    return _json(serializers.summary_payload(selectors.public_state_get()))


@cors_get
@public_cached
def status(request: HttpRequest) -> JsonResponse:
    page = selectors.page_settings_get()
    return _json({"page": serializers.page_payload(page), "status": serializers.status_payload()})


@cors_get
@public_cached
def components(request: HttpRequest) -> JsonResponse:
    page = selectors.page_settings_get()
    layout = selectors.component_layout()
    return _json(
        {
            "page": serializers.page_payload(page),
            "components": serializers.components_payload(layout, page=page),
        }
    )


def _incidents(page_key: str, records: list[PublicIncident], page: PageSettings) -> JsonResponse:
    return _json(
        {
            "page": serializers.page_payload(page),
            page_key: serializers.incidents_payload(records, page=page),
        }
    )


@cors_get
@public_cached
def incidents(request: HttpRequest) -> JsonResponse:
    page = selectors.page_settings_get()
    return _incidents("incidents", selectors.incident_list_recent(), page)


@cors_get
@public_cached
def incidents_unresolved(request: HttpRequest) -> JsonResponse:
    page = selectors.page_settings_get()
    return _incidents("incidents", selectors.incident_list_unresolved(), page)


@cors_get
@public_cached
def maintenances(request: HttpRequest) -> JsonResponse:
    page = selectors.page_settings_get()
    return _incidents("scheduled_maintenances", selectors.maintenance_list(), page)


@cors_get
@public_cached
def maintenances_upcoming(request: HttpRequest) -> JsonResponse:
    page = selectors.page_settings_get()
    return _incidents("scheduled_maintenances", selectors.maintenance_list_upcoming(), page)


@cors_get
@public_cached
def maintenances_active(request: HttpRequest) -> JsonResponse:
    page = selectors.page_settings_get()
    return _incidents("scheduled_maintenances", selectors.maintenance_list_active(), page)
