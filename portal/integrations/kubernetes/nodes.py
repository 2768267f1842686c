"""Nodes: the plan to delete a node, with the pods on it and whether they come back."""

from .client import ClusterConfig, _session
from .plans import Plan, _delete_options
from .summaries import _node_summary, _pod_summary


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
