"""Plans: a previewed change, pinned to what it depends on, then applied or found in place."""

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from kubernetes import client as k8s_client

from .client import CONTENT_TYPES, ClusterConfig, _Session, _session
from .errors import KubernetesConflict, KubernetesNotFound, TargetChanged
from .objects import RESTARTED_AT_ANNOTATION, _equal_ignore_hash, _images, _pin_change
from .previews import _with_precondition

# How often a read-then-write on a Deployment is tried again when only its status moved in
# between (a 409 on a resourceVersion read a moment before), before giving up.
STATUS_RACE_ATTEMPTS = 5


@dataclass(frozen=True)
class Plan:
    """A previewed change, pinned to the resourceVersion it was computed against.

    `patch_type` is "json", "strategic" or "merge" for a PATCH, "delete" for a node deletion
    (the patch is unused) and "create" for a ConfigMap that does not exist yet (the patch is
    the object to create).

    A Deployment's plan is pinned by `pin` (its spec and generation, see `objects._pin`): the
    change is applied while they are as previewed, whatever status writes came in between,
    and refused (`TargetChanged`) once they are not. Other plans (and a Deployment plan made
    before pins) are pinned by `resource_version` alone.
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
    pin: dict[str, Any] = field(default_factory=dict)


def _delete_options(uid: str, resource_version: str) -> Any:
    return k8s_client.V1DeleteOptions(
        preconditions=k8s_client.V1Preconditions(uid=uid, resource_version=resource_version)
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
        obj = _patch_pinned_deployment(s, plan)
    return {
        "kind": plan.kind,
        "namespace": plan.namespace,
        "name": plan.name,
        "resource_version": obj["metadata"]["resourceVersion"],
        "generation": obj["metadata"].get("generation"),
        "revision": plan.revision,
        "images": _images(obj["spec"]["template"]),
    }


def _patch_pinned_deployment(s: _Session, plan: Plan) -> dict[str, Any]:
    """Send a Deployment plan's patch while the Deployment is as the preview pinned it.

    The patch carries the resourceVersion just read as its precondition, so nothing slips in
    between the check and the write; a 409 there that only a status write caused is tried
    again with a fresh read.
    """
    if not plan.pin:
        return s.patch_deployment(
            plan.namespace,
            plan.name,
            _with_precondition(plan.patch, plan.patch_type, plan.resource_version),
            plan.patch_type,
            dry_run=False,
        )
    attempts_left = STATUS_RACE_ATTEMPTS
    while True:
        live = s.deployment(plan.namespace, plan.name)
        change = _pin_change(live, plan.pin)
        if change:
            raise TargetChanged(
                f"Conflict: deployment {plan.namespace}/{plan.name} changed since the preview "
                f"({change}); preview again.",
                status=409,
            )
        try:
            return s.patch_deployment(
                plan.namespace,
                plan.name,
                _with_precondition(
                    plan.patch, plan.patch_type, live["metadata"]["resourceVersion"]
                ),
                plan.patch_type,
                dry_run=False,
            )
        except KubernetesConflict:
            attempts_left -= 1
            if not attempts_left:
                raise


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
