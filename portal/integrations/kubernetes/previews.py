"""What a preview shows (a YAML diff of live and dry-run objects) and the precondition it pins."""

import difflib
from copy import deepcopy
from typing import Any

import yaml


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
