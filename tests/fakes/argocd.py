"""A local fake of Argo CD's REST API that `requests` (and so the portal's adapter) talks to.

It holds Applications with their deployment history and answers like the Argo CD API server:
a bearer token is required (401 otherwise), errors come in the gRPC-gateway shape
`{"error": ..., "code": <gRPC code>, "message": ...}`, an application that does not exist is a 403
"permission denied" unless the request names a project (then 404), and a rollback is refused while
auto-sync is on, or for a history id the application does not have. An accepted rollback answers
the Application with its new `operation`; the fake's "controller" then completes the sync at once,
appending a history entry (next id, the target's revision) as Argo CD's controller does.

Usage: the `fake_argocd` fixture runs one; `add_application` seeds it, `requests` records calls.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

TOKEN = "argocd-test-token"
TOKEN_ENV = "FIREBREAK_TEST_ARGOCD_TOKEN"
# Argo CD keeps this many history entries unless spec.revisionHistoryLimit says otherwise.
HISTORY_LIMIT = 10
# gRPC codes Argo CD's gateway puts in error bodies.
INVALID_ARGUMENT = 3
NOT_FOUND = 5
PERMISSION_DENIED = 7
FAILED_PRECONDITION = 9
UNAUTHENTICATED = 16
BASE_TIME = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class FakeApplication:
    name: str
    project: str = "default"
    namespace: str = "argocd"
    repo_url: str = "https://git.example.com/platform/deploy.git"
    path: str = "apps/payments"
    target_revision: str = "HEAD"
    automated: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    sync_revision: str = ""
    sync_status: str = "Synced"
    operation: dict[str, Any] | None = None
    operation_in_progress: bool = False
    resource_version: int = 1

    def source(self, revision: str) -> dict[str, Any]:
        return {"repoURL": self.repo_url, "path": self.path, "targetRevision": revision}

    def as_json(self) -> dict[str, Any]:
        sync_policy: dict[str, Any] = {}
        if self.automated is not None:
            sync_policy["automated"] = dict(self.automated)
        app: dict[str, Any] = {
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "resourceVersion": str(self.resource_version),
            },
            "spec": {
                "project": self.project,
                "source": self.source(self.target_revision),
                "destination": {"server": "https://kubernetes.default.svc"},
                "syncPolicy": sync_policy,
            },
            "status": {
                "sync": {"status": self.sync_status, "revision": self.sync_revision},
                "health": {"status": "Healthy"},
                "history": [dict(entry) for entry in self.history],
            },
        }
        if self.operation is not None:
            app["operation"] = json.loads(json.dumps(self.operation))
        return app


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    authorized: bool


class ArgoError(Exception):
    """An error answered in the gRPC-gateway shape."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class FakeArgoCD:
    """An Argo CD API server on 127.0.0.1 with applications held in memory."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.token_env = TOKEN_ENV
        self.applications: dict[str, FakeApplication] = {}
        self.requests: list[RecordedRequest] = []
        self._failures: deque[tuple[int, str]] = deque()
        self._lock = threading.RLock()

        fake = self

        class Handler(_Handler):
            argocd = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    # -- test API ------------------------------------------------------------------------------

    def add_application(
        self,
        name: str,
        *,
        revisions: list[str],
        automated: dict[str, Any] | None = None,
        project: str = "default",
    ) -> FakeApplication:
        """Create an application deployed at each revision in turn (ids 0, 1, …; last is live)."""
        with self._lock:
            app = FakeApplication(name=name, project=project, automated=automated)
            for revision in revisions:
                self._deploy(app, revision)
            app.sync_status = "Synced"
            self.applications[name] = app
            return app

    def fail_next(self, status: int, message: str, times: int = 1) -> None:
        """Answer the next `times` API requests with this HTTP status (after the token check)."""
        with self._lock:
            self._failures.extend([(status, message)] * times)

    def called(self, method: str, path_suffix: str = "") -> list[RecordedRequest]:
        """Return the recorded requests with this method whose path ends with `path_suffix`."""
        with self._lock:
            return [
                request
                for request in self.requests
                if request.method == method and request.path.endswith(path_suffix)
            ]

    def close(self) -> None:
        """Stop serving; later calls cannot connect."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- Argo CD's behaviour -------------------------------------------------------------------

    def _deploy(self, app: FakeApplication, revision: str) -> None:
        """Do what the application controller does after a sync: record it in the history."""
        next_id = app.history[-1]["id"] + 1 if app.history else 0
        deployed_at = BASE_TIME + timedelta(minutes=10 * next_id)
        app.history.append(
            {
                "id": next_id,
                "revision": revision,
                "deployStartedAt": _stamp(deployed_at - timedelta(seconds=5)),
                "deployedAt": _stamp(deployed_at),
                "source": app.source(app.target_revision),
            }
        )
        del app.history[:-HISTORY_LIMIT]
        app.sync_revision = revision
        app.resource_version += 1

    def _find(self, name: str, project: str) -> FakeApplication:
        app = self.applications.get(name)
        if app is None or (project and app.project != project):
            if project:
                raise ArgoError(404, NOT_FOUND, f'applications.argoproj.io "{name}" not found')
            # Without a project Argo CD does not say whether the application exists.
            raise ArgoError(403, PERMISSION_DENIED, "permission denied")
        return app

    def get_application(self, name: str, query: dict[str, list[str]]) -> dict[str, Any]:
        project = (query.get("project") or query.get("projects") or [""])[0]
        with self._lock:
            return self._find(name, project).as_json()

    def rollback(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            app = self._find(name, str(body.get("project") or ""))
            if app.automated is not None:
                raise ArgoError(
                    400,
                    FAILED_PRECONDITION,
                    "rollback cannot be initiated when auto-sync is enabled",
                )
            try:
                history_id = int(body.get("id", 0))
            except (TypeError, ValueError):
                raise ArgoError(400, INVALID_ARGUMENT, "invalid id") from None
            entry = next((e for e in app.history if e["id"] == history_id), None)
            if entry is None:
                raise ArgoError(
                    400,
                    INVALID_ARGUMENT,
                    f"application {name} does not have deployment with id {history_id}",
                )
            if app.operation_in_progress:
                raise ArgoError(
                    400, FAILED_PRECONDITION, "another operation is already in progress"
                )
            dry_run = bool(body.get("dryRun", False))
            app.operation = {
                "sync": {
                    "revision": entry["revision"],
                    "prune": bool(body.get("prune", False)),
                    "dryRun": dry_run,
                    "source": entry["source"],
                },
                "initiatedBy": {"username": "firebreak"},
            }
            app.resource_version += 1
            accepted = app.as_json()
            # The controller runs the sync; a dry run changes nothing.
            if not dry_run:
                self._deploy(app, entry["revision"])
                app.sync_status = "OutOfSync"
            app.operation = None
            return accepted

    def _take_failure(self) -> tuple[int, str] | None:
        with self._lock:
            return self._failures.popleft() if self._failures else None


class _Handler(BaseHTTPRequestHandler):
    argocd: FakeArgoCD
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        authorization = self.headers.get("Authorization", "")
        authorized = authorization == f"Bearer {self.argocd.token}"
        with self.argocd._lock:
            self.argocd.requests.append(
                RecordedRequest(method, parts.path, query, body, authorized)
            )
        try:
            if not authorization.startswith("Bearer "):
                raise ArgoError(401, UNAUTHENTICATED, "no session information")
            if not authorized:
                raise ArgoError(401, UNAUTHENTICATED, "invalid session: token is malformed")
            failure = self.argocd._take_failure()
            if failure is not None:
                raise ArgoError(failure[0], 14 if failure[0] >= 500 else 2, failure[1])
            self._reply(200, self._route(method, parts.path, query, body))
        except ArgoError as exc:
            self._reply(
                exc.status, {"error": exc.message, "code": exc.code, "message": exc.message}
            )

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> dict[str, Any]:
        prefix = "/api/v1/applications/"
        if not path.startswith(prefix):
            raise ArgoError(404, NOT_FOUND, "Not Found")
        rest = path[len(prefix) :]
        if method == "GET" and "/" not in rest:
            return self.argocd.get_application(unquote(rest), query)
        if method == "POST" and rest.endswith("/rollback") and rest.count("/") == 1:
            if not isinstance(body, dict):
                raise ArgoError(400, INVALID_ARGUMENT, "invalid character in request body")
            return self.argocd.rollback(unquote(rest.split("/")[0]), body)
        raise ArgoError(404, NOT_FOUND, "Not Found")

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake_argocd(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeArgoCD]:
    """Run a fake Argo CD; its token is also in the environment variable `fake.token_env`."""
    fake = FakeArgoCD()
    monkeypatch.setenv(fake.token_env, fake.token)
    yield fake
    fake.close()
