"""ConfigMaps: the plan to restore a ConfigMap's data from a manifest (or create it)."""

from typing import Any

from .client import CONTENT_TYPES, ClusterConfig, _session
from .errors import AlreadyInPlace, KubernetesInvalid, KubernetesNotFound
from .plans import Plan
from .previews import _diff, _with_precondition


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
