"""Helpers over the apiserver's JSON: annotations, selectors, pod templates, timestamps."""

import hashlib
import json
from copy import deepcopy
from datetime import UTC, datetime
from typing import Any

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
HASH_LABEL = "pod-template-hash"


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


def _pin(deployment: dict[str, Any], *, annotations: bool = False) -> dict[str, Any]:
    """Return what a change previewed on a Deployment depends on: its spec and generation.

    Not its resourceVersion: every status write (a crash-looping pod, several a minute) makes a
    new one, and none of them changes what the change does. `annotations` pins the
    Deployment's annotations too, for a change that rewrites them (a rollback).
    """
    metadata = deployment.get("metadata") or {}
    pinned: dict[str, Any] = {"spec": deployment.get("spec") or {}}
    if annotations:
        pinned["annotations"] = metadata.get("annotations") or {}
    digest = hashlib.sha256(
        json.dumps(pinned, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    return {
        "generation": metadata.get("generation"),
        "digest": digest,
        "annotations": annotations,
    }


def _pin_change(deployment: dict[str, Any], pin: dict[str, Any]) -> str:
    """Return how the Deployment moved away from its pin, in words ("" when it did not)."""
    live = _pin(deployment, annotations=bool(pin.get("annotations")))
    if live["generation"] != pin.get("generation"):
        return (
            f"its spec was changed: generation {pin.get('generation')} is now {live['generation']}"
        )
    if live["digest"] != pin.get("digest"):
        return "its annotations were changed" if pin.get("annotations") else "its spec was changed"
    return ""
