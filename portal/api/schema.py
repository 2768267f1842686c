"""The answers every API operation may give besides its own, added to the OpenAPI schema."""

from typing import Any

_COMPONENT = "ErrorDetail"
_SCHEMA = {
    "type": "object",
    "description": "An error a person can act on.",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
_FIELD_ERRORS = {
    "type": "object",
    "description": 'Field errors, `{"field": ["message"]}`, or `{"detail": "message"}`.',
    "additionalProperties": True,
}

# (status, when, schema or None for no body of ours). 414 comes from the HTTP server in front,
# which refuses a request line longer than it reads, in its own format.
_EVERY = [
    ("400", "Bad input: a parameter out of range, or text no database can store.", "fields"),
    ("401", "Not signed in: send `Authorization: Token <key>` or a session.", "detail"),
    ("403", "Your account may not do this.", "detail"),
    ("414", "The address is longer than the server reads.", None),
]
_WITH_PATH_PARAMETERS = [("404", "No such object.", "detail")]
_WITH_BODY = [
    ("413", "The request body is larger than the server accepts.", "detail"),
    ("415", "The body is not in a media type the operation reads.", "detail"),
]


def document_common_errors(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """Add the errors any operation can answer, where it does not document them itself (a
    drf-spectacular hook), so the schema lists every status the API gives."""
    ref = {"$ref": f"#/components/schemas/{_COMPONENT}"}
    schemas = {"detail": ref, "fields": _FIELD_ERRORS}
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            answers = list(_EVERY)
            if "{" in path:
                answers += _WITH_PATH_PARAMETERS
            if "requestBody" in operation:
                answers += _WITH_BODY
            responses = operation["responses"]
            for code, description, kind in answers:
                if code in responses:
                    continue
                answer: dict[str, Any] = {"description": description}
                if kind is not None:
                    answer["content"] = {"application/json": {"schema": schemas[kind]}}
                responses[code] = answer
    result.setdefault("components", {}).setdefault("schemas", {})[_COMPONENT] = _SCHEMA
    return result
