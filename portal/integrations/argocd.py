"""Argo CD's own REST API (what `argocd app history` and `argocd app rollback` call), bearer token.

`GET /api/v1/applications/{name}` holds the deployment history in `status.history[]` (`id`,
`revision`, `deployedAt`); `POST /api/v1/applications/{name}/rollback` with `{"id": N}` starts a
sync to that entry's revision. Argo CD refuses it while auto-sync is on ("rollback cannot be
initiated when auto-sync is enabled"): turn auto-sync off through the Kubernetes API first.

Argo CD answers errors the gRPC-gateway way, `{"error": ..., "code": <gRPC code>, "message": ...}`.
Without a `project`, recent Argo CD answers 403 "permission denied" for an application that does
not exist (so a token cannot probe for names); given the project, a missing application is a 404.

The token is never logged and never part of an exception's message.
"""

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

DEFAULT_TIMEOUT_SECONDS = 15.0


class ArgoCDError(Exception):
    """Argo CD refused or failed a request; the message is Argo CD's, or says what went wrong."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ArgoCDUnauthorized(ArgoCDError):
    """No usable token (401), or the token's account may not do this (403)."""


class ArgoCDNotFound(ArgoCDError):
    """The application does not exist (404)."""


class ArgoCDUnavailable(ArgoCDError):
    """Argo CD could not be reached, timed out, or failed on its side (5xx)."""


@dataclass(frozen=True)
class ArgoRevision:
    id: int
    revision: str
    deployed_at: str
    current: bool


def argo_token(*, env_name: str, file_path: str) -> str:
    """Return the Argo CD token from the environment variable, else from the file."""
    if env_name:
        value = os.environ.get(env_name, "").strip()
        if value:
            return value
    if file_path:
        try:
            value = Path(file_path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ArgoCDUnauthorized(
                f"The Argo CD token file {file_path} cannot be read on the workers "
                f"({exc.strerror or type(exc).__name__})."
            ) from None
        if value:
            return value
        raise ArgoCDUnauthorized(f"The Argo CD token file {file_path} is empty.")
    where = " or ".join(
        part
        for part in (
            f"the environment variable {env_name}" if env_name else "",
            f"the file {file_path}" if file_path else "",
        )
        if part
    )
    raise ArgoCDUnauthorized(
        f"No Argo CD token: set {where} on the workers."
        if where
        else "No Argo CD token: name an environment variable or a file that holds it."
    )


def argo_history(
    *,
    base_url: str,
    token: str,
    application: str,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    project: str = "",
    app_namespace: str = "",
) -> list[ArgoRevision]:
    """Return the application's deployment history, oldest first; the last one is deployed now."""
    params: dict[str, str] = {}
    if project:
        params["project"] = project
    if app_namespace:
        params["appNamespace"] = app_namespace
    app = _call(
        "GET",
        _application_url(base_url, application),
        token=token,
        timeout=timeout,
        params=params,
        action=f"read application {application}",
    )
    entries = (app.get("status") or {}).get("history") or []
    ordered = sorted(entries, key=lambda entry: int(entry.get("id", 0)))
    last_id = int(ordered[-1].get("id", 0)) if ordered else None
    return [
        ArgoRevision(
            id=int(entry.get("id", 0)),
            # A multi-source application records one revision per source.
            revision=str(entry.get("revision") or ", ".join(entry.get("revisions") or [])),
            deployed_at=str(entry.get("deployedAt") or ""),
            current=int(entry.get("id", 0)) == last_id,
        )
        for entry in ordered
    ]


def argo_rollback(
    *,
    base_url: str,
    token: str,
    application: str,
    history_id: int,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    prune: bool = False,
    project: str = "",
    app_namespace: str = "",
) -> dict[str, Any]:
    """Start a rollback of the application to a history entry; return what Argo CD accepted."""
    body: dict[str, Any] = {"id": history_id, "prune": prune}
    if project:
        body["project"] = project
    if app_namespace:
        body["appNamespace"] = app_namespace
    app = _call(
        "POST",
        _application_url(base_url, application) + "/rollback",
        token=token,
        timeout=timeout,
        json_body=body,
        action=f"roll back application {application}",
    )
    sync = (app.get("operation") or {}).get("sync") or {}
    return {
        "application": (app.get("metadata") or {}).get("name", application),
        "history_id": history_id,
        "revision": str(sync.get("revision") or ", ".join(sync.get("revisions") or [])),
        "prune": prune,
        "operation": app.get("operation") or {},
    }


def _application_url(base_url: str, application: str) -> str:
    if not application:
        raise ArgoCDError("No Argo CD application is named for this target.")
    return f"{base_url.rstrip('/')}/api/v1/applications/{quote(application, safe='')}"


def _call(
    method: str,
    url: str,
    *,
    token: str,
    timeout: float,
    action: str,
    params: dict[str, str] | None = None,
    json_body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Send one request to Argo CD and return its JSON object, or raise the typed error."""
    if not token:
        raise ArgoCDUnauthorized("No Argo CD token was given.")
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    try:
        response = requests.request(
            method, url, headers=headers, params=params, json=json_body, timeout=timeout
        )
    except requests.Timeout:
        raise ArgoCDUnavailable(
            f"Argo CD did not answer within {timeout:g}s ({action}); try again shortly."
        ) from None
    except requests.RequestException as exc:
        # The exception names the URL, never the headers; still keep only its class and reason.
        raise ArgoCDUnavailable(
            f"Argo CD cannot be reached at {url.split('/api/', 1)[0]} ({type(exc).__name__})."
        ) from None
    status = response.status_code
    if status >= 400:
        message = _error_message(response)
        if status == 401:
            raise ArgoCDUnauthorized(
                f"Argo CD rejected the token ({message}); check the token on the workers.", status
            )
        if status == 403:
            raise ArgoCDUnauthorized(
                f"Argo CD refused to {action} ({message}): the token's account may not do it, "
                "or the application does not exist.",
                status,
            )
        if status == 404:
            raise ArgoCDNotFound(f"Argo CD does not know it ({message}).", status)
        if status >= 500:
            raise ArgoCDUnavailable(f"Argo CD failed on its side ({status}: {message}).", status)
        raise ArgoCDError(message, status)
    try:
        payload = response.json()
    except ValueError:
        raise ArgoCDError(
            f"Argo CD answered {status} without JSON; check that the API URL is Argo CD's.",
            status,
        ) from None
    if not isinstance(payload, dict):
        raise ArgoCDError("Argo CD answered with JSON that is not an object.", status)
    return payload


def _error_message(response: requests.Response) -> str:
    """Return Argo CD's error message from a gRPC-gateway error body, else the HTTP reason."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        message = payload.get("message") or payload.get("error")
        if message:
            return str(message)
    return f"HTTP {response.status_code} {response.reason or ''}".strip()
