"""Readable digests of what read-only jobs found, for the timeline block and the job page.

The raw data stays in Job.output; a digest is a few titled sections of short lines, small
enough to keep on the timeline event itself.
"""

from typing import Any

from ..models import Job, JobKind

MAX_ROWS = 12
MAX_LOG_LINES = 50


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(_text(item) for item in value)
    if isinstance(value, dict):
        return ", ".join(f"{key}={_text(item)}" for key, item in value.items())
    return str(value)


def _pick(row: Any, *keys: str) -> str:
    """Return the first of the keys the row has, as text."""
    if not isinstance(row, dict):
        return _text(row)
    for key in keys:
        if row.get(key) not in (None, "", []):
            return _text(row[key])
    return ""


def _section(
    title: str, rows: list[str], *, empty: str, total: int | None = None
) -> dict[str, Any]:
    shown = rows[:MAX_ROWS]
    more = (total if total is not None else len(rows)) - len(shown)
    return {"title": title, "rows": shown, "more": max(more, 0), "empty": empty}


def _pod_line(pod: Any) -> str:
    name = _pick(pod, "name")
    namespace = _pick(pod, "namespace")
    status = _pick(pod, "status", "phase")
    ready = _pick(pod, "ready")
    restarts = _pick(pod, "restarts")
    node = _pick(pod, "node")
    parts = [f"{namespace}/{name}" if namespace else name, status]
    if ready and ready != "True":
        parts.append(f"ready {ready}")
    if restarts not in ("", "0"):
        parts.append(f"{restarts} restarts")
    if node:
        parts.append(f"on {node}")
    return " · ".join(part for part in parts if part)


def snapshot_sections(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the diagnostics snapshot as titled sections of readable lines."""
    sections = []
    pods = snapshot.get("pods_not_running") or []
    sections.append(
        _section(
            "Pods not running or not ready",
            [_pod_line(pod) for pod in pods],
            empty="Every pod is running and ready.",
        )
    )
    crash = snapshot.get("crash_looping")
    if crash is None and snapshot.get("crash_looping_error"):
        sections.append(
            _section(
                "Crash-looping pods (all namespaces)",
                [str(snapshot["crash_looping_error"])],
                empty="",
            )
        )
    else:
        sections.append(
            _section(
                "Crash-looping pods (all namespaces)",
                [_pod_line(pod) for pod in crash or []],
                empty="None.",
            )
        )
    nodes = snapshot.get("nodes") or []
    node_lines = []
    for node in nodes:
        ready = node.get("ready") if isinstance(node, dict) else None
        state = _pick(node, "status") or ("Ready" if ready is True else "NotReady")
        roles = _pick(node, "roles")
        node_lines.append(
            " · ".join(
                part
                for part in (
                    _pick(node, "name"),
                    state,
                    roles,
                    _pick(node, "internal_ip"),
                    _pick(node, "kubelet_version", "version"),
                )
                if part
            )
        )
    not_ready = sum(1 for node in nodes if isinstance(node, dict) and node.get("ready") is False)
    sections.append(
        _section(
            f"Nodes ({len(nodes)}, {not_ready} not ready)",
            node_lines,
            empty="No nodes visible.",
        )
    )
    usage = snapshot.get("node_usage")
    if usage is None and (snapshot.get("node_usage_note") or snapshot.get("node_usage_error")):
        sections.append(
            _section(
                "Node usage (metrics.k8s.io)",
                [str(snapshot.get("node_usage_note") or snapshot.get("node_usage_error"))],
                empty="",
            )
        )
    if usage:
        sections.append(
            _section(
                "Node usage (metrics.k8s.io)",
                [
                    " · ".join(
                        part
                        for part in (
                            _pick(row, "name"),
                            _usage(row, "cpu"),
                            _usage(row, "memory"),
                        )
                        if part
                    )
                    for row in usage
                ],
                empty="",
            )
        )
    on_dead = snapshot.get("pods_on_not_ready_nodes") or []
    if on_dead or snapshot.get("pods_on_not_ready_nodes_error"):
        rows = [_pod_line(pod) for pod in on_dead]
        if snapshot.get("pods_on_not_ready_nodes_error"):
            rows.insert(0, str(snapshot["pods_on_not_ready_nodes_error"]))
        sections.append(_section("Pods on NotReady nodes", rows, empty=""))
    slices = snapshot.get("endpoint_slices")
    if slices is not None:
        sections.append(
            _section(
                "Service endpoints (EndpointSlices)",
                [_endpoint_line(entry) for entry in slices],
                empty="No EndpointSlice for the Service: traffic has nowhere to go.",
            )
        )
    service_pods = snapshot.get("service_pods")
    if service_pods is not None:
        sections.append(
            _section(
                "The service's pods",
                [_pod_line(pod) for pod in service_pods],
                empty="No pod matches the service's selector.",
            )
        )
    policies = snapshot.get("network_policies")
    if policies is not None:
        sections.append(
            _section(
                "NetworkPolicies",
                [
                    " · ".join(
                        part
                        for part in (
                            _pick(policy, "name"),
                            f"created {_pick(policy, 'created')}"
                            if _pick(policy, "created")
                            else "",
                            f"last changed {_pick(policy, 'last_changed')}"
                            if _pick(policy, "last_changed")
                            else "",
                            f"selects {_pick(policy, 'pod_selector')}"
                            if _pick(policy, "pod_selector")
                            else "",
                        )
                        if part
                    )
                    for policy in policies
                ],
                empty="No NetworkPolicy in the namespace.",
            )
        )
    events = snapshot.get("events") or []
    sections.append(
        _section(
            "Recent events",
            [
                " · ".join(
                    part
                    for part in (
                        _pick(event, "last_seen"),
                        _pick(event, "type"),
                        _pick(event, "reason"),
                        _pick(event, "object"),
                        _pick(event, "message"),
                        f"{event['count']} times"
                        if isinstance(event, dict) and (event.get("count") or 1) > 1
                        else "",
                    )
                    if part
                )
                for event in reversed(events)
            ],
            empty="No recent events.",
        )
    )
    return sections


def _usage(row: Any, resource: str) -> str:
    if not isinstance(row, dict) or not row.get(resource):
        return ""
    percent = row.get(f"{resource}_percent")
    return f"{resource} {row[resource]}" + (f" ({percent}%)" if percent is not None else "")


def _endpoint_line(entry: Any) -> str:
    if not isinstance(entry, dict):
        return _text(entry)
    ready = entry.get("ready_count", 0)
    total = entry.get("endpoint_count", 0)
    addresses = [
        ", ".join(endpoint.get("addresses") or [])
        + ("" if endpoint.get("ready") else " (not ready)")
        for endpoint in entry.get("endpoints") or []
    ]
    ports = ", ".join(str(port.get("port")) for port in entry.get("ports") or [])
    parts = [
        _pick(entry, "name"),
        f"{ready} of {total} endpoints ready",
        f"ports {ports}" if ports else "",
        "; ".join(addresses[:5]),
    ]
    return " · ".join(part for part in parts if part)


def snapshot_summary(snapshot: dict[str, Any]) -> str:
    """Return the one-line gist of a diagnostics snapshot."""
    pods = len(snapshot.get("pods_not_running") or [])
    crash = snapshot.get("crash_looping")
    nodes = snapshot.get("nodes") or []
    not_ready = sum(1 for node in nodes if isinstance(node, dict) and node.get("ready") is False)
    parts = [
        f"{pods} pod{'s' if pods != 1 else ''} not running or not ready",
        f"{not_ready} of {len(nodes)} nodes not ready",
    ]
    if crash is not None:
        parts.append(f"{len(crash)} crash-looping across namespaces")
    slices = snapshot.get("endpoint_slices")
    if slices is not None and not slices:
        parts.append("no endpoints for the Service")
    return "Snapshot: " + "; ".join(parts) + "."


def pod_detail_sections(pod: str, detail: dict[str, Any]) -> list[dict[str, Any]]:
    """Return a pod's detail (events, last termination, previous log tail) as sections."""
    summary = detail.get("pod") or {}
    sections = [
        _section(
            "Pod",
            [_pod_line(summary)]
            + [
                " · ".join(
                    part
                    for part in (
                        f"container {container.get('name')}",
                        container.get("image", ""),
                        container.get("state", "")
                        + (f" ({container['reason']})" if container.get("reason") else ""),
                        f"{container.get('restart_count', 0)} restarts",
                    )
                    if part
                )
                for container in detail.get("containers") or []
            ],
            empty="",
        )
    ]
    termination = detail.get("last_termination")
    sections.append(
        _section(
            "Last termination",
            [
                " · ".join(
                    part
                    for part in (
                        f"container {termination.get('container')}",
                        _pick(termination, "reason"),
                        f"exit code {termination.get('exit_code')}"
                        if termination.get("exit_code") is not None
                        else "",
                        f"finished {termination.get('finished_at')}"
                        if termination.get("finished_at")
                        else "",
                        _pick(termination, "message"),
                    )
                    if part
                )
            ]
            if isinstance(termination, dict)
            else [],
            empty="The containers have not terminated before.",
        )
    )
    events = detail.get("events") or []
    sections.append(
        _section(
            "Events",
            [
                " · ".join(
                    part
                    for part in (
                        _pick(event, "last_seen"),
                        _pick(event, "type"),
                        _pick(event, "reason"),
                        _pick(event, "message"),
                    )
                    if part
                )
                for event in events
            ],
            empty=detail.get("events_error") or "No events.",
        )
    )
    for container in detail.get("containers") or []:
        log = container.get("previous_log") or ""
        lines = log.splitlines()
        sections.append(
            {
                "title": f"Previous log of {container.get('name')} (last {len(lines)} lines)",
                "rows": lines[-MAX_LOG_LINES:],
                "more": max(len(lines) - MAX_LOG_LINES, 0),
                "empty": container.get("previous_log_error") or "No previous log.",
                "code": True,
            }
        )
    return sections


def pod_detail_summary(pod: str, detail: dict[str, Any]) -> str:
    """Return the one-line gist of a pod's detail."""
    termination = detail.get("last_termination")
    status = _pick(detail.get("pod") or {}, "status")
    reason = _pick(termination, "reason") if isinstance(termination, dict) else ""
    events = detail.get("events") or []
    return (
        f"Pod {pod}: {status or 'status unknown'}"
        + (f"; last terminated: {reason}" if reason else "")
        + f"; {len(events)} event{'s' if len(events) != 1 else ''}."
    )


def control_plane_summary(status: dict[str, Any]) -> str:
    """Return the one-line gist of a control-plane check."""
    if status.get("ok"):
        pods = status.get("pods") or []
        return "The control plane is ready" + (
            f" ({len(pods)} control-plane pods visible)." if pods else "."
        )
    return f"The control plane is NOT ready: {status.get('error') or 'readyz failed'}."


def control_plane_sections(status: dict[str, Any]) -> list[dict[str, Any]]:
    """Return a control-plane check as sections."""
    readyz = [line for line in (status.get("readyz") or "").splitlines() if line.strip()]
    failing = [line for line in readyz if "failed" in line or line.startswith("[-]")]
    return [
        _section(
            "readyz",
            failing or readyz,
            empty=status.get("error") or "No answer.",
        ),
        _section(
            "Control-plane pods (kube-system)",
            [_pod_line(pod) for pod in status.get("pods") or []],
            empty="Not visible (managed control plane, or no RBAC for kube-system).",
        ),
    ]


def job_sections(job: Job) -> list[dict[str, Any]]:
    """Return the readable sections of a finished read-only job's output."""
    if not job.output:
        return []
    if job.kind == JobKind.DIAGNOSTICS:
        return snapshot_sections(job.output)
    if job.kind == JobKind.POD_DETAIL:
        return pod_detail_sections(job.params.get("pod", ""), job.output)
    if job.kind == JobKind.CONTROL_PLANE:
        return control_plane_sections(job.output)
    return []


def timeline_digest(job: Job) -> list[dict[str, Any]]:
    """Return the sections the timeline shows for a job's result (read-only kinds only)."""
    return job_sections(job)
