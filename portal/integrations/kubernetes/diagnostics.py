"""Reads: the diagnostics snapshot of a namespace, a pod's detail, the control plane's health."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes.client.exceptions import ApiException

from .client import ClusterConfig, _api_error, _session, _unreachable
from .errors import (
    KubernetesConfigError,
    KubernetesError,
    KubernetesForbidden,
    KubernetesInvalid,
    KubernetesNotFound,
    KubernetesUnauthorized,
    KubernetesUnreachable,
)
from .objects import _now
from .summaries import (
    _container_state,
    _endpoint_slice_summary,
    _event_summary,
    _event_time,
    _network_policy_summary,
    _node_summary,
    _node_usage,
    _pod_ok,
    _pod_status,
    _pod_summary,
)


@dataclass(frozen=True)
class ControlPlaneStatus:
    """Whether the API server is ready (`/readyz?verbose`) and its visible control-plane pods."""

    ok: bool
    readyz: str
    pods: list[dict[str, Any]]
    error: str
    pods_error: str = ""


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
