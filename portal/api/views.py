"""The API's root (what it serves, with links) and its JSON answer for an unknown address."""

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

# (name in the answer, URL name): the collections, then the schema and its two renderings.
ENDPOINTS = [
    ("incidents", "incident-list"),
    ("teams", "team-list"),
    ("services", "service-list"),
    ("severities", "severity-list"),
    ("schema", "api-schema"),
    ("docs", "api-docs"),
    ("redoc", "api-redoc"),
]


class ApiRootView(APIView):
    @extend_schema(
        summary="List what the API serves",
        responses={
            200: inline_serializer(
                "ApiRoot",
                {name: serializers.URLField() for name, _ in ENDPOINTS},
            )
        },
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response({name: reverse(url, request=request) for name, url in ENDPOINTS})


@csrf_exempt  # changes nothing; a POST to a wrong address is told so, not asked for a token
def not_found(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    """Answer an address under /api/v1/ that names nothing, in JSON like every API error."""
    return JsonResponse({"detail": "Not found."}, status=404)
