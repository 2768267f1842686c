"""Schemathesis against the API's OpenAPI schema, in-process through the WSGI application.

Every operation of `/api/v1/schema/` is called with generated requests (examples, the coverage
phase's boundary and invalid values, then a fixed number of fuzzed ones) as a responder with an
API token, and every answer must be no server error and exactly what the schema documents: status
code, content type, headers and body. The budget is fixed so the suite stays fast.
"""

import json
import logging

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from portal.wsgi import application
from tests import factories

pytestmark = pytest.mark.django_db

FUZZED_PER_OPERATION = 5


def _document() -> dict:
    """The schema as /api/v1/schema/ serves it (the last test checks that it is the same)."""
    return json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(public=True)))


schema = schemathesis.openapi.from_dict(_document())
schema.app = application

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def wsgi_in_test_transaction():
    """Keep the test's database connection across requests, as Django's test client does: the
    WSGI handler would close it at the end of each (PostgreSQL then loses the test's data)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def responder_token(payments, caplog):
    caplog.set_level(logging.ERROR, logger="django.request")  # thousands of expected 4xx
    user = factories.responder("alice")
    payments.team.members.add(user)
    factories.declared(user, "P2", services=[payments])
    return Token.objects.create(user=user).key


@schema.parametrize()
@settings(
    max_examples=FUZZED_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_its_schema_documents(
    case, responder_token, wsgi_in_test_transaction
):
    case.call_and_validate(headers={"Authorization": f"Token {responder_token}"}, checks=CHECKS)


def test_the_tested_schema_is_the_served_one(responder_token):
    response = Client().get(
        "/api/v1/schema/?format=json", HTTP_AUTHORIZATION=f"Token {responder_token}"
    )

    assert response.status_code == 200
    assert json.loads(response.content) == _document()
