"""Rows of `kubectl get`/`top` from the apiserver's JSON: pods, events, nodes, endpoints."""

from typing import Any

from kubernetes.utils import parse_quantity

from .objects import _selector_string


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
