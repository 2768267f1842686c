"""A local fake Kubernetes API server that the official `kubernetes` client talks to over HTTP.

It keeps objects in memory and answers the way kube-apiserver does where our jobs depend on it:
core/v1 (pods with logs, events, nodes, namespaces, services, configmaps), apps/v1 (deployments,
replicasets), discovery.k8s.io/v1 endpointslices, networking.k8s.io/v1 networkpolicies,
metrics.k8s.io/v1beta1 nodes (switchable), argoproj.io/v1alpha1 applications (a custom resource:
no strategic merge), `/readyz` and discovery. Writes honour `dryRun=All`, resourceVersion
preconditions (409), generation bumps on spec changes, JSON patch, strategic merge patch (enough
of it for containers by name and annotations), merge patch, and 415 for a patch content type the
resource does not accept. Label and field selectors work like the server's (unsupported field
labels are a 400). A small deployment "controller" turns template changes into ReplicaSet
revisions the way the real one does; rollout progress is set by tests with `set_rollout` (or
finished at once with `auto_rollout = True`).

Tests inject failures with `fail` (401/403/404/409/500 with real Status bodies, 403 naming the
verb and resource), `hang` (slow answers, for timeouts), `lose_answer` (the request is carried
out, then the answer is lost: the connection drops, or the answer comes after the client gave
up), `down`/`up` (refuse connections), `crash_loop` (status-only writes to a Deployment, as its
controller makes while the pods crash and restart), `set_readyz` and `metrics_available`; they
read what was sent in `requests`.

Usage: the `fake_kubernetes` fixture yields `(fake, ClusterConfig)`; `kubeconfig_for` writes a
kubeconfig (plain http, bearer token) pointing at a running fake.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import yaml

TOKEN = "fake-kubernetes-token"
USER = "system:serviceaccount:ops:firebreak"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO = "deprecated.deployment.rollback.to"
HASH_LABEL = "pod-template-hash"
# The Deployment controller never copies these between a Deployment and its ReplicaSets.
CONTROLLER_ANNOTATIONS = frozenset(
    {LAST_APPLIED, REVISION, REVISION_HISTORY, DESIRED_REPLICAS, MAX_REPLICAS, ROLLBACK_TO}
)

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"

# Strategic merge: the lists merged by a key (from the Kubernetes API's patchMergeKey tags).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "ports": "containerPort",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
    "ownerReferences": "uid",
}

# Field labels the apiserver supports per resource; anything else is a 400, as it is there.
COMMON_FIELDS = ("metadata.name", "metadata.namespace")
FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "pods": (
        *COMMON_FIELDS,
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "events": (
        *COMMON_FIELDS,
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "nodes": (*COMMON_FIELDS, "spec.unschedulable"),
}


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    custom: bool = False  # custom resources accept no strategic merge patch (415)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """`deployments.apps`, `pods`: how the apiserver names a resource in its messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


RESOURCES = [
    Resource("", "v1", "pods", "Pod", True),
    Resource("", "v1", "events", "Event", True),
    Resource("", "v1", "nodes", "Node", False),
    Resource("", "v1", "namespaces", "Namespace", False),
    Resource("", "v1", "services", "Service", True),
    Resource("", "v1", "configmaps", "ConfigMap", True),
    Resource("apps", "v1", "deployments", "Deployment", True),
    Resource("apps", "v1", "replicasets", "ReplicaSet", True),
    Resource("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", True),
    Resource("metrics.k8s.io", "v1beta1", "nodes", "NodeMetrics", False),
    Resource("argoproj.io", "v1alpha1", "applications", "Application", True, custom=True),
]
BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
BY_PLURAL = {r.plural: r for r in RESOURCES if r.group != "metrics.k8s.io"}
SUBRESOURCES = {("pods", "log"), ("deployments", "status"), ("deployments", "scale")}


class ApiError(Exception):
    """An error answered as a Kubernetes `Status` object."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


@dataclass
class RecordedRequest:
    """One request as the fake received it; `body` is parsed JSON when it was JSON."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RequestInfo:
    """What kube-apiserver's RequestInfoFactory makes of a path."""

    path: str
    is_resource: bool
    group: str = ""
    version: str = ""
    namespace: str = ""
    plural: str = ""
    name: str = ""
    subresource: str = ""
    verb: str = ""

    @property
    def resource(self) -> Resource | None:
        return BY_PATH.get((self.group, self.version, self.plural))


@dataclass
class _Failure:
    method: str
    path_substring: str
    status: int
    times: int | None
    message: str | None


@dataclass
class _Delay:
    method: str
    path_substring: str
    seconds: float
    times: int | None


@dataclass
class _LostAnswer:
    method: str
    path_substring: str
    times: int | None
    hang: float | None  # None: drop the connection; else answer this many seconds late
    then: Callable[[], None] | None = None


@dataclass
class _CrashLoop:
    namespace: str
    name: str
    writes: int | None


def now_rfc3339(moment: datetime | None = None) -> str:
    """Return a timestamp the way the apiserver writes one (UTC, seconds, `Z`)."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stamp(value: datetime | str | None, default: datetime) -> str:
    if value is None:
        return now_rfc3339(default)
    if isinstance(value, datetime):
        return now_rfc3339(value)
    return value


def template_hash(template: dict[str, Any]) -> str:
    """Return a stable pod-template-hash for a template (the label itself left out)."""
    clean = without_hash(template)
    digest = hashlib.sha256(json.dumps(clean, sort_keys=True).encode()).digest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    return "".join(alphabet[byte % len(alphabet)] for byte in digest[:10])


def without_hash(template: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a pod template without its pod-template-hash label."""
    clean = copy.deepcopy(template)
    labels = clean.get("metadata", {}).get("labels")
    if labels is not None:
        labels.pop(HASH_LABEL, None)
        if not labels:
            del clean["metadata"]["labels"]
    return clean


def pod_template(
    *,
    labels: dict[str, str],
    container: str,
    image: str,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Return a pod template as the apiserver stores it (defaults filled in)."""
    metadata: dict[str, Any] = {"labels": dict(labels)}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "metadata": metadata,
        "spec": {
            "containers": [
                {
                    "name": container,
                    "image": image,
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {},
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                }
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "securityContext": {},
            "schedulerName": "default-scheduler",
        },
    }


# --- selectors -------------------------------------------------------------------------------

_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9./_-]+)\s*"
    r"(?:(?P<op>==|=|!=|\s+in\s+|\s+notin\s+)\s*(?P<value>\([^)]*\)|[^,()]*))?\s*$"
)


def _split_selector(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        parts.append(current)
    return parts


def label_selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """Return whether labels satisfy a label selector string (=, ==, !=, in, notin, exists, !)."""
    for part in _split_selector(selector):
        match = _REQUIREMENT.match(part)
        if not match:
            raise ApiError(400, "BadRequest", f"unable to parse requirement: {part!r}")
        key, op, neg = match["key"], (match["op"] or "").strip(), match["neg"]
        value = (match["value"] or "").strip()
        if not op:
            if bool(neg) == (key in labels):
                return False
        elif op in ("=", "=="):
            if labels.get(key) != value:
                return False
        elif op == "!=":
            if labels.get(key) == value:
                return False
        else:
            values = {v.strip() for v in value.strip("()").split(",") if v.strip()}
            if op == "in" and labels.get(key) not in values:
                return False
            if op == "notin" and labels.get(key) in values:
                return False
    return True


def selector_to_string(selector: dict[str, Any]) -> str:
    """Return a LabelSelector object as the selector string kubectl would send."""
    parts = [f"{key}={value}" for key, value in sorted(selector.get("matchLabels", {}).items())]
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        if operator == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def _field_value(obj: dict[str, Any], label: str) -> str:
    if label == "source":
        return str(obj.get("source", {}).get("component", ""))
    value: Any = obj
    for part in label.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def field_selector_matches(plural: str, selector: str, obj: dict[str, Any]) -> bool:
    """Return whether an object satisfies a field selector; unsupported labels are a 400."""
    supported = FIELD_LABELS.get(plural, COMMON_FIELDS)
    for part in _split_selector(selector):
        match = re.match(r"^\s*([A-Za-z.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not match:
            raise ApiError(400, "BadRequest", f"invalid field selector: {part!r}")
        label, op, value = match.groups()
        if label not in supported:
            raise ApiError(400, "BadRequest", f'field label not supported: "{label}"')
        equal = _field_value(obj, label) == value
        if equal != (op != "!="):
            return False
    return True


# --- patches ---------------------------------------------------------------------------------


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "", f"JSON pointer must start with '/': {path!r}")
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def _resolve(doc: Any, tokens: list[str], path: str) -> Any:
    for token in tokens:
        if isinstance(doc, dict) and token in doc:
            doc = doc[token]
        elif isinstance(doc, list) and token.isdigit() and int(token) < len(doc):
            doc = doc[int(token)]
        else:
            raise ApiError(422, "", f"doc is missing path: {path}: missing value")
    return doc


def _json_patch_add(doc: Any, path: str, value: Any, *, replace: bool) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return copy.deepcopy(value)
    parent = _resolve(doc, tokens[:-1], path)
    last = tokens[-1]
    op = "replace" if replace else "add"
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise ApiError(422, "", f"replace operation does not apply: doc is missing key: {path}")
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list):
        if last == "-" and not replace:
            parent.append(copy.deepcopy(value))
        elif last.isdigit() and int(last) <= len(parent) - (1 if replace else 0):
            if replace:
                parent[int(last)] = copy.deepcopy(value)
            else:
                parent.insert(int(last), copy.deepcopy(value))
        else:
            raise ApiError(422, "", f"{op} operation does not apply: index out of range: {path}")
    else:
        raise ApiError(422, "", f"{op} operation does not apply: doc is missing path: {path}")
    return doc


def _json_patch_remove(doc: Any, path: str) -> Any:
    tokens = _pointer(path)
    parent = _resolve(doc, tokens[:-1], path)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        del parent[last]
    elif isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        del parent[int(last)]
    else:
        raise ApiError(
            422, "", f"remove operation does not apply: doc is missing path: {path}: missing value"
        )
    return doc


def apply_json_patch(doc: dict[str, Any], patch: Any) -> dict[str, Any]:
    """Apply an RFC 6902 JSON patch the way the apiserver does (400 undecodable, 422 failing)."""
    if not isinstance(patch, list) or not all(isinstance(op, dict) for op in patch):
        raise ApiError(
            400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
        )
    result: Any = copy.deepcopy(doc)
    for operation in patch:
        op, path = operation.get("op"), operation.get("path")
        if not isinstance(path, str):
            raise ApiError(422, "", f"missing path in operation {operation}")
        if op in ("add", "replace"):
            if "value" not in operation:
                raise ApiError(422, "", f"missing value in {op} operation")
            result = _json_patch_add(result, path, operation["value"], replace=op == "replace")
        elif op == "remove":
            result = _json_patch_remove(result, path)
        elif op == "test":
            if _resolve(result, _pointer(path), path) != operation.get("value"):
                raise ApiError(422, "", f"testing value {path} failed: test failed")
        elif op in ("move", "copy"):
            source = operation.get("from", "")
            value = copy.deepcopy(_resolve(result, _pointer(source), source))
            if op == "move":
                result = _json_patch_remove(result, source)
            result = _json_patch_add(result, path, value, replace=False)
        else:
            raise ApiError(422, "", f"Unexpected kind: {op}")
    if not isinstance(result, dict):
        raise ApiError(422, "", "the patch did not leave an object")
    return result


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch (null deletes, objects merge, the rest replaces)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def apply_strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Apply a strategic merge patch: maps merge, keyed lists merge by key, `$patch` honoured."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    if patch.get("$patch") == "delete":
        return None
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue  # $setElementOrder/…, $retainKeys: ordering hints we can ignore here
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            merged = apply_strategic_merge_patch(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and key in MERGE_KEYS:
            result[key] = _merge_keyed_list(result.get(key) or [], value, MERGE_KEYS[key])
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_keyed_list(current: list[Any], patch: list[Any], key: str) -> list[Any]:
    merged = copy.deepcopy(current)
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise ApiError(
                400, "BadRequest", f"map: {item} does not contain declared merge key: {key}"
            )
        index = next(
            (
                i
                for i, old in enumerate(merged)
                if isinstance(old, dict) and old.get(key) == item[key]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                del merged[index]
        elif index is None:
            merged.append({k: v for k, v in item.items() if not k.startswith("$")})
        else:
            merged[index] = apply_strategic_merge_patch(merged[index], item)
    return merged


# --- the server ------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: `down()` then refuses at once

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _dispatch(self) -> None:
        self.server.fake._handle(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeKubernetes


class FakeKubernetes:
    """An in-memory Kubernetes API server on 127.0.0.1 that the real client can talk to."""

    def __init__(self, *, token: str = TOKEN, user: str = USER) -> None:
        self.token = token
        self.user = user
        self.requests: list[RecordedRequest] = []
        self.metrics_available = True
        self.auto_rollout = False
        self.readyz_failing: list[str] = []
        self.port = 0
        self._objects: dict[tuple[str, str, str], dict[tuple[str, str], dict[str, Any]]] = {}
        self._logs: dict[tuple[str, str, str, bool], str] = {}
        self._usage: dict[str, dict[str, str]] = {}
        self._failures: list[_Failure] = []
        self._delays: list[_Delay] = []
        self._lost_answers: list[_LostAnswer] = []
        self._crash_loops: list[_CrashLoop] = []
        self._resource_version = itertools.count(1000)
        self._uids = itertools.count(1)
        self._lock = threading.RLock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeKubernetes:
        """Listen on 127.0.0.1 (a free port the first time, the same port after `down`)."""
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.fake = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening; connections are refused until `up`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def down(self) -> None:
        """Refuse connections, like an API server that is gone."""
        self.stop()

    def up(self) -> None:
        """Listen again on the same port."""
        if self._server is None:
            self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- failure injection -------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path_substring: str,
        status: int,
        times: int | None = 1,
        *,
        message: str | None = None,
    ) -> None:
        """Answer the next `times` matching requests (None: all) with `status` and a Status body.

        `method` is an HTTP method or "*"; `path_substring` is matched against the path and query.
        """
        with self._lock:
            self._failures.append(_Failure(method.upper(), path_substring, status, times, message))

    def hang(self, method: str, path_substring: str, seconds: float, times: int | None = 1) -> None:
        """Delay the answer to matching requests by `seconds` (a slow or stuck API server)."""
        with self._lock:
            self._delays.append(_Delay(method.upper(), path_substring, seconds, times))

    def lose_answer(
        self,
        method: str,
        path_substring: str,
        *,
        times: int | None = 1,
        hang: float | None = None,
        then: Callable[[], None] | None = None,
    ) -> None:
        """Carry out matching requests, then lose the answer (the change is made all the same).

        Without `hang` the connection is closed with no answer (a dropped connection); with it
        the answer is sent `hang` seconds late, after a client with a shorter timeout gave up.
        `then` is called once the request was carried out (to break what comes next).
        """
        with self._lock:
            self._lost_answers.append(
                _LostAnswer(method.upper(), path_substring, times, hang, then)
            )

    def crash_loop(self, namespace: str, name: str, *, writes: int | None = None) -> None:
        """Make the Deployment's status change after every read of it, spec untouched.

        What its controller does while the pods crash and restart: availableReplicas goes up and
        down and every write is a new resourceVersion, so by the time a client that read the
        Deployment writes to it, the resourceVersion it read is already gone. `writes` limits
        how many such status writes happen (None: until the test ends).
        """
        with self._lock:
            self._crash_loops.append(_CrashLoop(namespace, name, writes))

    def status_write(self, namespace: str, name: str) -> dict[str, Any]:
        """Write a new status to a Deployment, spec untouched: a crash-looping pod's churn."""
        with self._lock:
            deployment = self._table(BY_PLURAL["deployments"])[(namespace, name)]
            status = deployment.setdefault("status", {})
            replicas = deployment["spec"].get("replicas", 1)
            available = 0 if status.get("availableReplicas", 0) else max(replicas - 1, 1)
            status.update(
                {
                    "availableReplicas": available,
                    "readyReplicas": available,
                    "unavailableReplicas": max(replicas - available, 0),
                }
            )
            deployment["metadata"]["resourceVersion"] = self._next_rv()
            return copy.deepcopy(deployment)

    def set_readyz(self, ok: bool, failing: tuple[str, ...] | list[str] = ("etcd",)) -> None:
        """Make `/readyz` pass, or fail naming the failing checks."""
        self.readyz_failing = [] if ok else list(failing)

    def requests_to(self, method: str, path_substring: str = "") -> list[RecordedRequest]:
        """Return the recorded requests with this method whose path contains the substring."""
        return [r for r in self.requests if r.method == method.upper() and path_substring in r.path]

    def writes(self) -> list[RecordedRequest]:
        """Return the recorded POST, PUT, PATCH and DELETE requests."""
        return [r for r in self.requests if r.method in ("POST", "PUT", "PATCH", "DELETE")]

    # --- store -------------------------------------------------------------------------------

    def _table(self, resource: Resource) -> dict[tuple[str, str], dict[str, Any]]:
        return self._objects.setdefault((resource.group, resource.version, resource.plural), {})

    def _next_rv(self) -> str:
        return str(next(self._resource_version))

    def _new_uid(self) -> str:
        return f"00000000-0000-4000-8000-{next(self._uids):012d}"

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """Return a copy of a stored object (`plural` like "deployments"), or None."""
        with self._lock:
            obj = self._table(BY_PLURAL[plural]).get((namespace, name))
            return copy.deepcopy(obj) if obj is not None else None

    def items(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """Return copies of the stored objects of a kind, in one namespace or all."""
        with self._lock:
            table = self._table(BY_PLURAL[plural])
            return [
                copy.deepcopy(obj)
                for (ns, _), obj in sorted(table.items())
                if namespace is None or ns == namespace
            ]

    def put(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Store an object as-is (a new resourceVersion, metadata defaults filled in)."""
        resource = BY_PLURAL[plural]
        with self._lock:
            obj = copy.deepcopy(obj)
            metadata = obj.setdefault("metadata", {})
            obj.setdefault("apiVersion", resource.api_version)
            obj.setdefault("kind", resource.kind)
            metadata.setdefault("uid", self._new_uid())
            metadata.setdefault("creationTimestamp", now_rfc3339())
            if "spec" in obj:
                metadata.setdefault("generation", 1)
            metadata["resourceVersion"] = self._next_rv()
            namespace = metadata.get("namespace", "") if resource.namespaced else ""
            if namespace and ("", namespace) not in self._table(BY_PLURAL["namespaces"]):
                # Objects live in an existing namespace: seeding one creates it.
                self.add_namespace(namespace)
            self._table(resource)[(namespace, metadata["name"])] = obj
            return copy.deepcopy(obj)

    def delete(self, plural: str, namespace: str, name: str) -> None:
        """Remove a stored object if present."""
        with self._lock:
            self._table(BY_PLURAL[plural]).pop((namespace, name), None)

    # --- seeding -----------------------------------------------------------------------------

    def add_namespace(self, name: str) -> dict[str, Any]:
        """Seed a Namespace."""
        return self.put(
            "namespaces",
            {
                "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
                "spec": {"finalizers": ["kubernetes"]},
                "status": {"phase": "Active"},
            },
        )

    def add_deployment(
        self,
        namespace: str,
        name: str,
        *,
        image: str,
        revisions: list[str] | None = None,
        paused: bool = False,
        annotations: dict[str, str] | None = None,
        change_causes: list[str] | None = None,
        labels: dict[str, str] | None = None,
        container: str | None = None,
        replicas: int = 3,
        template_annotations: dict[str, str] | None = None,
        pods: int = 0,
        node: str = "",
    ) -> dict[str, Any]:
        """Seed a Deployment with its rollout history as ReplicaSets owned by it.

        `revisions` lists the image of each revision, oldest first; `image` is the current one
        and is appended as the newest revision when the list does not already end with it. A
        repeated image is one ReplicaSet whose revision moved up (with `revision-history`), as
        after a real rollback. `change_causes` (same order) sets `kubernetes.io/change-cause`.
        `annotations` are the Deployment's own; those the controller copies reach the
        ReplicaSets too. `pods` creates that many Running pods of the current ReplicaSet.
        """
        history = list(revisions or [])
        if not history or history[-1] != image:
            history.append(image)
        labels = dict(labels or {"app": name})
        container = container or name
        with self._lock:
            uid = self._new_uid()
            created = datetime.now(UTC) - timedelta(days=len(history))
            dep_annotations = dict(annotations or {})
            by_image: dict[str, dict[str, Any]] = {}
            for number, revision_image in enumerate(history, start=1):
                cause = (change_causes or [None] * len(history))[number - 1]
                template = pod_template(
                    labels=labels,
                    container=container,
                    image=revision_image,
                    annotations=template_annotations,
                )
                rs = by_image.get(revision_image)
                if rs is None:
                    rs = self._replicaset_for(
                        namespace,
                        name,
                        uid,
                        template,
                        revision=number,
                        replicas=0,
                        annotations=_copyable(dep_annotations),
                        created=created + timedelta(hours=number),
                    )
                    by_image[revision_image] = rs
                else:
                    ann = rs["metadata"]["annotations"]
                    previous = ann.get(REVISION_HISTORY, "")
                    ann[REVISION_HISTORY] = ",".join(x for x in (previous, ann[REVISION]) if x)
                    ann[REVISION] = str(number)
                if cause:
                    rs["metadata"]["annotations"]["kubernetes.io/change-cause"] = cause
            current = by_image[image]
            current["spec"]["replicas"] = replicas
            current["status"] = _rs_status(replicas)
            for rs in by_image.values():
                self.put("replicasets", rs)
            dep_annotations[REVISION] = str(len(history))
            if change_causes and change_causes[-1]:
                dep_annotations.setdefault("kubernetes.io/change-cause", change_causes[-1])
            spec: dict[str, Any] = {
                "replicas": replicas,
                "selector": {"matchLabels": dict(labels)},
                "template": pod_template(
                    labels=labels,
                    container=container,
                    image=image,
                    annotations=template_annotations,
                ),
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
                },
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
            }
            if paused:
                spec["paused"] = True
            deployment = {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "uid": uid,
                    "generation": len(history),
                    "creationTimestamp": now_rfc3339(created),
                    "labels": dict(labels),
                    "annotations": dep_annotations,
                },
                "spec": spec,
                "status": _deployment_status(replicas, generation=len(history)),
            }
            stored = self.put("deployments", deployment)
            current_hash = current["metadata"]["labels"][HASH_LABEL]
            for index in range(pods):
                self.add_pod(
                    namespace,
                    f"{name}-{current_hash}-{index:05d}"[:63],
                    labels={**labels, HASH_LABEL: current_hash},
                    node=node,
                    containers=[container],
                    image=image,
                    owner=("ReplicaSet", current["metadata"]["name"]),
                )
            return stored

    def _replicaset_for(
        self,
        namespace: str,
        deployment: str,
        deployment_uid: str,
        template: dict[str, Any],
        *,
        revision: int,
        replicas: int,
        annotations: dict[str, str],
        created: datetime | None = None,
    ) -> dict[str, Any]:
        hash_value = template_hash(template)
        template = copy.deepcopy(template)
        template["metadata"].setdefault("labels", {})[HASH_LABEL] = hash_value
        labels = dict(template["metadata"]["labels"])
        dep = self._table(BY_PLURAL["deployments"]).get((namespace, deployment))
        selector = copy.deepcopy(dep["spec"]["selector"]) if dep else {"matchLabels": {}}
        if not dep:
            selector["matchLabels"] = {k: v for k, v in labels.items() if k != HASH_LABEL}
        selector.setdefault("matchLabels", {})[HASH_LABEL] = hash_value
        return {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{deployment}-{hash_value}",
                "namespace": namespace,
                "uid": self._new_uid(),
                "generation": 1,
                "creationTimestamp": now_rfc3339(created or datetime.now(UTC)),
                "labels": labels,
                "annotations": {
                    **annotations,
                    REVISION: str(revision),
                    DESIRED_REPLICAS: str(replicas or 3),
                    MAX_REPLICAS: str((replicas or 3) + 1),
                },
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": deployment,
                        "uid": deployment_uid,
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {"replicas": replicas, "selector": selector, "template": template},
            "status": _rs_status(replicas),
        }

    def add_replicaset(
        self,
        namespace: str,
        name: str | None = None,
        *,
        owner: str | None,
        revision: int,
        image: str,
        labels: dict[str, str] | None = None,
        container: str | None = None,
        annotations: dict[str, str] | None = None,
        template: dict[str, Any] | None = None,
        owner_uid: str | None = None,
        replicas: int = 0,
    ) -> dict[str, Any]:
        """Seed a ReplicaSet, controlled by Deployment `owner` (None: by nothing).

        The owner's uid is the stored Deployment's when it exists, else `owner_uid` or a new
        one, so a ReplicaSet "owned by another Deployment" can carry the same labels.
        """
        with self._lock:
            dep = self._table(BY_PLURAL["deployments"]).get((namespace, owner or ""))
            labels = dict(labels or (dep["spec"]["selector"]["matchLabels"] if dep else {}))
            container = container or (
                dep["spec"]["template"]["spec"]["containers"][0]["name"] if dep else owner or "app"
            )
            template = template or pod_template(labels=labels, container=container, image=image)
            uid = dep["metadata"]["uid"] if dep else (owner_uid or self._new_uid())
            rs = self._replicaset_for(
                namespace,
                owner or "orphan",
                uid,
                template,
                revision=revision,
                replicas=replicas,
                annotations=dict(annotations or {}),
            )
            if name:
                rs["metadata"]["name"] = name
            if owner is None:
                del rs["metadata"]["ownerReferences"]
            elif not dep:
                rs["metadata"]["ownerReferences"][0]["name"] = owner
            return self.put("replicasets", rs)

    def add_pod(
        self,
        namespace: str,
        name: str,
        *,
        labels: dict[str, str] | None = None,
        node: str = "",
        phase: str = "Running",
        ready: bool = True,
        containers: list[str] | None = None,
        image: str = "registry.example.com/app:v1",
        restarts: int = 0,
        waiting_reason: str = "",
        waiting_message: str = "",
        last_termination: dict[str, Any] | None = None,
        logs: str | dict[str, str] = "",
        previous_logs: str | dict[str, str] | None = None,
        owner: tuple[str, str] | None = None,
        created: datetime | str | None = None,
        ip: str = "",
    ) -> dict[str, Any]:
        """Seed a Pod; `waiting_reason="CrashLoopBackOff"` makes it crash-loop.

        `last_termination` is `{"reason", "exitCode", "finishedAt", ...}` for the previous
        container instance; `previous_logs` is what `logs --previous` returns (per container
        when a dict); without it, asking for previous logs is a 400 as on a real cluster.
        """
        names = containers or [name.rsplit("-", 2)[0] if "-" in name else name]
        created_at = _stamp(created, datetime.now(UTC) - timedelta(hours=2))
        statuses = []
        for container in names:
            state: dict[str, Any]
            if waiting_reason:
                state = {"waiting": {"reason": waiting_reason}}
                if waiting_message:
                    state["waiting"]["message"] = waiting_message
            elif phase == "Running":
                state = {"running": {"startedAt": created_at}}
            elif phase == "Pending":
                state = {"waiting": {"reason": "ContainerCreating"}}
            else:
                state = {
                    "terminated": {
                        "reason": "Completed" if phase == "Succeeded" else "Error",
                        "exitCode": 0 if phase == "Succeeded" else 1,
                    }
                }
            status: dict[str, Any] = {
                "name": container,
                "image": image,
                "imageID": "",
                "ready": ready and not waiting_reason and phase == "Running",
                "restartCount": restarts,
                "started": phase == "Running" and not waiting_reason,
                "state": state,
                "lastState": {},
            }
            if last_termination:
                status["lastState"] = {"terminated": dict(last_termination)}
            statuses.append(status)
        if phase == "Pending" and not node:
            statuses = []  # not scheduled yet: the kubelet has reported nothing
        all_ready = bool(statuses) and all(s["ready"] for s in statuses)
        pod: dict[str, Any] = {
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": dict(labels or {}),
                "creationTimestamp": created_at,
            },
            "spec": {
                "containers": [{"name": c, "image": image} for c in names],
                "restartPolicy": "Always",
                "schedulerName": "default-scheduler",
                "serviceAccountName": "default",
            },
            "status": {
                "phase": phase,
                "conditions": [
                    {"type": "Ready", "status": "True" if all_ready else "False"},
                    {"type": "ContainersReady", "status": "True" if all_ready else "False"},
                    {"type": "PodScheduled", "status": "True" if node else "False"},
                ],
                "containerStatuses": statuses,
                "startTime": created_at,
            },
        }
        if node:
            pod["spec"]["nodeName"] = node
            pod["status"]["hostIP"] = "10.0.0.1"
        if ip or phase == "Running":
            serial = next(self._uids)
            pod["status"]["podIP"] = ip or f"10.244.{serial // 250}.{serial % 250 + 2}"
        if owner:
            kind, owner_name = owner
            stored_owner = (
                self.get(_plural_of(kind), namespace, owner_name)
                if kind in {r.kind for r in RESOURCES}
                else None
            )
            pod["metadata"]["ownerReferences"] = [
                {
                    "apiVersion": "apps/v1" if kind in ("ReplicaSet", "Deployment") else "v1",
                    "kind": kind,
                    "name": owner_name,
                    "uid": (stored_owner or {}).get("metadata", {}).get("uid") or self._new_uid(),
                    "controller": True,
                }
            ]
        for container in names:
            current = logs.get(container, "") if isinstance(logs, dict) else logs
            self._logs[(namespace, name, container, False)] = current
            if previous_logs is not None:
                previous = (
                    previous_logs.get(container)
                    if isinstance(previous_logs, dict)
                    else previous_logs
                )
                if previous is not None:
                    self._logs[(namespace, name, container, True)] = previous
        return self.put("pods", pod)

    def add_node(
        self,
        name: str,
        ready: bool | str = True,
        *,
        roles: tuple[str, ...] = ("worker",),
        internal_ip: str = "",
        kubelet_version: str = "v1.33.1",
        cpu: str = "4",
        memory: str = "16Gi",
        usage_cpu: str = "250m",
        usage_memory: str = "2Gi",
        unschedulable: bool = False,
    ) -> dict[str, Any]:
        """Seed a Node; `ready` is True, False or "Unknown" (a node that stopped reporting)."""
        status = ready if isinstance(ready, str) else ("True" if ready else "False")
        reason = {"True": "KubeletReady", "False": "KubeletNotReady"}.get(
            status, "NodeStatusUnknown"
        )
        count = len(self.items("nodes"))
        labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
        labels.update({f"node-role.kubernetes.io/{role}": "" for role in roles})
        node: dict[str, Any] = {
            "metadata": {"name": name, "labels": labels},
            "spec": {"podCIDR": f"10.244.{count}.0/24"},
            "status": {
                "capacity": {"cpu": cpu, "memory": memory, "pods": "110"},
                "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
                "conditions": [
                    {
                        "type": "MemoryPressure",
                        "status": "False",
                        "reason": "KubeletHasSufficientMemory",
                    },
                    {
                        "type": "Ready",
                        "status": status,
                        "reason": reason,
                        "lastHeartbeatTime": now_rfc3339(),
                        "lastTransitionTime": now_rfc3339(datetime.now(UTC) - timedelta(minutes=7)),
                    },
                ],
                "addresses": [
                    {"type": "InternalIP", "address": internal_ip or f"10.0.0.{count + 10}"},
                    {"type": "Hostname", "address": name},
                ],
                "nodeInfo": {
                    "kubeletVersion": kubelet_version,
                    "kubeProxyVersion": kubelet_version,
                    "bootID": f"boot-{name}",
                    "machineID": f"machine-{name}",
                    "systemUUID": f"uuid-{name}",
                    "osImage": "Debian GNU/Linux 12 (bookworm)",
                    "kernelVersion": "6.1.0-28-amd64",
                    "containerRuntimeVersion": "containerd://1.7.24",
                    "architecture": "amd64",
                    "operatingSystem": "linux",
                },
            },
        }
        if unschedulable:
            node["spec"]["unschedulable"] = True
        self._usage[name] = {"cpu": usage_cpu, "memory": usage_memory}
        return self.put("nodes", node)

    def add_event(
        self,
        namespace: str,
        *,
        reason: str,
        message: str,
        involved_name: str,
        involved_kind: str = "Pod",
        type: str = "Warning",
        last_timestamp: datetime | str | None = None,
        first_timestamp: datetime | str | None = None,
        count: int = 1,
        component: str = "kubelet",
        name: str | None = None,
        event_time: str | None = None,
    ) -> dict[str, Any]:
        """Seed a core/v1 Event about an object (`last_timestamp` defaults to now)."""
        last = _stamp(last_timestamp, datetime.now(UTC))
        involved = self.get(_plural_of(involved_kind), namespace, involved_name) or {}
        event: dict[str, Any] = {
            "metadata": {
                "name": name or f"{involved_name}.{next(self._uids):016x}",
                "namespace": namespace,
            },
            "involvedObject": {
                "kind": involved_kind,
                "namespace": namespace,
                "name": involved_name,
                "uid": involved.get("metadata", {}).get("uid", ""),
                "apiVersion": "v1" if involved_kind in ("Pod", "Node", "Service") else "apps/v1",
            },
            "reason": reason,
            "message": message,
            "source": {"component": component},
            "firstTimestamp": _stamp(first_timestamp, datetime.now(UTC))
            if first_timestamp
            else last,
            "lastTimestamp": last,
            "count": count,
            "type": type,
            "reportingComponent": component,
        }
        if event_time:
            event["eventTime"] = event_time
        return self.put("events", event)

    def add_service(
        self,
        namespace: str,
        name: str,
        *,
        selector: dict[str, str],
        port: int = 80,
        target_port: int = 8080,
    ) -> dict[str, Any]:
        """Seed a ClusterIP Service."""
        return self.put(
            "services",
            {
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "type": "ClusterIP",
                    "selector": dict(selector),
                    "ports": [{"port": port, "targetPort": target_port, "protocol": "TCP"}],
                },
                "status": {"loadBalancer": {}},
            },
        )

    def add_endpoint_slice(
        self,
        namespace: str,
        service: str,
        *,
        endpoints: list[dict[str, Any]] | None = None,
        port: int = 8080,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Seed an EndpointSlice of a Service; each endpoint is `{"ip", "ready", "pod", "node"}`."""
        items = []
        for endpoint in endpoints or []:
            ready = endpoint.get("ready", True)
            item: dict[str, Any] = {
                "addresses": [endpoint["ip"]],
                "conditions": {
                    "ready": ready,
                    "serving": endpoint.get("serving", ready),
                    "terminating": endpoint.get("terminating", False),
                },
            }
            if endpoint.get("pod"):
                item["targetRef"] = {"kind": "Pod", "namespace": namespace, "name": endpoint["pod"]}
            if endpoint.get("node"):
                item["nodeName"] = endpoint["node"]
            items.append(item)
        return self.put(
            "endpointslices",
            {
                "metadata": {
                    "name": name or f"{service}-{template_hash({'s': service})[:5]}",
                    "namespace": namespace,
                    "labels": {
                        "kubernetes.io/service-name": service,
                        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                    },
                },
                "addressType": "IPv4",
                "endpoints": items,
                "ports": [{"name": "", "port": port, "protocol": "TCP"}],
            },
        )

    def add_network_policy(
        self,
        namespace: str,
        name: str,
        *,
        pod_selector: dict[str, Any] | None = None,
        policy_types: tuple[str, ...] = ("Ingress",),
        ingress: list[dict[str, Any]] | None = None,
        egress: list[dict[str, Any]] | None = None,
        created: datetime | str | None = None,
        changed: datetime | str | None = None,
    ) -> dict[str, Any]:
        """Seed a NetworkPolicy; `changed` is its last write as the managedFields record it."""
        created_at = _stamp(created, datetime.now(UTC) - timedelta(days=30))
        managed = [
            {
                "manager": "kubectl-client-side-apply",
                "operation": "Update",
                "apiVersion": "networking.k8s.io/v1",
                "time": created_at,
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {}},
            }
        ]
        if changed is not None:
            managed.append(
                {
                    "manager": "kubectl-edit",
                    "operation": "Update",
                    "apiVersion": "networking.k8s.io/v1",
                    "time": _stamp(changed, datetime.now(UTC)),
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:spec": {"f:ingress": {}}},
                }
            )
        spec: dict[str, Any] = {
            "podSelector": pod_selector if pod_selector is not None else {},
            "policyTypes": list(policy_types),
        }
        if ingress is not None:
            spec["ingress"] = ingress
        if egress is not None:
            spec["egress"] = egress
        return self.put(
            "networkpolicies",
            {
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "creationTimestamp": created_at,
                    "managedFields": managed,
                },
                "spec": spec,
            },
        )

    def add_configmap(
        self,
        namespace: str,
        name: str,
        data: dict[str, str] | None = None,
        *,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
        binary_data: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Seed a ConfigMap."""
        metadata: dict[str, Any] = {"name": name, "namespace": namespace}
        if labels:
            metadata["labels"] = dict(labels)
        if annotations:
            metadata["annotations"] = dict(annotations)
        obj: dict[str, Any] = {"metadata": metadata, "data": dict(data or {})}
        if binary_data:
            obj["binaryData"] = dict(binary_data)
        return self.put("configmaps", obj)

    def add_application(
        self,
        namespace: str,
        name: str,
        automated: dict[str, Any] | None = {"prune": True, "selfHeal": True},  # noqa: B006 - copied
        *,
        repo_url: str = "https://git.example.com/platform/deploy.git",
        path: str = "",
        target_revision: str = "HEAD",
        destination_namespace: str = "production",
    ) -> dict[str, Any]:
        """Seed an Argo CD Application; `automated=None` means auto-sync is off."""
        sync_policy: dict[str, Any] = {"syncOptions": ["CreateNamespace=true"]}
        if automated is not None:
            sync_policy["automated"] = copy.deepcopy(automated)
        return self.put(
            "applications",
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {
                    "project": "default",
                    "source": {
                        "repoURL": repo_url,
                        "path": path or f"k8s/{destination_namespace}/{name}",
                        "targetRevision": target_revision,
                    },
                    "destination": {
                        "server": "https://kubernetes.default.svc",
                        "namespace": destination_namespace,
                    },
                    "syncPolicy": sync_policy,
                },
                "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}},
            },
        )

    def add_control_plane(self, node: str = "cp-1", *, etcd_ready: bool = True) -> None:
        """Seed a kubeadm control plane: its node and kube-system pods (tier=control-plane)."""
        self.add_node(node, roles=("control-plane",))
        for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            healthy = etcd_ready or component != "etcd"
            self.add_pod(
                "kube-system",
                f"{component}-{node}",
                labels={"component": component, "tier": "control-plane"},
                node=node,
                containers=[component],
                image=f"registry.k8s.io/{component}:v1.33.1",
                ready=healthy,
                waiting_reason="" if healthy else "CrashLoopBackOff",
                restarts=0 if healthy else 12,
            )

    def set_rollout(
        self,
        namespace: str,
        name: str,
        *,
        updated: int,
        available: int,
        replicas: int,
        observed_generation: int | None = None,
        progressing_reason: str = "NewReplicaSetAvailable",
    ) -> dict[str, Any]:
        """Set a Deployment's rollout status (what the controller would report)."""
        with self._lock:
            deployment = self._table(BY_PLURAL["deployments"])[(namespace, name)]
            generation = deployment["metadata"].get("generation", 1)
            status = deployment.setdefault("status", {})
            status.update(
                {
                    "observedGeneration": (
                        generation if observed_generation is None else observed_generation
                    ),
                    "replicas": replicas,
                    "updatedReplicas": updated,
                    "readyReplicas": available,
                    "availableReplicas": available,
                    "unavailableReplicas": max(replicas - available, 0),
                }
            )
            progressing_status = (
                "False" if progressing_reason == "ProgressDeadlineExceeded" else "True"
            )
            status["conditions"] = [
                {
                    "type": "Available",
                    "status": "True"
                    if available >= deployment["spec"].get("replicas", 1)
                    else "False",
                    "reason": "MinimumReplicasAvailable",
                },
                {
                    "type": "Progressing",
                    "status": progressing_status,
                    "reason": progressing_reason,
                    "message": _progressing_message(name, progressing_reason),
                },
            ]
            deployment["metadata"]["resourceVersion"] = self._next_rv()
            return copy.deepcopy(deployment)

    def set_node_usage(self, name: str, *, cpu: str, memory: str) -> None:
        """Set what metrics.k8s.io reports for a node."""
        self._usage[name] = {"cpu": cpu, "memory": memory}

    # --- request handling --------------------------------------------------------------------

    def _handle(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        content_type = (handler.headers.get("Content-Type") or "").split(";")[0].strip()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        method = handler.command
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    method=method,
                    path=split.path,
                    query=query,
                    content_type=content_type,
                    body=body,
                    headers=dict(handler.headers.items()),
                )
            )
        info = _request_info(method, split.path, query)
        delay = self._take(self._delays, method, handler.path)
        if delay is not None:
            time.sleep(delay.seconds)
        try:
            if handler.headers.get("Authorization") != f"Bearer {self.token}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            failure = self._take(self._failures, method, handler.path)
            if failure is not None:
                raise self._injected(failure, info)
            status, payload, text_type = self._route(info, query, content_type, body, raw)
        except ApiError as error:
            status, payload, text_type = error.code, error.status(), False
        if method == "GET" and info.plural == "deployments" and not info.subresource:
            self._crash_loop_tick(info)
        lost = self._take(self._lost_answers, method, handler.path)
        if lost is not None:
            if lost.then is not None:
                lost.then()
            if lost.hang is None:
                handler.close_connection = True
                return  # the server closes the connection without a word
            time.sleep(lost.hang)
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header(
                "Content-Type", "text/plain; charset=utf-8" if text_type else "application/json"
            )
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test); nothing to answer

    def _crash_loop_tick(self, info: RequestInfo) -> None:
        with self._lock:
            for loop in self._crash_loops:
                if (loop.namespace, loop.name) != (info.namespace, info.name):
                    continue
                if loop.writes is not None:
                    if loop.writes <= 0:
                        continue
                    loop.writes -= 1
                if (info.namespace, info.name) in self._table(BY_PLURAL["deployments"]):
                    self.status_write(info.namespace, info.name)

    def _take(self, rules: list[Any], method: str, target: str) -> Any:
        with self._lock:
            for rule in rules:
                if rule.method in ("*", method) and rule.path_substring in target:
                    if rule.times is not None:
                        rule.times -= 1
                        if rule.times <= 0:
                            rules.remove(rule)
                    return rule
        return None

    def _injected(self, failure: _Failure, info: RequestInfo) -> ApiError:
        resource = info.resource
        qualified = resource.qualified if resource else info.plural
        if failure.status == 403:
            return forbidden(info, self.user, failure.message)
        if failure.status == 401:
            return ApiError(401, "Unauthorized", failure.message or "Unauthorized")
        if failure.status == 404:
            return not_found(info)
        if failure.status == 409:
            return ApiError(
                409,
                "Conflict",
                failure.message
                or f'Operation cannot be fulfilled on {qualified} "{info.name}": the object has '
                "been modified; please apply your changes to the latest version and try again",
                {"name": info.name, "group": info.group, "kind": info.plural},
            )
        if failure.status == 429:
            return ApiError(429, "TooManyRequests", failure.message or "Too many requests")
        if failure.status == 503:
            return ApiError(
                503,
                "ServiceUnavailable",
                failure.message or "the server is currently unable to handle the request",
            )
        return ApiError(
            failure.status,
            "InternalError",
            failure.message or "Internal error occurred: injected by the fake",
        )

    def _route(
        self,
        info: RequestInfo,
        query: dict[str, str],
        content_type: str,
        body: Any,
        raw: bytes,
    ) -> tuple[int, Any, bool]:
        if not info.is_resource:
            return self._non_resource(info, query)
        if info.plural == "" or (info.plural and info.resource is None):
            if info.plural == "" and info.verb in ("get", "list"):
                return 200, self._discovery(info), False
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        resource = info.resource
        assert resource is not None
        if resource.group == "metrics.k8s.io":
            return 200, self._metrics(info), False
        if info.subresource:
            if (info.plural, info.subresource) == ("pods", "log") and info.verb == "get":
                return 200, self._pod_log(info, query), True
            if info.subresource == "status" and info.verb == "get":
                return 200, self._get(resource, info), False
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        dry_run = query.get("dryRun")
        if dry_run not in (None, "All"):
            raise ApiError(
                400, "BadRequest", f'Invalid dry run value: {dry_run!r}: supported values: "All"'
            )
        if info.verb in ("list", "watch"):
            return 200, self._list(resource, info, query), False
        if info.verb == "get":
            return 200, self._get(resource, info), False
        if info.verb == "create":
            return 201, self._create(resource, info, body, dry_run=bool(dry_run)), False
        if info.verb == "update":
            return 200, self._update(resource, info, body, dry_run=bool(dry_run)), False
        if info.verb == "patch":
            return (
                200,
                self._patch(resource, info, content_type, body, raw, dry_run=bool(dry_run)),
                False,
            )
        if info.verb == "delete":
            return 200, self._delete(resource, info, body, dry_run=bool(dry_run)), False
        raise ApiError(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )

    def _non_resource(self, info: RequestInfo, query: dict[str, str]) -> tuple[int, Any, bool]:
        path = info.path.rstrip("/") or "/"
        if path in ("/readyz", "/livez", "/healthz"):
            checks = [
                "ping",
                "log",
                "etcd",
                "etcd-readiness",
                "informer-sync",
                "poststarthook/start-apiserver-admission-initializer",
            ]
            failing = set(self.readyz_failing)
            name = path.strip("/")
            if "verbose" not in query:
                if failing:
                    return 500, f"{name} check failed", True
                return 200, "ok", True
            lines = [
                f"[-]{check} failed: reason withheld" if check in failing else f"[+]{check} ok"
                for check in checks
            ]
            lines += [
                f"[-]{check} failed: reason withheld" for check in failing if check not in checks
            ]
            lines.append(f"{name} check failed" if failing else f"{name} check passed")
            return (500 if failing else 200), "\n".join(lines) + "\n", True
        if path == "/version":
            return (
                200,
                {
                    "major": "1",
                    "minor": "33",
                    "gitVersion": "v1.33.1-fake",
                    "gitCommit": "0" * 40,
                    "gitTreeState": "clean",
                    "buildDate": "2025-05-15T00:00:00Z",
                    "goVersion": "go1.24.2",
                    "compiler": "gc",
                    "platform": "linux/amd64",
                },
                False,
            )
        if path == "/api":
            return (
                200,
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{self.port}"}
                    ],
                },
                False,
            )
        if path == "/apis":
            groups: dict[str, list[str]] = {}
            for resource in RESOURCES:
                if resource.group and (
                    resource.group != "metrics.k8s.io" or self.metrics_available
                ):
                    groups.setdefault(resource.group, [])
                    if resource.version not in groups[resource.group]:
                        groups[resource.group].append(resource.version)
            return (
                200,
                {
                    "kind": "APIGroupList",
                    "apiVersion": "v1",
                    "groups": [
                        {
                            "name": group,
                            "versions": [
                                {"groupVersion": f"{group}/{v}", "version": v} for v in versions
                            ],
                            "preferredVersion": {
                                "groupVersion": f"{group}/{versions[0]}",
                                "version": versions[0],
                            },
                        }
                        for group, versions in groups.items()
                    ],
                },
                False,
            )
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    def _discovery(self, info: RequestInfo) -> dict[str, Any]:
        if info.group == "metrics.k8s.io" and not self.metrics_available:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        resources = [r for r in RESOURCES if (r.group, r.version) == (info.group, info.version)]
        if not resources:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
        entries = [
            {
                "name": r.plural,
                "singularName": r.kind.lower(),
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": ["get", "list"] if r.group == "metrics.k8s.io" else verbs,
            }
            for r in resources
        ]
        entries += [
            {
                "name": f"{parent}/{sub}",
                "singularName": "",
                "namespaced": True,
                "kind": "Pod" if sub == "log" else "Deployment",
                "verbs": ["get"],
            }
            for parent, sub in sorted(SUBRESOURCES)
            if any(r.plural == parent for r in resources)
        ]
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": resources[0].api_version,
            "resources": entries,
        }

    def _metrics(self, info: RequestInfo) -> dict[str, Any]:
        if not self.metrics_available:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if info.plural != "nodes":
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        items = []
        for node in self.items("nodes"):
            name = node["metadata"]["name"]
            usage = self._usage.get(name)
            if usage is None:
                continue
            items.append(
                {
                    "metadata": {"name": name, "creationTimestamp": now_rfc3339()},
                    "timestamp": now_rfc3339(),
                    "window": "20.05s",
                    "usage": dict(usage),
                }
            )
        if info.name:
            match = [item for item in items if item["metadata"]["name"] == info.name]
            if not match:
                raise ApiError(
                    404, "NotFound", f'nodemetrics.metrics.k8s.io "{info.name}" not found'
                )
            return {"kind": "NodeMetrics", "apiVersion": "metrics.k8s.io/v1beta1", **match[0]}
        return {
            "kind": "NodeMetricsList",
            "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {},
            "items": items,
        }

    def _pod_log(self, info: RequestInfo, query: dict[str, str]) -> str:
        pod = self.get("pods", info.namespace, info.name)
        if pod is None:
            raise not_found(info)
        containers = [c["name"] for c in pod["spec"]["containers"]]
        container = query.get("container", "")
        if not container:
            if len(containers) > 1:
                raise ApiError(
                    400,
                    "BadRequest",
                    f"a container name must be specified for pod {info.name}, choose one of: "
                    f"[{' '.join(containers)}]",
                )
            container = containers[0]
        if container not in containers:
            raise ApiError(
                400, "BadRequest", f"container {container} is not valid for pod {info.name}"
            )
        previous = query.get("previous") == "true"
        text = self._logs.get((info.namespace, info.name, container, previous))
        if text is None:
            raise ApiError(
                400,
                "BadRequest",
                f'previous terminated container "{container}" in pod "{info.name}" not found',
            )
        if "tailLines" in query:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-int(query["tailLines"]) :]) if int(query["tailLines"]) else ""
        return text

    def _get(self, resource: Resource, info: RequestInfo) -> dict[str, Any]:
        with self._lock:
            obj = self._table(resource).get(
                (info.namespace if resource.namespaced else "", info.name)
            )
            if obj is None:
                raise not_found(info)
            return copy.deepcopy(obj)

    def _list(self, resource: Resource, info: RequestInfo, query: dict[str, str]) -> dict[str, Any]:
        label_selector = query.get("labelSelector", "")
        field_selector = query.get("fieldSelector", "")
        # The apiserver parses selectors before reading anything: a bad one is a 400 even when
        # nothing would match.
        label_selector_matches(label_selector, {})
        field_selector_matches(resource.plural, field_selector, {})
        with self._lock:
            items = []
            for (namespace, _), obj in sorted(self._table(resource).items()):
                if info.namespace and namespace != info.namespace:
                    continue
                if label_selector and not label_selector_matches(
                    label_selector, obj["metadata"].get("labels") or {}
                ):
                    continue
                if field_selector and not field_selector_matches(
                    resource.plural, field_selector, obj
                ):
                    continue
                item = copy.deepcopy(obj)
                if not resource.custom:
                    # Typed lists carry kind and apiVersion on the list, not on each item.
                    item.pop("kind", None)
                    item.pop("apiVersion", None)
                items.append(item)
            return {
                "kind": f"{resource.kind}List",
                "apiVersion": resource.api_version,
                "metadata": {"resourceVersion": str(next(self._resource_version))},
                "items": items,
            }

    def _create(
        self, resource: Resource, info: RequestInfo, body: Any, *, dry_run: bool
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(
                400, "BadRequest", "the body of the request could not be decoded as an object"
            )
        metadata = body.setdefault("metadata", {})
        if resource.namespaced:
            if metadata.get("namespace", info.namespace) != info.namespace:
                raise ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent "
                    "on the request",
                )
            metadata["namespace"] = info.namespace
        if not metadata.get("name"):
            if metadata.get("generateName"):
                metadata["name"] = metadata["generateName"] + template_hash(body)[:5]
            else:
                raise ApiError(
                    422,
                    "Invalid",
                    f'{resource.kind} "" is invalid: metadata.name: Required value: name or '
                    "generateName is required",
                )
        if metadata.get("resourceVersion"):
            raise ApiError(
                400, "BadRequest", "resourceVersion should not be set on objects to be created"
            )
        with self._lock:
            key = (metadata.get("namespace", ""), metadata["name"])
            if key in self._table(resource):
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{resource.qualified} "{metadata["name"]}" already exists',
                    {"name": metadata["name"], "group": resource.group, "kind": resource.plural},
                )
            _validate(resource, body)
            body["apiVersion"], body["kind"] = resource.api_version, resource.kind
            if dry_run:
                obj = copy.deepcopy(body)
                obj["metadata"].update(uid=self._new_uid(), creationTimestamp=now_rfc3339())
                if "spec" in obj:
                    obj["metadata"]["generation"] = 1
                return obj
            return self.put(resource.plural, body)

    def _update(
        self, resource: Resource, info: RequestInfo, body: Any, *, dry_run: bool
    ) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(
                400, "BadRequest", "the body of the request could not be decoded as an object"
            )
        with self._lock:
            current = self._get(resource, info)
            sent_rv = body.get("metadata", {}).get("resourceVersion")
            if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
                raise conflict(resource, info.name)
            updated = copy.deepcopy(body)
            updated.setdefault("metadata", {})["resourceVersion"] = current["metadata"][
                "resourceVersion"
            ]
            return self._store_change(resource, info, current, updated, dry_run=dry_run)

    def _patch(
        self,
        resource: Resource,
        info: RequestInfo,
        content_type: str,
        body: Any,
        raw: bytes,
        *,
        dry_run: bool,
    ) -> dict[str, Any]:
        accepted = [JSON_PATCH, MERGE_PATCH] + ([] if resource.custom else [STRATEGIC_PATCH])
        if content_type not in accepted:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join([*accepted, APPLY_PATCH])}",
            )
        if isinstance(body, str) or (not raw):
            raise ApiError(
                400, "BadRequest", "the body of the request could not be decoded as JSON"
            )
        with self._lock:
            current = self._get(resource, info)
            if content_type == JSON_PATCH:
                patched = apply_json_patch(current, body)
            elif not isinstance(body, dict):
                raise ApiError(
                    400,
                    "BadRequest",
                    "json: cannot unmarshal array into Go value of type map[string]interface {}",
                )
            elif content_type == MERGE_PATCH:
                patched = apply_merge_patch(current, body)
            else:
                patched = apply_strategic_merge_patch(current, body)
            patched_rv = patched.get("metadata", {}).get("resourceVersion")
            # A resourceVersion in the patched object is a precondition, as on a real apiserver.
            if patched_rv and patched_rv != current["metadata"]["resourceVersion"]:
                raise conflict(resource, info.name)
            return self._store_change(resource, info, current, patched, dry_run=dry_run)

    def _store_change(
        self,
        resource: Resource,
        info: RequestInfo,
        current: dict[str, Any],
        updated: dict[str, Any],
        *,
        dry_run: bool,
    ) -> dict[str, Any]:
        metadata = updated.setdefault("metadata", {})
        if metadata.get("name") != current["metadata"]["name"]:
            raise ApiError(
                400,
                "BadRequest",
                f"the name of the object ({metadata.get('name')}) does not match the name on "
                f"the URL ({info.name})",
            )
        if resource.namespaced and metadata.get("namespace") != current["metadata"].get(
            "namespace"
        ):
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the object does not match the namespace on the URL",
            )
        # Fields the server owns: a client cannot change them.
        for owned in ("uid", "creationTimestamp"):
            if owned in current["metadata"]:
                metadata[owned] = current["metadata"][owned]
            else:
                metadata.pop(owned, None)
        if "status" in current and resource.plural in (
            "deployments",
            "replicasets",
            "pods",
            "nodes",
        ):
            updated["status"] = copy.deepcopy(current["status"])  # status is a subresource
        updated["apiVersion"], updated["kind"] = resource.api_version, resource.kind
        _validate(resource, updated, current)
        if "generation" in current["metadata"]:
            generation = current["metadata"]["generation"]
            if updated.get("spec") != current.get("spec"):
                generation += 1
            metadata["generation"] = generation
        template_changed = resource.plural == "deployments" and (
            updated["spec"].get("template") != current["spec"].get("template")
        )
        if dry_run:
            return updated
        stored = self.put(resource.plural, updated)
        if template_changed or (
            resource.plural == "deployments" and updated.get("spec") != current.get("spec")
        ):
            self._deployment_controller(info.namespace, info.name, template_changed)
        return stored

    def _delete(
        self, resource: Resource, info: RequestInfo, body: Any, *, dry_run: bool
    ) -> dict[str, Any]:
        with self._lock:
            current = self._get(resource, info)
            preconditions = (
                (body or {}).get("preconditions") or {} if isinstance(body, dict) else {}
            )
            uid = preconditions.get("uid")
            if uid and uid != current["metadata"]["uid"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {resource.qualified} "{info.name}": '
                    f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                    f"{current['metadata']['uid']}",
                    {"name": info.name, "group": resource.group, "kind": resource.plural},
                )
            rv = preconditions.get("resourceVersion")
            if rv and rv != current["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {resource.qualified} "{info.name}": '
                    f"the ResourceVersion in the precondition ({rv}) does not match the "
                    f"ResourceVersion in record ({current['metadata']['resourceVersion']}). "
                    "The object might have been modified",
                    {"name": info.name, "group": resource.group, "kind": resource.plural},
                )
            if dry_run:
                return _success(resource, info, current)
            self._table(resource).pop(
                (info.namespace if resource.namespaced else "", info.name), None
            )
            if resource.plural == "nodes":
                # The pod garbage collector removes pods bound to a node that no longer exists.
                pods = self._table(BY_PLURAL["pods"])
                for key in [
                    k for k, pod in pods.items() if pod["spec"].get("nodeName") == info.name
                ]:
                    del pods[key]
                self._usage.pop(info.name, None)
            return _success(resource, info, current)

    def _deployment_controller(self, namespace: str, name: str, template_changed: bool) -> None:
        """Do what the Deployment controller does after a spec change (synchronously)."""
        deployments = self._table(BY_PLURAL["deployments"])
        deployment = copy.deepcopy(deployments[(namespace, name)])
        spec = deployment["spec"]
        replicas = spec.get("replicas", 1)
        status = deployment.setdefault("status", {})
        if template_changed and not spec.get("paused"):
            uid = deployment["metadata"]["uid"]
            owned = [
                rs
                for (ns, _), rs in self._table(BY_PLURAL["replicasets"]).items()
                if ns == namespace
                and any(
                    ref.get("uid") == uid and ref.get("controller")
                    for ref in rs["metadata"].get("ownerReferences", [])
                )
            ]
            revisions = [
                int(rs["metadata"].get("annotations", {}).get(REVISION, "0")) for rs in owned
            ]
            newest = max(revisions, default=0)
            match = next(
                (
                    rs
                    for rs in owned
                    if without_hash(rs["spec"]["template"]) == without_hash(spec["template"])
                ),
                None,
            )
            annotations = deployment["metadata"].setdefault("annotations", {})
            if match is None:
                new_revision = newest + 1
                rs = self._replicaset_for(
                    namespace,
                    name,
                    uid,
                    without_hash(spec["template"]),
                    revision=new_revision,
                    replicas=replicas,
                    annotations=_copyable(annotations),
                )
            else:
                rs = copy.deepcopy(match)
                rs_annotations = rs["metadata"].setdefault("annotations", {})
                old_revision = int(rs_annotations.get(REVISION, "0"))
                new_revision = old_revision
                if old_revision != newest:
                    new_revision = newest + 1
                    history = [h for h in rs_annotations.get(REVISION_HISTORY, "").split(",") if h]
                    rs_annotations[REVISION_HISTORY] = ",".join([*history, str(old_revision)])
                for key in [k for k in rs_annotations if k not in CONTROLLER_ANNOTATIONS]:
                    del rs_annotations[key]
                rs_annotations.update(_copyable(annotations))
                rs_annotations[REVISION] = str(new_revision)
                rs["spec"]["replicas"] = replicas
            for other in owned:
                if other["metadata"]["name"] != rs["metadata"]["name"] and self.auto_rollout:
                    other["spec"]["replicas"] = 0
                    other["status"] = _rs_status(0)
            self.put("replicasets", rs)
            annotations[REVISION] = str(new_revision)
            status["updatedReplicas"] = replicas if self.auto_rollout else 0
        status["observedGeneration"] = deployment["metadata"].get("generation", 1)
        if self.auto_rollout:
            status.update(_deployment_status(replicas, generation=status["observedGeneration"]))
        elif template_changed and not spec.get("paused"):
            status["conditions"] = [
                c for c in status.get("conditions", []) if c.get("type") != "Progressing"
            ] + [
                {
                    "type": "Progressing",
                    "status": "True",
                    "reason": "ReplicaSetUpdated",
                    "message": f'ReplicaSet is progressing for deployment "{name}".',
                }
            ]
        self.put("deployments", deployment)


# --- helpers ---------------------------------------------------------------------------------


def _request_info(method: str, path: str, query: dict[str, str]) -> RequestInfo:
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        return RequestInfo(path=path, is_resource=False, verb=method.lower())
    if parts[0] == "api":
        if len(parts) < 2:
            return RequestInfo(path=path, is_resource=False, verb="get")
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 3:
            return RequestInfo(path=path, is_resource=False, verb="get")
        group, version, rest = parts[1], parts[2], parts[3:]
    namespace = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    plural = rest[0] if rest else ""
    name = rest[1] if len(rest) > 1 else ""
    subresource = rest[2] if len(rest) > 2 else ""
    verb = {
        "GET": "get" if name else ("watch" if query.get("watch") in ("1", "true") else "list"),
        "POST": "create",
        "PUT": "update",
        "PATCH": "patch",
        "DELETE": "delete" if name else "deletecollection",
    }.get(method, method.lower())
    return RequestInfo(
        path=path,
        is_resource=True,
        group=group,
        version=version,
        namespace=namespace,
        plural=plural,
        name=name,
        subresource=subresource,
        verb=verb,
    )


def forbidden(info: RequestInfo, user: str, message: str | None = None) -> ApiError:
    """Return the 403 kube-apiserver's RBAC authorizer answers for this request."""
    if message:
        return ApiError(403, "Forbidden", message)
    if not info.is_resource:
        return ApiError(
            403, "Forbidden", f'forbidden: User "{user}" cannot {info.verb} path "{info.path}"'
        )
    resource = info.resource
    qualified = resource.qualified if resource else info.plural
    rbac_resource = f"{info.plural}/{info.subresource}" if info.subresource else info.plural
    subject = f'{qualified} "{info.name}"' if info.name else qualified
    scope = f'in the namespace "{info.namespace}"' if info.namespace else "at the cluster scope"
    text = (
        f'{subject} is forbidden: User "{user}" cannot {info.verb} resource "{rbac_resource}" '
        f'in API group "{info.group}" {scope}'
    )
    details: dict[str, Any] = {"group": info.group, "kind": info.plural}
    if info.name:
        details["name"] = info.name
    return ApiError(403, "Forbidden", text, details)


def not_found(info: RequestInfo) -> ApiError:
    """Return the 404 the apiserver answers for a missing object."""
    resource = info.resource
    qualified = resource.qualified if resource else info.plural
    return ApiError(
        404,
        "NotFound",
        f'{qualified} "{info.name}" not found',
        {"name": info.name, "group": info.group, "kind": info.plural},
    )


def conflict(resource: Resource, name: str) -> ApiError:
    """Return the 409 for a write whose resourceVersion precondition no longer holds."""
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {resource.qualified} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again",
        {"name": name, "group": resource.group, "kind": resource.plural},
    )


def _success(resource: Resource, info: RequestInfo, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": info.name,
            "group": resource.group,
            "kind": resource.plural,
            "uid": obj["metadata"]["uid"],
        },
    }


def _validate(
    resource: Resource, obj: dict[str, Any], current: dict[str, Any] | None = None
) -> None:
    """Reject what the apiserver would: non-string labels/annotations, bad Deployments."""
    metadata = obj.get("metadata", {})
    for mapping in ("labels", "annotations"):
        values = metadata.get(mapping)
        if values is None:
            continue
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            raise ApiError(
                400,
                "BadRequest",
                "json: cannot unmarshal into Go struct field "
                f"ObjectMeta.metadata.{mapping} of type string",
            )
    if resource.plural == "configmaps":
        data = obj.get("data")
        if data is not None and not (
            isinstance(data, dict) and all(isinstance(v, str) for v in data.values())
        ):
            raise ApiError(
                400,
                "BadRequest",
                "json: cannot unmarshal into Go struct field ConfigMap.data of type string",
            )
    if resource.plural != "deployments":
        return
    name = metadata.get("name", "")
    spec = obj.get("spec") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    causes = []
    if any(labels.get(k) != v for k, v in selector.items()):
        causes.append(
            f"spec.template.metadata.labels: Invalid value: {json.dumps(labels)}: "
            "`selector` does not match template `labels`"
        )
    containers = (template.get("spec") or {}).get("containers") or []
    if not containers:
        causes.append("spec.template.spec.containers: Required value")
    for index, container in enumerate(containers):
        if not container.get("name"):
            causes.append(f"spec.template.spec.containers[{index}].name: Required value")
        if not container.get("image"):
            causes.append(f"spec.template.spec.containers[{index}].image: Required value")
    if current is not None and spec.get("selector") != current["spec"].get("selector"):
        causes.append("spec.selector: Invalid value: field is immutable")
    if causes:
        raise ApiError(
            422,
            "Invalid",
            f'Deployment.apps "{name}" is invalid: ' + ", ".join(causes),
            {"name": name, "group": "apps", "kind": "Deployment"},
        )


def _copyable(annotations: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in annotations.items() if k not in CONTROLLER_ANNOTATIONS}


def _rs_status(replicas: int) -> dict[str, Any]:
    return {
        "replicas": replicas,
        "fullyLabeledReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "observedGeneration": 1,
    }


def _deployment_status(replicas: int, *, generation: int) -> dict[str, Any]:
    return {
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [
            {
                "type": "Available",
                "status": "True",
                "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
            },
            {
                "type": "Progressing",
                "status": "True",
                "reason": "NewReplicaSetAvailable",
                "message": "ReplicaSet has successfully progressed.",
            },
        ],
    }


def _progressing_message(name: str, reason: str) -> str:
    if reason == "ProgressDeadlineExceeded":
        return f'ReplicaSet "{name}" has timed out progressing.'
    if reason == "NewReplicaSetAvailable":
        return f'ReplicaSet "{name}" has successfully progressed.'
    return f'ReplicaSet "{name}" is progressing.'


def _plural_of(kind: str) -> str:
    return next(
        (r.plural for r in RESOURCES if r.kind == kind and r.group != "metrics.k8s.io"),
        kind.lower() + "s",
    )


def kubeconfig_for(fake: FakeKubernetes, path: str | Path, context: str = "fake") -> Path:
    """Write a kubeconfig (plain http, bearer token) for the running fake; return its path."""
    path = Path(path)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake-cluster", "cluster": {"server": fake.url}}],
        "users": [{"name": "fake-user", "user": {"token": fake.token}}],
        "contexts": [
            {
                "name": context,
                "context": {"cluster": "fake-cluster", "user": "fake-user", "namespace": "default"},
            }
        ],
        "current-context": context,
        "preferences": {},
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def fake_kubernetes(tmp_path: Path) -> Iterator[tuple[FakeKubernetes, Any]]:
    """Yield a running fake Kubernetes API and a ClusterConfig pointing at it."""
    # Imported here so a broken adapter module fails only the tests that use this fixture.
    from portal.integrations.kubernetes import ClusterConfig

    fake = FakeKubernetes().start()
    path = kubeconfig_for(fake, tmp_path / "kubeconfig", context="fake")
    try:
        yield fake, ClusterConfig(kubeconfig_path=str(path), context="fake", request_timeout=5.0)
    finally:
        fake.stop()
