"""Argo CD Applications: read, turn off and restore auto-sync (the `automated` block)."""

from copy import deepcopy
from typing import Any

from .client import ClusterConfig, _session


def _automated(app: dict[str, Any]) -> dict[str, Any] | None:
    automated = ((app.get("spec") or {}).get("syncPolicy") or {}).get("automated")
    return automated if isinstance(automated, dict) else None


def argo_autosync_block(
    config: ClusterConfig, *, namespace: str, application: str
) -> dict[str, Any] | None:
    """Return an Application's `automated` block while auto-sync is on (None: it is off)."""
    with _session(config) as s:
        automated = _automated(s.application(namespace, application))
    if automated is None or automated.get("enabled") is False:
        return None
    return deepcopy(automated)


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
