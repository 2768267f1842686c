"""Kubernetes adapter: the runbook's kubectl commands through the official `kubernetes` client.

Every call builds its own `ApiClient` from the cluster's kubeconfig file and context (or the pod's
service account), never the client's global configuration, and passes `_request_timeout`.
Responses are read as the apiserver's JSON (`_preload_content=False`), so templates are compared
and patched back exactly as kubectl does, with nothing lost to a model round trip.

Mutations are two steps: a `Plan` (server-side dry run, a readable diff, the pinned
`resourceVersion`), then `plan_apply`, which sends the pinned resourceVersion as a precondition
(the apiserver answers 409 when the object changed since the preview). `plan_in_place` reconciles
a retry. Failures are the typed exceptions below; messages say what happened and what to do.
"""

import difflib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from copy import deepcopy
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

import urllib3
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.utils import parse_quantity

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
HASH_LABEL = "pod-template-hash"
# kubectl's rollback keeps these from the Deployment and takes every other annotation from the
# ReplicaSet it rolls back to (k8s.io/kubectl/pkg/polymorphichelpers/rollback.go).
ROLLBACK_KEPT_ANNOTATIONS = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION_ANNOTATION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)
CONTENT_TYPES = {
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
}
ARGO_GROUP, ARGO_VERSION, ARGO_PLURAL = "argoproj.io", "v1alpha1", "applications"
RBAC_MESSAGE = re.compile(
    r'cannot (?P<verb>\S+) resource "(?P<resource>[^"]+)" in API group "(?P<group>[^"]*)"'
    r'(?: in the namespace "(?P<namespace>[^"]+)")?'
)
RBAC_USER = re.compile(r'User "(?P<user>[^"]+)"')


# --- Configuration and results ------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterConfig:
    """How to reach one cluster: a kubeconfig file and context, or the pod's service account."""

    kubeconfig_path: str = ""
    context: str = ""
    in_cluster: bool = False
    request_timeout: float = 15.0


@dataclass(frozen=True)
class Revision:
    """One entry of `kubectl rollout history`: a ReplicaSet the Deployment controls."""

    number: int
    replicaset: str
    created_at: str
    images: list[str]
    change_cause: str
    current: bool


@dataclass(frozen=True)
class Plan:
    """A previewed change, pinned to the resourceVersion it was computed against.

    `patch_type` is "json", "strategic" or "merge" for a PATCH, "delete" for a node deletion
    (the patch is unused) and "create" for a ConfigMap that does not exist yet (the patch is
    the object to create).
    """

    kind: str
    namespace: str
    name: str
    resource_version: str
    patch: Any
    patch_type: str
    diff: str
    summary: str
    revision: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RolloutStatus:
    """What `kubectl rollout status` would say about a Deployment right now."""

    done: bool
    failed: bool
    message: str


@dataclass(frozen=True)
class ControlPlaneStatus:
    """Whether the API server is ready (`/readyz?verbose`) and its visible control-plane pods."""

    ok: bool
    readyz: str
    pods: list[dict[str, Any]]
    error: str
    pods_error: str = ""


# --- Exceptions ----------------------------------------------------------------------------------


class KubernetesError(Exception):
    """The cluster refused or failed a call; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class KubernetesConfigError(KubernetesError):
    """The kubeconfig file, its context or the in-cluster service account cannot be loaded."""


class KubernetesUnreachable(KubernetesError):
    """The API server did not answer: connection refused, timeout, DNS or TLS failure."""


class KubernetesUnauthorized(KubernetesError):
    """401: the cluster does not accept the workers' credentials."""


class KubernetesForbidden(KubernetesError):
    """403: the workers' account lacks a permission; the message names the verb and resource."""

    def __init__(self, verb: str, resource: str, namespace: str = "", *, user: str = "") -> None:
        where = f"in namespace {namespace}" if namespace else "at the cluster scope"
        super().__init__(
            f"Forbidden: the workers' account may not {verb} {resource} {where}.", status=403
        )
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        self.user = user


class KubernetesNotFound(KubernetesError):
    """404: the object (or the API serving it) does not exist."""


class KubernetesConflict(KubernetesError):
    """409: the object changed since the preview (or already exists); preview again."""


class KubernetesInvalid(KubernetesError):
    """400/415/422: the cluster rejected what was sent."""


class RolloutPaused(KubernetesError):
    """The Deployment is paused: kubectl refuses to roll it back or restart it."""


class NoRolloutHistory(KubernetesError):
    """The Deployment has no earlier revision to roll back to."""


class RevisionNotFound(KubernetesError):
    """The requested revision is not in the Deployment's history."""

    def __init__(self, revision: int, message: str = "") -> None:
        super().__init__(message or f"unable to find specified revision {revision} in history")
        self.revision = revision


class AlreadyInPlace(KubernetesError):
    """Nothing to do: the cluster already has what the change would produce."""


# --- Client plumbing -----------------------------------------------------------------------------


class _Session:
    """The typed APIs over one ApiClient; `call` sets the timeout and maps failures."""

    def __init__(self, api: k8s_client.ApiClient, timeout: float) -> None:
        self.api = api
        self.timeout = timeout
        self.core = k8s_client.CoreV1Api(api)
        self.apps = k8s_client.AppsV1Api(api)
        self.custom = k8s_client.CustomObjectsApi(api)
        self.discovery = k8s_client.DiscoveryV1Api(api)
        self.networking = k8s_client.NetworkingV1Api(api)

    def raw(
        self,
        method: Callable[..., Any],
        *args: Any,
        what: tuple[str, str, str, str],
        **kwargs: Any,
    ) -> bytes:
        """Call a client method and return the raw body; `what` is (verb, resource, ns, name)."""
        kwargs["_preload_content"] = False
        kwargs["_request_timeout"] = self.timeout
        try:
            response = method(*args, **kwargs)
            data: bytes = response.data
        except ApiException as error:
            raise _api_error(error, *what) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise _unreachable(error, self.api.configuration.host) from error
        return data

    def call(
        self,
        method: Callable[..., Any],
        *args: Any,
        what: tuple[str, str, str, str],
        **kwargs: Any,
    ) -> Any:
        """Call a client method and return its JSON body."""
        return json.loads(self.raw(method, *args, what=what, **kwargs) or b"{}")

    def deployment(self, namespace: str, name: str) -> dict[str, Any]:
        return self.call(
            self.apps.read_namespaced_deployment,
            name,
            namespace,
            what=("get", "deployments.apps", namespace, name),
        )

    def patch_deployment(
        self, namespace: str, name: str, body: Any, patch_type: str, *, dry_run: bool
    ) -> dict[str, Any]:
        return self.call(
            self.apps.patch_namespaced_deployment,
            name,
            namespace,
            body,
            dry_run="All" if dry_run else None,
            _content_type=CONTENT_TYPES[patch_type],
            what=("patch", "deployments.apps", namespace, name),
        )

    def owned_replicasets(self, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        """Return the ReplicaSets the Deployment controls (its selector, then ownerReferences)."""
        namespace = deployment["metadata"]["namespace"]
        listing = self.call(
            self.apps.list_namespaced_replica_set,
            namespace,
            label_selector=_selector_string(deployment["spec"].get("selector") or {}),
            what=("list", "replicasets.apps", namespace, ""),
        )
        uid = deployment["metadata"]["uid"]
        return [
            rs
            for rs in listing.get("items", [])
            if any(
                ref.get("controller") and ref.get("uid") == uid
                for ref in rs["metadata"].get("ownerReferences") or []
            )
        ]

    def application(self, namespace: str, name: str) -> dict[str, Any]:
        return self.call(
            self.custom.get_namespaced_custom_object,
            ARGO_GROUP,
            ARGO_VERSION,
            namespace,
            ARGO_PLURAL,
            name,
            what=("get", "applications.argoproj.io", namespace, name),
        )

    def patch_application(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        # Custom resources take no strategic merge patch (415): say merge patch explicitly.
        self.call(
            self.custom.patch_namespaced_custom_object,
            ARGO_GROUP,
            ARGO_VERSION,
            namespace,
            ARGO_PLURAL,
            name,
            body,
            _content_type=CONTENT_TYPES["merge"],
            what=("patch", "applications.argoproj.io", namespace, name),
        )


@contextmanager
def _session(config: ClusterConfig) -> Iterator[_Session]:
    """Yield a session on a fresh ApiClient for the cluster; close it afterwards."""
    try:
        if config.in_cluster:
            configuration = k8s_client.Configuration()
            k8s_config.load_incluster_config(client_configuration=configuration)
            api = k8s_client.ApiClient(configuration)
        else:
            api = k8s_config.new_client_from_config(
                config_file=config.kubeconfig_path or None,
                context=config.context or None,
                persist_config=False,
            )
    except (ConfigException, OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as error:
        source = (
            "the in-cluster service account"
            if config.in_cluster
            else (
                f"kubeconfig {config.kubeconfig_path or '(default)'}"
                + (f" context {config.context}" if config.context else "")
            )
        )
        raise KubernetesConfigError(f"Cannot load {source}: {error}") from error
    try:
        yield _Session(api, config.request_timeout)
    finally:
        api.close()


def _status_body(error: ApiException) -> dict[str, Any]:
    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _api_error(
    error: ApiException, verb: str, resource: str, namespace: str, name: str
) -> KubernetesError:
    """Map an ApiException to the adapter's exception, keeping the apiserver's own words."""
    status = error.status or 0
    body = _status_body(error)
    message = str(body.get("message") or error.reason or "").strip()
    where = f" in namespace {namespace}" if namespace else ""
    if status == 0:
        return KubernetesUnreachable(f"Cannot reach the Kubernetes API: {message}")
    if status == 401:
        return KubernetesUnauthorized(
            "Unauthorized: the cluster rejected the workers' credentials (expired or wrong "
            "token or certificate in the kubeconfig).",
            status=401,
        )
    if status == 403:
        match = RBAC_MESSAGE.search(message)
        user = RBAC_USER.search(message)
        if match:
            qualified = match["resource"] + (f".{match['group']}" if match["group"] else "")
            return KubernetesForbidden(
                match["verb"],
                qualified,
                match["namespace"] or "",
                user=user["user"] if user else "",
            )
        return KubernetesForbidden(verb, resource, namespace, user=user["user"] if user else "")
    if status == 404:
        subject = f'{resource} "{name}"' if name else resource
        return KubernetesNotFound(
            f"Not found: {message or subject + ' not found'}{where}.", status=404
        )
    if status == 409:
        subject = f"{resource} {namespace + '/' if namespace else ''}{name}"
        if body.get("reason") == "AlreadyExists":
            return KubernetesConflict(
                f"Conflict: {subject} was created since the preview ({message}); preview again.",
                status=409,
            )
        return KubernetesConflict(
            f"Conflict: {subject} changed since the preview ({message}); preview again.",
            status=409,
        )
    if status in (400, 415, 422):
        return KubernetesInvalid(f"The cluster rejected the request ({status}): {message}", status)
    return KubernetesError(f"Kubernetes API error {status}: {message}", status)


def _unreachable(error: Exception, host: str) -> KubernetesUnreachable:
    reason = getattr(error, "reason", None) or error
    text = str(reason)
    # urllib3 wraps the socket error in its own words; keep the last, most specific part.
    if "Connection refused" in text:
        text = "connection refused"
    elif "timed out" in text.lower():
        text = "timed out"
    elif "Name or service not known" in text or "nodename nor servname" in text:
        text = "the host name does not resolve"
    return KubernetesUnreachable(f"Cannot reach the Kubernetes API at {host}: {text}.")


# --- Small helpers -------------------------------------------------------------------------------


def _selector_string(selector: dict[str, Any]) -> str:
    """Return a LabelSelector as the selector string the API takes."""
    parts = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = ",".join(sorted(expression.get("values") or []))
        if operator == "In":
            parts.append(f"{key} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def _without_hash(template: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of a pod template without the pod-template-hash label."""
    clean = deepcopy(template)
    labels = (clean.get("metadata") or {}).get("labels")
    if labels is not None:
        labels.pop(HASH_LABEL, None)
        if not labels:
            del clean["metadata"]["labels"]
    return clean


def _equal_ignore_hash(left: dict[str, Any], right: dict[str, Any]) -> bool:
    """Return whether two pod templates are equal ignoring pod-template-hash (kubectl's test)."""
    return _without_hash(left) == _without_hash(right)


def _revision_of(obj: dict[str, Any]) -> int | None:
    value = (obj["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _images(template: dict[str, Any]) -> list[str]:
    return [c.get("image", "") for c in (template.get("spec") or {}).get("containers") or []]


def _rfc3339(moment: datetime) -> str:
    """Return a moment as RFC 3339 in UTC, seconds precision, as kubectl writes restartedAt."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> str:
    return _rfc3339(datetime.now(UTC))


class _Dumper(yaml.SafeDumper):
    """YAML for humans: multi-line strings as literal blocks."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def _yaml(value: Any) -> str:
    return yaml.dump(
        value,
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        width=100,
        allow_unicode=True,
    )


def _shown(obj: dict[str, Any]) -> dict[str, Any]:
    """Return what a preview diff shows of an object: no status, no server bookkeeping."""
    metadata = obj.get("metadata") or {}
    shown: dict[str, Any] = {
        "metadata": {
            key: deepcopy(metadata[key])
            for key in ("name", "namespace", "labels", "annotations")
            if key in metadata
        }
    }
    annotations = shown["metadata"].get("annotations") or {}
    for key, value in annotations.items():
        # last-applied-configuration is one long JSON line; its length is enough to see a change.
        if isinstance(value, str) and len(value) > 160:
            annotations[key] = f"{value[:60]}… ({len(value)} characters)"
    for key, value in obj.items():
        if key not in ("metadata", "status", "apiVersion", "kind"):
            shown[key] = deepcopy(value)
    return shown


def _diff(before: dict[str, Any], after: dict[str, Any], *, label: str, change: str) -> str:
    """Return a unified diff of two objects as YAML, labelled with what changes."""
    lines = difflib.unified_diff(
        _yaml(_shown(before)).splitlines(keepends=True),
        _yaml(_shown(after)).splitlines(keepends=True),
        fromfile=f"{label} (live)",
        tofile=f"{label} ({change})",
        n=3,
    )
    return "".join(lines)


def _with_precondition(patch: Any, patch_type: str, resource_version: str) -> Any:
    """Return the patch with the pinned resourceVersion the apiserver checks (409 if changed).

    A JSON patch `test` op is no precondition for the apiserver; replacing
    metadata.resourceVersion is: the update then requires that exact version.
    """
    if patch_type == "json":
        return [
            {"op": "replace", "path": "/metadata/resourceVersion", "value": resource_version},
            *deepcopy(patch),
        ]
    body = deepcopy(patch)
    body.setdefault("metadata", {})["resourceVersion"] = resource_version
    return body


# --- Reads ---------------------------------------------------------------------------------------


def _container_state(status: dict[str, Any]) -> tuple[str, str]:
    state = status.get("state") or {}
    for name in ("waiting", "terminated", "running"):
        if name in state:
            detail = state[name] or {}
            return name, str(detail.get("reason") or "")
    return "unknown", ""


def _pod_status(pod: dict[str, Any]) -> str:
    """Return the STATUS column of `kubectl get pods` for a pod."""
    status = pod.get("status") or {}
    reason = status.get("reason") or status.get("phase") or "Unknown"
    init_statuses = status.get("initContainerStatuses") or []
    for index, init in enumerate(init_statuses):
        state = init.get("state") or {}
        terminated = state.get("terminated")
        if terminated and terminated.get("exitCode") == 0:
            continue
        if terminated:
            reason = (
                f"Init:{terminated.get('reason') or 'ExitCode:' + str(terminated.get('exitCode'))}"
            )
        elif (state.get("waiting") or {}).get("reason") not in (None, "", "PodInitializing"):
            reason = f"Init:{state['waiting']['reason']}"
        else:
            reason = f"Init:{index}/{len(init_statuses)}"
        break
    else:
        has_running = False
        for container in reversed(status.get("containerStatuses") or []):
            state = container.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting and waiting.get("reason"):
                reason = waiting["reason"]
            elif terminated and terminated.get("reason"):
                reason = terminated["reason"]
            elif terminated:
                signal = terminated.get("signal")
                reason = f"Signal:{signal}" if signal else f"ExitCode:{terminated.get('exitCode')}"
            elif "running" in state and container.get("ready"):
                has_running = True
        if reason == "Completed" and has_running:
            reason = "Running"
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    return str(reason)


def _pod_summary(pod: dict[str, Any]) -> dict[str, Any]:
    """Return one row of `kubectl get pods -o wide` for a pod."""
    metadata, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    ready = sum(1 for c in containers if c.get("ready"))
    owners = [
        f"{ref.get('kind')}/{ref.get('name')}"
        for ref in metadata.get("ownerReferences") or []
        if ref.get("controller")
    ]
    return {
        "namespace": metadata.get("namespace", ""),
        "name": metadata["name"],
        "status": _pod_status(pod),
        "phase": status.get("phase", ""),
        "ready": f"{ready}/{len(spec.get('containers') or [])}",
        "restarts": sum(int(c.get("restartCount") or 0) for c in containers),
        "node": spec.get("nodeName", ""),
        "ip": status.get("podIP", ""),
        "created": metadata.get("creationTimestamp", ""),
        "owner": owners[0] if owners else "",
    }


def _pod_ok(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    ready = all(c.get("ready") for c in status.get("containerStatuses") or [{}])
    return _pod_status(pod) == "Running" and ready


def _event_time(event: dict[str, Any]) -> str:
    # kubectl sorts by .lastTimestamp; newer events may only carry eventTime (events.k8s.io).
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or event["metadata"].get("creationTimestamp")
        or ""
    )


def _event_summary(event: dict[str, Any]) -> dict[str, Any]:
    involved = event.get("involvedObject") or {}
    return {
        "last_seen": _event_time(event),
        "type": event.get("type", ""),
        "reason": event.get("reason", ""),
        "object": f"{involved.get('kind', '')}/{involved.get('name', '')}",
        "message": (event.get("message") or "").strip(),
        "count": int(event.get("count") or 1),
        "source": (event.get("source") or {}).get("component")
        or event.get("reportingComponent", ""),
    }


def _node_summary(node: dict[str, Any]) -> dict[str, Any]:
    metadata, status = node["metadata"], node.get("status") or {}
    ready: dict[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    ready_status = ready.get("status", "Unknown")
    text = {"True": "Ready", "False": "NotReady"}.get(ready_status, "Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        text += ",SchedulingDisabled"
    addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
    info = status.get("nodeInfo") or {}
    roles = sorted(
        label.split("/", 1)[1]
        for label in metadata.get("labels") or {}
        if label.startswith("node-role.kubernetes.io/") and label.split("/", 1)[1]
    )
    return {
        "name": metadata["name"],
        "ready": ready_status == "True",
        "status": text,
        "ready_reason": ready.get("reason", ""),
        "ready_since": ready.get("lastTransitionTime", ""),
        "roles": roles,
        "internal_ip": addresses.get("InternalIP", ""),
        "external_ip": addresses.get("ExternalIP", ""),
        "kubelet_version": info.get("kubeletVersion", ""),
        "os_image": info.get("osImage", ""),
        "kernel_version": info.get("kernelVersion", ""),
        "container_runtime": info.get("containerRuntimeVersion", ""),
        "created": metadata.get("creationTimestamp", ""),
    }


def _percent(used: float, total: float) -> int | None:
    return round(used * 100 / total) if total else None


def _node_usage(metrics: dict[str, Any], nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return `kubectl top nodes`: usage in millicores and MiB, percent of allocatable."""
    allocatable = {
        n["metadata"]["name"]: (n.get("status") or {}).get("allocatable") or {} for n in nodes
    }
    rows = []
    for item in metrics.get("items") or []:
        name = item["metadata"]["name"]
        usage = item.get("usage") or {}
        cpu = float(parse_quantity(usage.get("cpu", "0")))
        memory = float(parse_quantity(usage.get("memory", "0")))
        node_alloc = allocatable.get(name, {})
        rows.append(
            {
                "name": name,
                "cpu": f"{round(cpu * 1000)}m",
                "cpu_percent": _percent(cpu, float(parse_quantity(node_alloc.get("cpu", "0")))),
                "memory": f"{round(memory / 2**20)}Mi",
                "memory_percent": _percent(
                    memory, float(parse_quantity(node_alloc.get("memory", "0")))
                ),
                "window": item.get("window", ""),
            }
        )
    return sorted(rows, key=lambda row: row["name"])


def _endpoint_slice_summary(slice_: dict[str, Any]) -> dict[str, Any]:
    endpoints = []
    for endpoint in slice_.get("endpoints") or []:
        conditions = endpoint.get("conditions") or {}
        ref = endpoint.get("targetRef") or {}
        endpoints.append(
            {
                "addresses": list(endpoint.get("addresses") or []),
                # A nil "ready" means ready, per the EndpointSlice API.
                "ready": conditions.get("ready") is not False,
                "serving": conditions.get("serving", conditions.get("ready")) is not False,
                "terminating": bool(conditions.get("terminating")),
                "pod": ref.get("name", "") if ref.get("kind") == "Pod" else "",
                "node": endpoint.get("nodeName", ""),
            }
        )
    return {
        "name": slice_["metadata"]["name"],
        "address_type": slice_.get("addressType", ""),
        "ports": [
            {"name": p.get("name") or "", "port": p.get("port"), "protocol": p.get("protocol", "")}
            for p in slice_.get("ports") or []
        ],
        "endpoints": endpoints,
        "ready_count": sum(1 for e in endpoints if e["ready"]),
        "endpoint_count": len(endpoints),
    }


def _network_policy_summary(policy: dict[str, Any]) -> dict[str, Any]:
    metadata, spec = policy["metadata"], policy.get("spec") or {}
    created = metadata.get("creationTimestamp", "")
    times = [m.get("time") for m in metadata.get("managedFields") or [] if m.get("time")]
    return {
        "name": metadata["name"],
        "created": created,
        # The newest managedFields entry is the last write to the policy (kubectl has no field).
        "last_changed": max([created, *times]) if created or times else "",
        "pod_selector": _selector_string(spec.get("podSelector") or {}) or "(all pods)",
        "policy_types": list(spec.get("policyTypes") or []),
        "ingress_rules": len(spec.get("ingress") or []),
        "egress_rules": len(spec.get("egress") or []),
    }


class _Sections:
    """Collect a snapshot section by section; a section that fails is noted, not fatal."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.snapshot = snapshot
        self.failures: list[KubernetesError] = []
        self.attempts = 0

    def run(self, key: str, compute: Callable[[], Any]) -> Any:
        self.attempts += 1
        try:
            value = compute()
        except (KubernetesUnreachable, KubernetesUnauthorized, KubernetesConfigError):
            raise  # the whole cluster is out of reach: no section can succeed
        except KubernetesError as error:
            self.failures.append(error)
            self.snapshot[key] = None
            self.snapshot[f"{key}_error"] = str(error)
            return None
        self.snapshot[key] = value
        return value


def diagnostics_snapshot(
    config: ClusterConfig,
    *,
    namespace: str,
    pod_selector: str = "",
    service_name: str = "",
    events_limit: int = 20,
) -> dict[str, Any]:
    """Return the runbook's "first five minutes" diagnostics of a namespace, JSON-serialisable.

    A section the workers may not read (or whose API is missing) is None with a
    `<section>_error` beside it; the snapshot fails only when the cluster is unreachable, the
    credentials are rejected, or no section at all could be read.
    """
    snapshot: dict[str, Any] = {
        "namespace": namespace,
        "pod_selector": pod_selector,
        "service_name": service_name,
        "taken_at": _now(),
    }
    sections = _Sections(snapshot)
    with _session(config) as s:
        namespace_pods = sections.run(
            "pods_not_running",
            lambda: s.call(
                s.core.list_namespaced_pod, namespace, what=("list", "pods", namespace, "")
            )["items"],
        )
        if namespace_pods is not None:
            # Completed (Succeeded) pods are finished jobs, not trouble.
            snapshot["pods_not_running"] = [
                _pod_summary(p)
                for p in namespace_pods
                if not _pod_ok(p) and (p.get("status") or {}).get("phase") != "Succeeded"
            ]

        def events() -> list[dict[str, Any]]:
            items = s.call(
                s.core.list_namespaced_event, namespace, what=("list", "events", namespace, "")
            )["items"]
            items.sort(key=_event_time)
            return [_event_summary(e) for e in items[-events_limit:]] if events_limit else []

        sections.run("events", events)
        raw_nodes = sections.run(
            "nodes", lambda: s.call(s.core.list_node, what=("list", "nodes", "", ""))["items"]
        )
        if raw_nodes is not None:
            snapshot["nodes"] = [_node_summary(n) for n in raw_nodes]

        def node_usage() -> list[dict[str, Any]] | None:
            try:
                metrics = s.call(
                    s.custom.list_cluster_custom_object,
                    "metrics.k8s.io",
                    "v1beta1",
                    "nodes",
                    what=("list", "nodes.metrics.k8s.io", "", ""),
                )
            except KubernetesError as error:
                # 404: no metrics API registered; 503: registered but metrics-server is down.
                if error.status not in (404, 503):
                    raise
                snapshot["node_usage_note"] = (
                    "metrics.k8s.io is not available (is metrics-server installed?)"
                )
                return None
            return _node_usage(metrics, raw_nodes or [])

        sections.run("node_usage", node_usage)

        if service_name:
            sections.run(
                "endpoint_slices",
                lambda: [
                    _endpoint_slice_summary(item)
                    for item in s.call(
                        s.discovery.list_namespaced_endpoint_slice,
                        namespace,
                        label_selector=f"kubernetes.io/service-name={service_name}",
                        what=("list", "endpointslices.discovery.k8s.io", namespace, ""),
                    )["items"]
                ],
            )
        else:
            snapshot["endpoint_slices"] = None
        if pod_selector:
            sections.run(
                "service_pods",
                lambda: [
                    _pod_summary(p)
                    for p in s.call(
                        s.core.list_namespaced_pod,
                        namespace,
                        label_selector=pod_selector,
                        what=("list", "pods", namespace, ""),
                    )["items"]
                ],
            )
        else:
            snapshot["service_pods"] = None
        sections.run(
            "network_policies",
            lambda: [
                _network_policy_summary(item)
                for item in s.call(
                    s.networking.list_namespaced_network_policy,
                    namespace,
                    what=("list", "networkpolicies.networking.k8s.io", namespace, ""),
                )["items"]
            ],
        )
        all_pods = sections.run(
            "crash_looping",
            lambda: s.call(s.core.list_pod_for_all_namespaces, what=("list", "pods", "", ""))[
                "items"
            ],
        )
        if all_pods is not None:
            snapshot["crash_looping"] = [
                _pod_summary(p) for p in all_pods if "CrashLoop" in _pod_status(p)
            ]
        not_ready = {n["name"] for n in snapshot.get("nodes") or [] if not n["ready"]}
        if all_pods is not None:
            candidates = all_pods
        else:
            candidates = namespace_pods or []
            if not_ready:
                snapshot["pods_on_not_ready_nodes_error"] = (
                    f"Only namespace {namespace} is shown: the workers may not list pods in all "
                    "namespaces."
                )
        snapshot["pods_on_not_ready_nodes"] = [
            _pod_summary(p)
            for p in candidates
            if (p.get("spec") or {}).get("nodeName") in not_ready
        ]
    if sections.failures and len(sections.failures) == sections.attempts:
        raise sections.failures[0]
    return snapshot


def pod_detail(
    config: ClusterConfig, *, namespace: str, pod: str, tail_lines: int = 50
) -> dict[str, Any]:
    """Return `kubectl describe pod` essentials and each restarted container's previous log tail."""
    with _session(config) as s:
        obj = s.call(
            s.core.read_namespaced_pod, pod, namespace, what=("get", "pods", namespace, pod)
        )
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        events_error = ""
        try:
            items = s.call(
                s.core.list_namespaced_event,
                namespace,
                field_selector=f"involvedObject.name={pod},involvedObject.kind=Pod",
                what=("list", "events", namespace, ""),
            )["items"]
            items.sort(key=_event_time)
            events = [_event_summary(e) for e in items]
        except KubernetesForbidden as error:
            events, events_error = [], str(error)
        statuses = {c.get("name"): c for c in status.get("containerStatuses") or []}
        containers = []
        for container in spec.get("containers") or []:
            name = container["name"]
            state_status = statuses.get(name) or {}
            state, reason = _container_state(state_status)
            terminated = (state_status.get("lastState") or {}).get("terminated")
            restarts = int(state_status.get("restartCount") or 0)
            entry: dict[str, Any] = {
                "name": name,
                "image": container.get("image", ""),
                "ready": bool(state_status.get("ready")),
                "restart_count": restarts,
                "state": state,
                "reason": reason,
                "message": ((state_status.get("state") or {}).get(state) or {}).get("message", ""),
                "last_termination": _termination(terminated) if terminated else None,
                "previous_log": None,
                "previous_log_error": "",
            }
            if terminated or restarts:
                try:
                    entry["previous_log"] = s.raw(
                        s.core.read_namespaced_pod_log,
                        pod,
                        namespace,
                        container=name,
                        previous=True,
                        tail_lines=tail_lines,
                        what=("get", "pods/log", namespace, pod),
                    ).decode("utf-8", errors="replace")
                except (KubernetesInvalid, KubernetesNotFound, KubernetesForbidden) as error:
                    entry["previous_log_error"] = str(error)
            else:
                entry["previous_log_error"] = "No previous container: it has not restarted."
            containers.append(entry)
    terminations = [
        {"container": c["name"], **c["last_termination"]}
        for c in containers
        if c["last_termination"]
    ]
    terminations.sort(key=lambda t: t.get("finished_at") or "")
    return {
        "pod": _pod_summary(obj),
        "node": spec.get("nodeName", ""),
        "phase": status.get("phase", ""),
        "conditions": [
            {"type": c.get("type"), "status": c.get("status"), "reason": c.get("reason", "")}
            for c in status.get("conditions") or []
        ],
        "containers": containers,
        "events": events,
        "events_error": events_error,
        "last_termination": terminations[-1] if terminations else None,
        "tail_lines": tail_lines,
        "taken_at": _now(),
    }


def _termination(terminated: dict[str, Any]) -> dict[str, Any]:
    return {
        "reason": terminated.get("reason", ""),
        "exit_code": terminated.get("exitCode"),
        "signal": terminated.get("signal"),
        "message": terminated.get("message", ""),
        "started_at": terminated.get("startedAt", ""),
        "finished_at": terminated.get("finishedAt", ""),
    }


def control_plane_check(config: ClusterConfig) -> ControlPlaneStatus:
    """Return whether the API server is ready and how its kube-system control-plane pods look."""
    try:
        with _session(config) as s:
            try:
                response = s.api.call_api(
                    *s.api.param_serialize(
                        method="GET",
                        resource_path="/readyz",
                        query_params=[("verbose", "true")],
                        header_params={"Accept": "text/plain"},
                        auth_settings=["BearerToken"],
                    ),
                    _request_timeout=s.timeout,
                )
                body = (response.read() or b"").decode("utf-8", errors="replace")
            except (urllib3.exceptions.HTTPError, OSError) as error:
                raise _unreachable(error, s.api.configuration.host) from error
            except ApiException as error:  # TLS failures arrive as status 0
                raise _api_error(error, "get", "/readyz", "", "") from error
            pods: list[dict[str, Any]] = []
            pods_error = ""
            try:
                listing = s.call(
                    s.core.list_namespaced_pod,
                    "kube-system",
                    label_selector="tier=control-plane",
                    what=("list", "pods", "kube-system", ""),
                )
                pods = [_control_plane_pod(p) for p in listing["items"]]
            except (KubernetesForbidden, KubernetesUnauthorized) as error:
                pods_error = str(error)
            except KubernetesError as error:
                pods_error = str(error)
    except KubernetesError as error:
        return ControlPlaneStatus(ok=False, readyz="", pods=[], error=str(error))
    if response.status == 200:
        return ControlPlaneStatus(ok=True, readyz=body, pods=pods, error="", pods_error=pods_error)
    failing = re.findall(r"^\[-\](\S+) failed", body, flags=re.MULTILINE)
    if response.status in (401, 403):
        error_text = f"/readyz answered {response.status}: the workers may not read it."
    elif failing:
        error_text = f"/readyz failed ({response.status}): {', '.join(failing)} not ready."
    else:
        error_text = f"/readyz failed ({response.status})."
    return ControlPlaneStatus(
        ok=False, readyz=body, pods=pods, error=error_text, pods_error=pods_error
    )


def _control_plane_pod(pod: dict[str, Any]) -> dict[str, Any]:
    summary = _pod_summary(pod)
    labels = pod["metadata"].get("labels") or {}
    return {
        "name": summary["name"],
        "component": labels.get("component", ""),
        "status": summary["status"],
        "ready": summary["ready"],
        "restarts": summary["restarts"],
        "node": summary["node"],
    }


# --- Deployments -------------------------------------------------------------------------------


def _revisions(deployment: dict[str, Any], owned: list[dict[str, Any]]) -> list[Revision]:
    template = deployment["spec"]["template"]
    revisions = []
    for rs in owned:
        number = _revision_of(rs)
        if number is None:
            continue
        rs_template = rs["spec"]["template"]
        revisions.append(
            Revision(
                number=number,
                replicaset=rs["metadata"]["name"],
                created_at=rs["metadata"].get("creationTimestamp", ""),
                images=_images(rs_template),
                change_cause=(rs["metadata"].get("annotations") or {}).get(
                    CHANGE_CAUSE_ANNOTATION, ""
                ),
                current=_equal_ignore_hash(rs_template, template),
            )
        )
    return sorted(revisions, key=lambda r: r.number)


def rollout_history(config: ClusterConfig, *, namespace: str, deployment: str) -> list[Revision]:
    """Return `kubectl rollout history` of a Deployment, oldest revision first."""
    with _session(config) as s:
        dep = s.deployment(namespace, deployment)
        return _revisions(dep, s.owned_replicasets(dep))


def _rollback_target(
    owned: list[dict[str, Any]], to_revision: int | None, deployment: str
) -> dict[str, Any]:
    """Pick the ReplicaSet kubectl rolls back to: exactly `to_revision`, else the second newest."""
    if to_revision is not None and to_revision < 0:
        raise RevisionNotFound(to_revision)
    latest: tuple[int, dict[str, Any] | None] = (-1, None)
    previous: tuple[int, dict[str, Any] | None] = (-1, None)
    for rs in owned:
        number = _revision_of(rs)
        if number is None:
            continue
        if to_revision:
            if number == to_revision:
                return rs
        elif number > latest[0]:
            previous, latest = latest, (number, rs)
        elif number > previous[0]:
            previous = (number, rs)
    if to_revision:
        raise RevisionNotFound(to_revision)
    if previous[1] is None:
        raise NoRolloutHistory(f'no rollout history found for deployment "{deployment}"')
    return previous[1]


def rollback_plan(
    config: ClusterConfig, *, namespace: str, deployment: str, to_revision: int | None = None
) -> Plan:
    """Preview `kubectl rollout undo [--to-revision=N]` with a server-side dry run."""
    with _session(config) as s:
        dep = s.deployment(namespace, deployment)
        owned = s.owned_replicasets(dep)
        target = _rollback_target(owned, to_revision, deployment)
        number = _revision_of(target)
        if dep["spec"].get("paused"):
            raise RolloutPaused(
                "you cannot rollback a paused deployment; resume it first with "
                "'kubectl rollout resume' and try again"
            )
        if _equal_ignore_hash(target["spec"]["template"], dep["spec"]["template"]):
            raise AlreadyInPlace(
                f"skipped rollback (current template already matches revision {number})"
            )
        template = _without_hash(target["spec"]["template"])
        dep_annotations = dep["metadata"].get("annotations") or {}
        annotations = {
            key: value for key, value in dep_annotations.items() if key in ROLLBACK_KEPT_ANNOTATIONS
        }
        annotations.update(
            (key, value)
            for key, value in (target["metadata"].get("annotations") or {}).items()
            if key not in ROLLBACK_KEPT_ANNOTATIONS
        )
        patch = [
            {"op": "replace", "path": "/spec/template", "value": template},
            {"op": "replace", "path": "/metadata/annotations", "value": annotations},
        ]
        resource_version = dep["metadata"]["resourceVersion"]
        preview = s.patch_deployment(
            namespace,
            deployment,
            _with_precondition(patch, "json", resource_version),
            "json",
            dry_run=True,
        )
    current = next((r for r in _revisions(dep, owned) if r.current), None)
    current_number = current.number if current else _revision_of(dep)
    from_images = ", ".join(_images(dep["spec"]["template"]))
    to_images = ", ".join(_images(template))
    flag = f" --to-revision={to_revision}" if to_revision else ""
    return Plan(
        kind="rollback",
        namespace=namespace,
        name=deployment,
        resource_version=resource_version,
        patch=patch,
        patch_type="json",
        diff=_diff(
            dep, preview, label=f"deployment/{deployment}", change=f"rollback to revision {number}"
        ),
        summary=(
            f"Roll back deployment {namespace}/{deployment} from revision {current_number} "
            f"({from_images}) to revision {number} ({to_images}), as `kubectl rollout undo "
            f"deployment {deployment}{flag} -n {namespace}`."
        ),
        revision=number,
        data={
            "from_revision": current_number,
            "replicaset": target["metadata"]["name"],
            "images": _images(template),
            "from_images": _images(dep["spec"]["template"]),
        },
    )


def restart_plan(config: ClusterConfig, *, namespace: str, deployment: str, at: datetime) -> Plan:
    """Preview `kubectl rollout restart`: restartedAt set to `at` (RFC 3339) by strategic merge."""
    restarted_at = _rfc3339(at)
    patch = {
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: restarted_at}}}}
    }
    with _session(config) as s:
        dep = s.deployment(namespace, deployment)
        if dep["spec"].get("paused"):
            raise RolloutPaused("can't restart paused deployment (run rollout resume first)")
        resource_version = dep["metadata"]["resourceVersion"]
        preview = s.patch_deployment(
            namespace,
            deployment,
            _with_precondition(patch, "strategic", resource_version),
            "strategic",
            dry_run=True,
        )
    return Plan(
        kind="restart",
        namespace=namespace,
        name=deployment,
        resource_version=resource_version,
        patch=patch,
        patch_type="strategic",
        diff=_diff(dep, preview, label=f"deployment/{deployment}", change="restart"),
        summary=(
            f"Restart deployment {namespace}/{deployment}: every pod is replaced by a rolling "
            f"update (restartedAt {restarted_at}), as `kubectl rollout restart deployment "
            f"{deployment} -n {namespace}`."
        ),
        data={"restarted_at": restarted_at},
    )


def image_pin_plan(
    config: ClusterConfig, *, namespace: str, deployment: str, container: str, image: str
) -> Plan:
    """Preview `kubectl set image deployment/<d> <container>=<image>` (strategic merge by name)."""
    with _session(config) as s:
        dep = s.deployment(namespace, deployment)
        pod_spec = dep["spec"]["template"].get("spec") or {}
        list_name, current = "", None
        for candidate in ("containers", "initContainers"):
            current = next(
                (c for c in pod_spec.get(candidate) or [] if c.get("name") == container), None
            )
            if current is not None:
                list_name = candidate
                break
        if current is None:
            names = ", ".join(c.get("name", "") for c in pod_spec.get("containers") or [])
            raise KubernetesInvalid(
                f'unable to find container named "{container}" in deployment {deployment} '
                f"(containers: {names})"
            )
        previous_image = current.get("image", "")
        if previous_image == image:
            raise AlreadyInPlace(f'container "{container}" of {deployment} already runs {image}')
        patch = {"spec": {"template": {"spec": {list_name: [{"name": container, "image": image}]}}}}
        resource_version = dep["metadata"]["resourceVersion"]
        preview = s.patch_deployment(
            namespace,
            deployment,
            _with_precondition(patch, "strategic", resource_version),
            "strategic",
            dry_run=True,
        )
    paused = (
        " The Deployment is paused: the new image rolls out only after `kubectl rollout resume`."
        if dep["spec"].get("paused")
        else ""
    )
    return Plan(
        kind="image_pin",
        namespace=namespace,
        name=deployment,
        resource_version=resource_version,
        patch=patch,
        patch_type="strategic",
        diff=_diff(dep, preview, label=f"deployment/{deployment}", change=f"image {image}"),
        summary=(
            f"Pin container {container} of deployment {namespace}/{deployment} to {image} (was "
            f"{previous_image}), as `kubectl set image deployment/{deployment} "
            f"{container}={image} -n {namespace}`.{paused}"
        ),
        data={
            "container": container,
            "container_list": list_name,
            "image": image,
            "previous_image": previous_image,
        },
    )


def delete_node_plan(config: ClusterConfig, *, node: str) -> Plan:
    """Preview `kubectl delete node`: the node and the pods on it (data["pods"]), dry run."""
    with _session(config) as s:
        obj = s.call(s.core.read_node, node, what=("get", "nodes", "", node))
        pods = s.call(
            s.core.list_pod_for_all_namespaces,
            field_selector=f"spec.nodeName={node}",
            what=("list", "pods", "", ""),
        )["items"]
        uid, resource_version = obj["metadata"]["uid"], obj["metadata"]["resourceVersion"]
        s.call(
            s.core.delete_node,
            node,
            dry_run="All",
            body=_delete_options(uid, resource_version),
            what=("delete", "nodes", "", node),
        )
    summary_node = _node_summary(obj)
    rows = []
    for pod in pods:
        row = _pod_summary(pod)
        kind = row["owner"].split("/", 1)[0]
        # Controller-owned pods come back elsewhere; DaemonSet, static (Node-owned) and bare pods
        # do not.
        row["reschedules"] = bool(kind) and kind not in ("DaemonSet", "Node")
        rows.append(row)
    moving = sum(1 for row in rows if row["reschedules"])
    lost = len(rows) - moving
    diff_lines = [f"--- node/{node} (live)\n", f"+++ node/{node} (deleted)\n"]
    diff_lines.append(
        f"- node/{node}  {summary_node['status']}  {summary_node['internal_ip']}  "
        f"ready since {summary_node['ready_since'] or '?'}\n"
    )
    for row in rows:
        fate = "reschedules elsewhere" if row["reschedules"] else "is NOT recreated elsewhere"
        diff_lines.append(
            f"- pod {row['namespace']}/{row['name']}  {row['status']}  "
            f"({row['owner'] or 'no controller'}: {fate})\n"
        )
    lost_text = f", {lost} will not come back (DaemonSet, static or bare pods)" if lost else ""
    return Plan(
        kind="delete_node",
        namespace="",
        name=node,
        resource_version=resource_version,
        patch=None,
        patch_type="delete",
        diff="".join(diff_lines),
        summary=(
            f"Delete node {node} ({summary_node['status']}) from the API server, as `kubectl "
            f"delete node {node}`: {len(rows)} pods on it, {moving} reschedule elsewhere"
            f"{lost_text}."
        ),
        data={"pods": rows, "uid": uid, "status": summary_node["status"]},
    )


def _delete_options(uid: str, resource_version: str) -> Any:
    return k8s_client.V1DeleteOptions(
        preconditions=k8s_client.V1Preconditions(uid=uid, resource_version=resource_version)
    )


def configmap_plan(config: ClusterConfig, *, namespace: str, manifest: dict[str, Any]) -> Plan:
    """Preview restoring a ConfigMap's data from a manifest (`kubectl apply -f`), dry run."""
    if not isinstance(manifest, dict) or manifest.get("kind") != "ConfigMap":
        raise KubernetesInvalid("The manifest is not a ConfigMap.")
    metadata = manifest.get("metadata") or {}
    name = metadata.get("name") or ""
    if not name:
        raise KubernetesInvalid("The ConfigMap manifest has no metadata.name.")
    if metadata.get("namespace") and metadata["namespace"] != namespace:
        raise KubernetesInvalid(
            f"The manifest is for namespace {metadata['namespace']}, not {namespace}."
        )
    data = {str(k): str(v) for k, v in (manifest.get("data") or {}).items()}
    binary = {str(k): str(v) for k, v in (manifest.get("binaryData") or {}).items()}
    with _session(config) as s:
        try:
            live = s.call(
                s.core.read_namespaced_config_map,
                name,
                namespace,
                what=("get", "configmaps", namespace, name),
            )
        except KubernetesNotFound:
            live = None
        if live is None:
            body: dict[str, Any] = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    key: metadata[key]
                    for key in ("name", "labels", "annotations")
                    if key in metadata
                },
                "data": data,
            }
            if binary:
                body["binaryData"] = binary
            body["metadata"]["namespace"] = namespace
            preview = s.call(
                s.core.create_namespaced_config_map,
                namespace,
                body,
                dry_run="All",
                what=("create", "configmaps", namespace, name),
            )
            return Plan(
                kind="configmap",
                namespace=namespace,
                name=name,
                resource_version="",
                patch=body,
                patch_type="create",
                diff=_diff(
                    {"metadata": {"name": name, "namespace": namespace}},
                    preview,
                    label=f"configmap/{name}",
                    change="created",
                ),
                summary=f"Create ConfigMap {namespace}/{name} ({len(data)} keys; it is missing).",
                data={"data": data, "binary_data": binary},
            )
        live_data = live.get("data") or {}
        live_binary = live.get("binaryData") or {}
        if live_data == data and live_binary == binary:
            raise AlreadyInPlace(f"ConfigMap {namespace}/{name} already has exactly that data.")
        patch: dict[str, Any] = {"data": {**{k: None for k in live_data if k not in data}, **data}}
        if binary or live_binary:
            patch["binaryData"] = {**{k: None for k in live_binary if k not in binary}, **binary}
        resource_version = live["metadata"]["resourceVersion"]
        preview = s.call(
            s.core.patch_namespaced_config_map,
            name,
            namespace,
            _with_precondition(patch, "merge", resource_version),
            dry_run="All",
            _content_type=CONTENT_TYPES["merge"],
            what=("patch", "configmaps", namespace, name),
        )
    added = [k for k in data if k not in live_data]
    removed = [k for k in live_data if k not in data]
    changed = [k for k in data if k in live_data and live_data[k] != data[k]]
    parts = [
        f"{len(items)} {label}: {', '.join(items)}"
        for items, label in ((changed, "changed"), (added, "added"), (removed, "removed"))
        if items
    ]
    return Plan(
        kind="configmap",
        namespace=namespace,
        name=name,
        resource_version=resource_version,
        patch=patch,
        patch_type="merge",
        diff=_diff(live, preview, label=f"configmap/{name}", change="restored"),
        summary=f"Restore ConfigMap {namespace}/{name} ({'; '.join(parts) or 'binary data'}).",
        data={"data": data, "binary_data": binary},
    )


def plan_to_dict(plan: Plan) -> dict[str, Any]:
    """Return a plan as JSON-serialisable data (what a job pins)."""
    return asdict(plan)


def plan_from_dict(data: dict[str, Any]) -> Plan:
    """Return the plan that `plan_to_dict` produced."""
    names = {f.name for f in fields(Plan)}
    return Plan(**{key: value for key, value in data.items() if key in names})


def plan_apply(config: ClusterConfig, plan: Plan) -> dict[str, Any]:
    """Apply a previewed plan with its pinned resourceVersion as precondition (409 if changed)."""
    with _session(config) as s:
        if plan.patch_type == "delete":
            s.call(
                s.core.delete_node,
                plan.name,
                body=_delete_options(plan.data.get("uid", ""), plan.resource_version),
                what=("delete", "nodes", "", plan.name),
            )
            return {"kind": plan.kind, "name": plan.name, "deleted": True}
        if plan.kind == "configmap":
            if plan.patch_type == "create":
                obj = s.call(
                    s.core.create_namespaced_config_map,
                    plan.namespace,
                    plan.patch,
                    what=("create", "configmaps", plan.namespace, plan.name),
                )
            else:
                obj = s.call(
                    s.core.patch_namespaced_config_map,
                    plan.name,
                    plan.namespace,
                    _with_precondition(plan.patch, plan.patch_type, plan.resource_version),
                    _content_type=CONTENT_TYPES[plan.patch_type],
                    what=("patch", "configmaps", plan.namespace, plan.name),
                )
            return {
                "kind": plan.kind,
                "namespace": plan.namespace,
                "name": plan.name,
                "resource_version": obj["metadata"]["resourceVersion"],
            }
        obj = s.patch_deployment(
            plan.namespace,
            plan.name,
            _with_precondition(plan.patch, plan.patch_type, plan.resource_version),
            plan.patch_type,
            dry_run=False,
        )
    return {
        "kind": plan.kind,
        "namespace": plan.namespace,
        "name": plan.name,
        "resource_version": obj["metadata"]["resourceVersion"],
        "generation": obj["metadata"].get("generation"),
        "revision": plan.revision,
        "images": _images(obj["spec"]["template"]),
    }


def plan_in_place(config: ClusterConfig, plan: Plan) -> bool:
    """Return whether the cluster already shows the plan's change (reconciling a retry)."""
    with _session(config) as s:
        if plan.patch_type == "delete":
            try:
                node = s.call(s.core.read_node, plan.name, what=("get", "nodes", "", plan.name))
            except KubernetesNotFound:
                return True
            # A node of that name with another uid joined after ours was deleted.
            return node["metadata"]["uid"] != plan.data.get("uid")
        if plan.kind == "configmap":
            try:
                live = s.call(
                    s.core.read_namespaced_config_map,
                    plan.name,
                    plan.namespace,
                    what=("get", "configmaps", plan.namespace, plan.name),
                )
            except KubernetesNotFound:
                return False
            return (live.get("data") or {}) == plan.data.get("data", {}) and (
                live.get("binaryData") or {}
            ) == plan.data.get("binary_data", {})
        dep = s.deployment(plan.namespace, plan.name)
    template = dep["spec"]["template"]
    if plan.kind == "rollback":
        target = next(op["value"] for op in plan.patch if op["path"] == "/spec/template")
        return _equal_ignore_hash(template, target)
    if plan.kind == "restart":
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        return annotations.get(RESTARTED_AT_ANNOTATION) == plan.data.get("restarted_at")
    if plan.kind == "image_pin":
        containers = (template.get("spec") or {}).get(
            plan.data.get("container_list", "containers")
        ) or []
        return any(
            c.get("name") == plan.data["container"] and c.get("image") == plan.data["image"]
            for c in containers
        )
    raise ValueError(f"unknown plan kind {plan.kind!r}")


def rollout_status(config: ClusterConfig, *, namespace: str, deployment: str) -> RolloutStatus:
    """Return what `kubectl rollout status deployment` says right now (no waiting)."""
    with _session(config) as s:
        dep = s.deployment(namespace, deployment)
    metadata, spec, status = dep["metadata"], dep.get("spec") or {}, dep.get("status") or {}
    if metadata.get("generation", 0) > status.get("observedGeneration", 0):
        return RolloutStatus(False, False, "Waiting for deployment spec update to be observed...")
    progressing: dict[str, Any] = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "Progressing"), {}
    )
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return RolloutStatus(
            False, True, f'deployment "{deployment}" exceeded its progress deadline'
        )
    replicas = spec.get("replicas")
    updated = status.get("updatedReplicas", 0)
    available = status.get("availableReplicas", 0)
    total = status.get("replicas", 0)
    prefix = f'Waiting for deployment "{deployment}" rollout to finish:'
    if replicas is not None and updated < replicas:
        return RolloutStatus(
            False, False, f"{prefix} {updated} out of {replicas} new replicas have been updated..."
        )
    if total > updated:
        return RolloutStatus(
            False, False, f"{prefix} {total - updated} old replicas are pending termination..."
        )
    if available < updated:
        return RolloutStatus(
            False, False, f"{prefix} {available} of {updated} updated replicas are available..."
        )
    return RolloutStatus(True, False, f'deployment "{deployment}" successfully rolled out')


# --- Argo CD Applications ------------------------------------------------------------------------


def _automated(app: dict[str, Any]) -> dict[str, Any] | None:
    automated = ((app.get("spec") or {}).get("syncPolicy") or {}).get("automated")
    return automated if isinstance(automated, dict) else None


def argo_autosync_off(
    config: ClusterConfig, *, namespace: str, application: str
) -> dict[str, Any] | None:
    """Turn off an Application's auto-sync; return its previous `automated` block (None: off)."""
    with _session(config) as s:
        automated = _automated(s.application(namespace, application))
        # Argo CD 3 can keep the block with `enabled: false`: auto-sync is off already.
        if automated is None or automated.get("enabled") is False:
            return None
        s.patch_application(namespace, application, {"spec": {"syncPolicy": {"automated": None}}})
    return deepcopy(automated)


def argo_autosync_restore(
    config: ClusterConfig, *, namespace: str, application: str, automated: dict[str, Any]
) -> None:
    """Put an Application's `automated` block back exactly as `argo_autosync_off` returned it."""
    with _session(config) as s:
        current = _automated(s.application(namespace, application)) or {}
        # A merge patch merges into what is there: null out keys the saved block did not have.
        block: dict[str, Any] = {key: None for key in current if key not in automated}
        block.update(deepcopy(automated))
        s.patch_application(namespace, application, {"spec": {"syncPolicy": {"automated": block}}})
