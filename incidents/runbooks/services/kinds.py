"""What each job kind does: its parameters, what it needs, its preview, its run, its reconcile.

The state machine in `jobs.py` calls these and turns the adapters' exceptions into messages
(`failures.py`); nothing here writes to the database.
"""

import re
from dataclasses import asdict
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone

from portal.errors import InvalidInputError
from portal.integrations import argocd, gitmanifests, helm
from portal.integrations import kubernetes as k8s

from ..models import Cluster, Job, JobKind, KubernetesTarget

K = JobKind

# Kinds that act on one of the target's Deployments, named in params["deployment"].
DEPLOYMENT_KINDS = frozenset({K.ROLLBACK, K.RESTART, K.IMAGE_PIN, K.ROLLOUT_STATUS})
# Kinds whose preview is a Kubernetes Plan (pinned resourceVersion, server-side dry run).
PLAN_KINDS = frozenset({K.ROLLBACK, K.RESTART, K.IMAGE_PIN, K.DELETE_NODE, K.CONFIGMAP_RESTORE})
# Changes Argo CD's self-heal would revert within seconds: auto-sync goes off first. (Argo CD
# also refuses its own rollback while auto-sync is on.)
ARGO_FIRST_KINDS = frozenset(
    {K.ROLLBACK, K.RESTART, K.IMAGE_PIN, K.CONFIGMAP_RESTORE, K.HELM_ROLLBACK, K.ARGO_ROLLBACK}
)
# After these, a chained "wait for rollout" watches the Deployments concerned.
ROLLOUT_CHAINED_KINDS = ARGO_FIRST_KINDS | {K.DELETE_NODE, K.ARGO_SYNC_RESTORE}
ARGO_KINDS = frozenset({K.ARGO_SYNC_OFF, K.ARGO_SYNC_RESTORE, K.ARGO_ROLLBACK})

# Kubernetes names: DNS-1123 labels and subdomains.
LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
SUBDOMAIN = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
# An image reference with a tag or a digest, as `kubectl set image` takes it.
IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/:-]{0,250}(:[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$")
REVISION = re.compile(r"^(?:[0-9a-fA-F]{4,64}|HEAD(?:[~^][0-9]{0,4})*)$")

ADAPTER_ERRORS: tuple[type[Exception], ...] = (
    k8s.KubernetesError,
    argocd.ArgoCDError,
    helm.HelmError,
    gitmanifests.GitManifestError,
)


def cluster_config(cluster: Cluster, *, timeout: float | None = None) -> k8s.ClusterConfig:
    """Return how the workers reach the cluster (names and paths only, never credentials)."""
    return k8s.ClusterConfig(
        kubeconfig_path=cluster.kubeconfig_path,
        context=cluster.context,
        in_cluster=cluster.in_cluster,
        request_timeout=float(timeout or cluster.request_timeout_seconds),
    )


def kind_unavailable(*, kind: str, target: KubernetesTarget) -> str:
    """Return why the kind cannot run on the target, or "" when it can."""
    if kind in DEPLOYMENT_KINDS and not target.deployments:
        return "No Deployment is named for this target; add one in the admin."
    if kind in ARGO_KINDS and not target.argo_application:
        return "This target is not managed by Argo CD (no Application is named in the admin)."
    if kind == K.ARGO_ROLLBACK and not target.argo_api_url:
        return "No Argo CD API URL is set for this target; add it in the admin."
    if kind == K.HELM_ROLLBACK:
        if not target.helm_release:
            return "No Helm release is named for this target."
        if not helm.helm_available():
            return (
                "helm is not installed on the workers: roll back with `helm rollback` by hand "
                "(see the guidance), or install helm on the workers."
            )
    if kind == K.CONFIGMAP_RESTORE and not (target.manifests_repository and target.configmap_paths):
        return "No manifests repository and ConfigMap path are set for this target."
    return ""


def params_clean(*, kind: str, target: KubernetesTarget, params: dict[str, Any]) -> dict[str, Any]:
    """Return the job's parameters checked against the target, or raise InvalidInputError."""
    raw = {key: value for key, value in params.items() if value not in (None, "")}
    cleaned: dict[str, Any] = {}
    if kind in DEPLOYMENT_KINDS:
        cleaned["deployment"] = _one_of(
            raw.get("deployment"), target.deployments, field="deployment", what="Deployment"
        )
    if kind == K.POD_DETAIL:
        cleaned["pod"] = _name(raw.get("pod"), SUBDOMAIN, field="pod", what="a pod name")
        cleaned["tail_lines"] = _number(raw.get("tail_lines", 50), field="tail_lines", high=500)
    elif kind == K.ROLLBACK and "to_revision" in raw:
        cleaned["to_revision"] = _number(raw["to_revision"], field="to_revision")
    elif kind == K.IMAGE_PIN:
        cleaned["container"] = _name(
            raw.get("container") or cleaned["deployment"],
            LABEL,
            field="container",
            what="a container name",
        )
        image = str(raw.get("image", "")).strip()
        if not IMAGE.match(image):
            raise InvalidInputError(
                "Give the image with its tag or digest, for example "
                "myrepo/payments-api:sha-abc123.",
                field="image",
            )
        cleaned["image"] = image
    elif kind == K.DELETE_NODE:
        cleaned["node"] = _name(raw.get("node"), SUBDOMAIN, field="node", what="a node name")
    elif kind == K.ARGO_ROLLBACK:
        cleaned["history_id"] = _number(raw.get("history_id"), field="history_id", low=0)
    elif kind == K.HELM_ROLLBACK:
        cleaned["revision"] = _number(raw.get("revision"), field="revision")
    elif kind == K.CONFIGMAP_RESTORE:
        cleaned["path"] = _one_of(
            raw.get("path"), target.configmap_paths, field="path", what="ConfigMap manifest"
        )
        revision = str(raw.get("revision", "")).strip()
        if not REVISION.match(revision):
            raise InvalidInputError(
                "Choose a revision: a commit id from the list, or HEAD~N.", field="revision"
            )
        cleaned["revision"] = revision
    return cleaned


def _one_of(value: Any, choices: list[str], *, field: str, what: str) -> str:
    if value in (None, "") and len(choices) == 1:
        return choices[0]
    if value not in choices:
        listed = ", ".join(choices) or "none"
        raise InvalidInputError(f"Choose a {what} of this target ({listed}).", field=field)
    return str(value)


def _name(value: Any, pattern: re.Pattern[str], *, field: str, what: str) -> str:
    text = str(value or "").strip()
    if not pattern.match(text):
        raise InvalidInputError(
            f"Give {what}: lower-case letters, digits, '-' and '.'.", field=field
        )
    return text


def _number(value: Any, *, field: str, low: int = 1, high: int = 1_000_000) -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise InvalidInputError("Give a whole number.", field=field) from None
    if not low <= number <= high:
        raise InvalidInputError(f"Give a number from {low} to {high}.", field=field)
    return number


def describe(job: Job) -> str:
    """Return what the job does, in words, for the timeline and the pages."""
    params = job.params
    target = job.target
    what = {
        K.DIAGNOSTICS: f"diagnostics snapshot of namespace {target.namespace}",
        K.POD_DETAIL: f"pod detail of {params.get('pod')}",
        K.CONTROL_PLANE: f"control-plane check of cluster {target.cluster}",
        K.ROLLBACK: f"roll back deployment {params.get('deployment')}"
        + (
            f" to revision {params['to_revision']}"
            if params.get("to_revision")
            else " to the previous revision"
        ),
        K.RESTART: f"restart deployment {params.get('deployment')}",
        K.ROLLOUT_STATUS: f"wait for deployment {params.get('deployment')} to roll out",
        K.ARGO_SYNC_OFF: f"turn off Argo CD auto-sync of {target.argo_application}",
        K.ARGO_SYNC_RESTORE: f"restore Argo CD auto-sync of {target.argo_application}",
        K.ARGO_ROLLBACK: f"Argo CD rollback of {target.argo_application} to history "
        f"{params.get('history_id')}",
        K.HELM_ROLLBACK: f"Helm rollback of {target.helm_release} to revision "
        f"{params.get('revision')}",
        K.CONFIGMAP_RESTORE: f"restore {params.get('path')} from git revision "
        f"{params.get('revision')}",
        K.IMAGE_PIN: f"pin deployment {params.get('deployment')} to {params.get('image')}",
        K.DELETE_NODE: f"delete node {params.get('node')}",
    }.get(JobKind(job.kind), job.get_kind_display())
    return f"{what} ({target.service.name} · {target.name})"


def deployments_to_watch(job: Job) -> list[str]:
    """Return the Deployments a chained "wait for rollout" watches after the job."""
    if job.params.get("deployment"):
        return [job.params["deployment"]]
    return list(job.target.deployments)


# --- Previews ----------------------------------------------------------------------------------


def preview_compute(job: Job, config: k8s.ClusterConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (what the preview shows, what it pins) for a mutating job; adapters may raise."""
    if job.kind in PLAN_KINDS:
        plan = _plan(job, config)
        preview: dict[str, Any] = {"summary": plan.summary, "diff": plan.diff}
        if plan.revision is not None:
            preview["revision"] = plan.revision
        if job.kind == K.DELETE_NODE:
            preview["pods"] = plan.data.get("pods", [])
        if job.kind == K.CONFIGMAP_RESTORE:
            preview["commit"] = plan.data.get("commit", job.params.get("revision"))
        return preview, k8s.plan_to_dict(plan)
    target = job.target
    if job.kind == K.ARGO_SYNC_OFF:
        # Pinned now as well: should the worker die between turning auto-sync off and recording
        # the block, the retry finds it off and restores from this copy.
        live_block = k8s.argo_autosync_block(
            config, namespace=target.argo_namespace, application=target.argo_application
        )
        return (
            {
                "summary": f"Turn off auto-sync of Argo CD Application {target.argo_application}; "
                "its current automated block is recorded so a restore puts it back exactly.",
                "diff": "".join(
                    f"- {line}\n" for line in _yamlish(live_block, "spec.syncPolicy.automated")
                )
                + "+ spec.syncPolicy.automated: null"
                if live_block is not None
                else "  spec.syncPolicy.automated: null (auto-sync is already off)",
            },
            {"application": target.argo_application, "automated": live_block},
        )
    if job.kind == K.ARGO_SYNC_RESTORE:
        off_job = sync_off_to_restore(target)
        if off_job is None:
            raise NothingToRestore(
                f"Nothing to restore: Firebreak has no record of turning off auto-sync of "
                f"{target.argo_application} (or it was already restored)."
            )
        automated = off_job.output["previous_automated"]
        return (
            {
                "summary": f"Put back the automated sync policy of {target.argo_application} "
                f"exactly as job #{off_job.pk} found it.",
                "diff": "- spec.syncPolicy.automated: null\n"
                + "".join(
                    f"+ {line}\n" for line in _yamlish(automated, "spec.syncPolicy.automated")
                ),
            },
            {"automated": automated, "off_job": off_job.pk},
        )
    if job.kind == K.ARGO_ROLLBACK:
        history = argo_history(target)
        wanted = job.params["history_id"]
        chosen = next((entry for entry in history if entry.id == wanted), None)
        if chosen is None:
            raise argocd.ArgoCDNotFound(
                f"Argo CD history of {target.argo_application} has no entry {wanted}; "
                "choose one from the list."
            )
        current = history[-1]
        if chosen.current or chosen.revision == current.revision:
            raise AlreadyAtRevision(
                f"Already at that revision: {target.argo_application} runs {current.revision}."
            )
        return (
            {
                "summary": f"Roll Argo CD Application {target.argo_application} back to history "
                f"{chosen.id} (revision {chosen.revision}, deployed {chosen.deployed_at}).",
                "diff": f"- revision {current.revision} (history {current.id}, deployed "
                f"{current.deployed_at})\n+ revision {chosen.revision} (history {chosen.id}, "
                f"deployed {chosen.deployed_at})",
            },
            {
                "history_id": chosen.id,
                "revision": chosen.revision,
                "current_id": current.id,
                "current_revision": current.revision,
            },
        )
    if job.kind == K.HELM_ROLLBACK:
        revisions = helm_history(target)
        wanted = job.params["revision"]
        chosen_helm = next((rev for rev in revisions if rev.revision == wanted), None)
        if chosen_helm is None:
            raise helm.HelmError(
                f"Release {target.helm_release} has no revision {wanted}; choose one from its "
                "history."
            )
        latest = revisions[-1]
        if chosen_helm.revision == latest.revision:
            raise AlreadyAtRevision(
                f"Already at that revision: {target.helm_release} is at revision {wanted}."
            )
        return (
            {
                "summary": f"helm rollback {target.helm_release} {wanted} -n {target.namespace}",
                "diff": f"- revision {latest.revision}: {latest.chart} (app {latest.app_version}"
                f", {latest.status})\n+ revision {wanted}: {chosen_helm.chart} "
                f"(app {chosen_helm.app_version}, from {chosen_helm.updated})",
            },
            {"revision": wanted, "current": latest.revision},
        )
    raise ValueError(f"{job.kind} has no preview")


class NothingToRestore(Exception):
    """No recorded Argo CD automated block is waiting to be put back."""


class AlreadyAtRevision(Exception):
    """The release or application already runs the chosen revision."""


# Timeouts and lost answers after which the change may or may not have happened.
UNKNOWN_OUTCOME_ERRORS: tuple[type[Exception], ...] = (
    helm.HelmTimeout,
    argocd.ArgoCDUnavailable,
    k8s.KubernetesOutcomeUnknown,
)
# Kinds whose change is harmless to send again (putting auto-sync in a state it may be in).
IDEMPOTENT_KINDS = frozenset({K.ARGO_SYNC_OFF, K.ARGO_SYNC_RESTORE})
# Everything a preview or a run can fail with that becomes a message on the job.
JOB_ERRORS: tuple[type[Exception], ...] = (*ADAPTER_ERRORS, NothingToRestore, AlreadyAtRevision)


def _plan(job: Job, config: k8s.ClusterConfig) -> k8s.Plan:
    target = job.target
    params = job.params
    if job.kind == K.ROLLBACK:
        return k8s.rollback_plan(
            config,
            namespace=target.namespace,
            deployment=params["deployment"],
            to_revision=params.get("to_revision"),
        )
    if job.kind == K.RESTART:
        return k8s.restart_plan(
            config, namespace=target.namespace, deployment=params["deployment"], at=timezone.now()
        )
    if job.kind == K.IMAGE_PIN:
        return k8s.image_pin_plan(
            config,
            namespace=target.namespace,
            deployment=params["deployment"],
            container=params["container"],
            image=params["image"],
        )
    if job.kind == K.DELETE_NODE:
        return k8s.delete_node_plan(config, node=params["node"])
    if job.kind == K.CONFIGMAP_RESTORE:
        manifest = gitmanifests.manifest_at(
            repository=target.manifests_repository,
            path=params["path"],
            revision=params["revision"],
        )
        return k8s.configmap_plan(config, namespace=target.namespace, manifest=manifest)
    raise ValueError(f"{job.kind} has no plan")


def _yamlish(value: Any, key: str, indent: str = "") -> list[str]:
    """Return a small YAML-like rendering of a JSON value, for a readable preview."""
    if isinstance(value, dict) and value:
        lines = [f"{indent}{key}:"]
        for child_key, child in value.items():
            lines.extend(_yamlish(child, str(child_key), indent + "  "))
        return lines
    rendered = (
        "{}"
        if isinstance(value, dict)
        else str(value).lower()
        if isinstance(value, bool)
        else value
    )
    return [f"{indent}{key}: {rendered}"]


def sync_off_to_restore(target: KubernetesTarget) -> Job | None:
    """Return the latest auto-sync-off job whose recorded block was not put back yet."""
    offs = Job.objects.filter(
        target__cluster_id=target.cluster_id,
        target__argo_namespace=target.argo_namespace,
        target__argo_application=target.argo_application,
        kind=K.ARGO_SYNC_OFF,
        state=Job.State.SUCCEEDED,
    ).order_by("-finished_at", "-id")
    latest = next(
        (job for job in offs if isinstance(job.output.get("previous_automated"), dict)), None
    )
    if latest is None or latest.finished_at is None:
        return None
    restored = Job.objects.filter(
        Q(pinned__off_job=latest.pk) | Q(finished_at__gt=latest.finished_at),
        target__cluster_id=target.cluster_id,
        target__argo_application=target.argo_application,
        kind=K.ARGO_SYNC_RESTORE,
        state=Job.State.SUCCEEDED,
    ).exists()
    return None if restored else latest


# --- Runs ----------------------------------------------------------------------------------------


def apply(
    job: Job, config: k8s.ClusterConfig, *, again: bool = False
) -> tuple[str, dict[str, Any]]:
    """Make the confirmed change exactly as previewed; return (summary, raw result).

    `again`: an earlier send of the same change may have landed unrecorded (its answer lost).
    """
    target = job.target
    pinned = job.pinned
    if job.kind in PLAN_KINDS:
        plan = k8s.plan_from_dict(pinned)
        result = k8s.plan_apply(config, plan)
        return _applied_summary(job, plan), {"result": result}
    if job.kind == K.ARGO_SYNC_OFF:
        previous = k8s.argo_autosync_off(
            config, namespace=target.argo_namespace, application=target.argo_application
        )
        if (
            previous is None
            and (job.attempts > 1 or again)
            and isinstance(pinned.get("automated"), dict)
        ):
            # A retry after a crash or a lost answer: the first send may have turned it off
            # unrecorded.
            previous = pinned["automated"]
        summary = (
            f"Argo CD auto-sync of {target.argo_application} is off; its automated block is "
            "recorded for a later restore."
            if previous is not None
            else f"Argo CD auto-sync of {target.argo_application} was already off."
        )
        return summary, {"application": target.argo_application, "previous_automated": previous}
    if job.kind == K.ARGO_SYNC_RESTORE:
        k8s.argo_autosync_restore(
            config,
            namespace=target.argo_namespace,
            application=target.argo_application,
            automated=pinned["automated"],
        )
        return (
            f"Argo CD auto-sync of {target.argo_application} is back as it was "
            f"(recorded by job #{pinned['off_job']}).",
            {"application": target.argo_application, "automated": pinned["automated"]},
        )
    if job.kind == K.ARGO_ROLLBACK:
        result = argocd.argo_rollback(
            base_url=target.argo_api_url,
            token=_argo_token(target),
            application=target.argo_application,
            history_id=pinned["history_id"],
        )
        return (
            f"Argo CD is rolling {target.argo_application} back to revision "
            f"{pinned['revision']} (history {pinned['history_id']}).",
            {"result": result},
        )
    if job.kind == K.HELM_ROLLBACK:
        cluster = target.cluster
        printed = helm.helm_rollback(
            release=target.helm_release,
            revision=pinned["revision"],
            namespace=target.namespace,
            kubeconfig_path="" if cluster.in_cluster else cluster.kubeconfig_path,
            context=cluster.context,
        )
        return (
            f"Helm rolled {target.helm_release} back to revision {pinned['revision']}.",
            {"helm_output": printed.strip()},
        )
    raise ValueError(f"{job.kind} does not change anything")


def applied_summary(job: Job) -> str:
    """Return what a Kubernetes plan job did, in words, once it is found in place."""
    return _applied_summary(job, k8s.plan_from_dict(job.pinned))


def _applied_summary(job: Job, plan: k8s.Plan) -> str:
    params = job.params
    if job.kind == K.ROLLBACK:
        return f"Rolled deployment {params['deployment']} back to revision {plan.revision}."
    if job.kind == K.RESTART:
        return f"Restarted deployment {params['deployment']}."
    if job.kind == K.IMAGE_PIN:
        return f"Pinned deployment {params['deployment']} to {params['image']}."
    if job.kind == K.DELETE_NODE:
        return f"Deleted node {params['node']}; its pods reschedule elsewhere."
    return f"Restored ConfigMap {plan.name} from {params['path']} at {params['revision']}."


def in_place(job: Job, config: k8s.ClusterConfig) -> bool:
    """Return whether the cluster already shows the job's change (reconciling after a retry)."""
    target = job.target
    if job.kind in PLAN_KINDS:
        return k8s.plan_in_place(config, k8s.plan_from_dict(job.pinned))
    if job.kind == K.ARGO_ROLLBACK:
        history = argo_history(target)
        return bool(history) and (
            history[-1].id > job.pinned["current_id"]
            and history[-1].revision == job.pinned["revision"]
        )
    if job.kind == K.HELM_ROLLBACK:
        revisions = helm_history(target)
        latest = revisions[-1] if revisions else None
        return latest is not None and (
            latest.revision > job.pinned["current"]
            and latest.description.lower().startswith(f"rollback to {job.pinned['revision']}")
        )
    # Turning auto-sync off or putting it back is idempotent: doing it again is harmless.
    return False


def read(job: Job, config: k8s.ClusterConfig) -> tuple[str, dict[str, Any]]:
    """Run a read-only job; return (summary, raw data)."""
    from .digest import control_plane_summary, pod_detail_summary, snapshot_summary

    target = job.target
    if job.kind == K.DIAGNOSTICS:
        snapshot = k8s.diagnostics_snapshot(
            config,
            namespace=target.namespace,
            pod_selector=target.pod_selector,
            service_name=target.kubernetes_service,
        )
        return snapshot_summary(snapshot), snapshot
    if job.kind == K.POD_DETAIL:
        detail = k8s.pod_detail(
            config,
            namespace=target.namespace,
            pod=job.params["pod"],
            tail_lines=job.params.get("tail_lines", 50),
        )
        return pod_detail_summary(job.params["pod"], detail), detail
    if job.kind == K.CONTROL_PLANE:
        status = k8s.control_plane_check(config)
        data = asdict(status)
        return control_plane_summary(data), data
    raise ValueError(f"{job.kind} is not a read-only kind")


# --- Choices shown on the forms (read at page time, short timeouts) -----------------------------


def argo_history(target: KubernetesTarget, *, timeout: float = 15.0) -> list[argocd.ArgoRevision]:
    """Return the Argo CD history of the target's Application, oldest first."""
    return argocd.argo_history(
        base_url=target.argo_api_url,
        token=_argo_token(target),
        application=target.argo_application,
        timeout=timeout,
    )


def helm_history(target: KubernetesTarget, *, timeout: float = 60.0) -> list[helm.HelmRevision]:
    """Return the Helm history of the target's release, oldest first."""
    cluster = target.cluster
    return helm.helm_history(
        release=target.helm_release,
        namespace=target.namespace,
        kubeconfig_path="" if cluster.in_cluster else cluster.kubeconfig_path,
        context=cluster.context,
        timeout=timeout,
    )


def _argo_token(target: KubernetesTarget) -> str:
    return argocd.argo_token(env_name=target.argo_token_env, file_path=target.argo_token_file)


def parse_time(value: str | None) -> datetime | None:
    """Return an ISO 8601 time stored in JSON as an aware datetime."""
    if not value:
        return None
    return datetime.fromisoformat(value)
