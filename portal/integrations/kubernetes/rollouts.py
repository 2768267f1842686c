"""Deployments: rollout history and status, and the rollback, restart and image pin plans."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .client import ClusterConfig, _Session, _session
from .errors import (
    AlreadyInPlace,
    KubernetesConflict,
    KubernetesInvalid,
    NoRolloutHistory,
    RevisionNotFound,
    RolloutPaused,
)
from .objects import (
    CHANGE_CAUSE_ANNOTATION,
    RESTARTED_AT_ANNOTATION,
    REVISION_ANNOTATION,
    _equal_ignore_hash,
    _images,
    _pin,
    _revision_of,
    _rfc3339,
    _without_hash,
)
from .plans import STATUS_RACE_ATTEMPTS, Plan
from .previews import _diff, _with_precondition

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
class RolloutStatus:
    """What `kubectl rollout status` would say about a Deployment right now."""

    done: bool
    failed: bool
    message: str


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


def _dry_run(
    s: _Session,
    namespace: str,
    deployment: str,
    build: Callable[[dict[str, Any]], tuple[Any, str]],
) -> tuple[dict[str, Any], Any, dict[str, Any]]:
    """Read a Deployment, build a patch from it and dry-run it against what was read.

    `build` returns (patch, patch type) or raises why there is nothing to do. Returns (the
    Deployment read, the patch, the dry run's result); a status write between the read and the
    dry run (409) means reading again.
    """
    attempts_left = STATUS_RACE_ATTEMPTS
    while True:
        dep = s.deployment(namespace, deployment)
        patch, patch_type = build(dep)
        try:
            preview = s.patch_deployment(
                namespace,
                deployment,
                _with_precondition(patch, patch_type, dep["metadata"]["resourceVersion"]),
                patch_type,
                dry_run=True,
            )
        except KubernetesConflict:
            attempts_left -= 1
            if not attempts_left:
                raise
            continue
        return dep, patch, preview


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
    found: dict[str, Any] = {}

    def build(dep: dict[str, Any]) -> tuple[Any, str]:
        if "owned" not in found:
            found["owned"] = s.owned_replicasets(dep)
        target = _rollback_target(found["owned"], to_revision, deployment)
        found["target"] = target
        if dep["spec"].get("paused"):
            raise RolloutPaused(
                "you cannot rollback a paused deployment; resume it first with "
                "'kubectl rollout resume' and try again"
            )
        if _equal_ignore_hash(target["spec"]["template"], dep["spec"]["template"]):
            raise AlreadyInPlace(
                f"skipped rollback (current template already matches revision "
                f"{_revision_of(target)})"
            )
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
            {
                "op": "replace",
                "path": "/spec/template",
                "value": _without_hash(target["spec"]["template"]),
            },
            {"op": "replace", "path": "/metadata/annotations", "value": annotations},
        ]
        return patch, "json"

    with _session(config) as s:
        dep, patch, preview = _dry_run(s, namespace, deployment, build)
    owned, target = found["owned"], found["target"]
    number = _revision_of(target)
    template = patch[0]["value"]
    resource_version = dep["metadata"]["resourceVersion"]
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
        # The rollback rewrites the Deployment's annotations: they are pinned with its spec.
        pin=_pin(dep, annotations=True),
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

    def build(dep: dict[str, Any]) -> tuple[Any, str]:
        if dep["spec"].get("paused"):
            raise RolloutPaused("can't restart paused deployment (run rollout resume first)")
        return patch, "strategic"

    with _session(config) as s:
        dep, _, preview = _dry_run(s, namespace, deployment, build)
    resource_version = dep["metadata"]["resourceVersion"]
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
        pin=_pin(dep),
    )


def image_pin_plan(
    config: ClusterConfig, *, namespace: str, deployment: str, container: str, image: str
) -> Plan:
    """Preview `kubectl set image deployment/<d> <container>=<image>` (strategic merge by name)."""
    found: dict[str, str] = {}

    def build(dep: dict[str, Any]) -> tuple[Any, str]:
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
        if current.get("image", "") == image:
            raise AlreadyInPlace(f'container "{container}" of {deployment} already runs {image}')
        found.update(list_name=list_name, previous_image=current.get("image", ""))
        return {
            "spec": {"template": {"spec": {list_name: [{"name": container, "image": image}]}}}
        }, ("strategic")

    with _session(config) as s:
        dep, patch, preview = _dry_run(s, namespace, deployment, build)
    list_name, previous_image = found["list_name"], found["previous_image"]
    resource_version = dep["metadata"]["resourceVersion"]
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
        pin=_pin(dep),
    )


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
