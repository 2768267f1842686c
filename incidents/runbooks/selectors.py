"""Reads of the runbooks app: suggested runbooks, targets, jobs, flags, and form choices."""

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db.models import Q, QuerySet

from incidents.models import Incident
from incidents.policies import Action, can
from portal.auth import AnyUser
from portal.integrations import gitmanifests
from portal.integrations import kubernetes as k8s

from .models import READ_ONLY_KINDS, Job, JobKind, KubernetesTarget, Runbook, RunbookFlag
from .services import kinds
from .services.failures import failure_message

logger = logging.getLogger(__name__)

# Choices read from the cluster, Argo CD, Helm or git while a page renders: short timeouts, and
# cached briefly so a page reload during an incident does not hammer them.
CHOICES_TIMEOUT_SECONDS = 5.0
CHOICES_CACHE_SECONDS = 20


def runbook_list_for_incident(*, incident: Incident) -> QuerySet[Runbook]:
    """Return the runbooks suggested on the incident: its services' and the suggest-for-all ones."""
    service_ids = list(incident.services.values_list("pk", flat=True))
    return (
        Runbook.objects.filter(Q(suggest_for_all=True) | Q(services__in=service_ids))
        .distinct()
        .order_by("position", "title")
    )


def runbook_get(*, slug: str) -> Runbook:
    """Return the runbook with that slug (Runbook.DoesNotExist if none)."""
    return Runbook.objects.get(slug=slug)


def target_list_for_incident(*, incident: Incident) -> list[KubernetesTarget]:
    """Return the Kubernetes targets of the incident's services (every target if it has none)."""
    targets = KubernetesTarget.objects.select_related("cluster", "service").order_by(
        "service__name", "name"
    )
    service_ids = list(incident.services.values_list("pk", flat=True))
    if service_ids:
        targets = targets.filter(service__in=service_ids)
    return list(targets)


def target_get(*, pk: int) -> KubernetesTarget:
    """Return one target with its cluster and service."""
    return KubernetesTarget.objects.select_related("cluster", "service").get(pk=pk)


def job_list_for_incident(*, incident: Incident) -> QuerySet[Job]:
    """Return the incident's jobs, newest first."""
    return Job.objects.filter(incident=incident).select_related(
        "target__service", "target__cluster", "requested_by", "runbook"
    )


def job_get(*, incident: Incident, pk: int) -> Job:
    """Return one of the incident's jobs (Job.DoesNotExist if it is another incident's)."""
    return Job.objects.select_related(
        "incident",
        "target__service",
        "target__cluster",
        "requested_by",
        "confirmed_by",
        "runbook",
        "parent",
    ).get(incident=incident, pk=pk)


def job_children(*, job: Job) -> QuerySet[Job]:
    """Return the jobs Firebreak started for this one (Argo CD off, rollout waits, re-previews)."""
    return job.children.select_related("target__service").order_by("created_at", "id")


def runbook_flag_list(
    *, incident: Incident | None = None, open_only: bool = False
) -> QuerySet[RunbookFlag]:
    """Return runbook flags, newest first (the incident's; only unresolved ones if asked)."""
    flags = RunbookFlag.objects.select_related("runbook", "incident", "flagged_by")
    if incident is not None:
        flags = flags.filter(incident=incident)
    if open_only:
        flags = flags.filter(resolved_at__isnull=True)
    return flags


def job_kind_allowed(*, user: AnyUser, incident: Incident, kind: str) -> bool:
    """Return whether the user may request this kind of job on the incident."""
    action = Action.RUN_DIAGNOSTICS if kind in READ_ONLY_KINDS else Action.RUN_MUTATING_JOB
    return can(user, action, incident)


@dataclass
class Choices:
    """What a job form offers to choose from, or why the list could not be read."""

    options: list[tuple[str, str]] = field(default_factory=list)
    error: str = ""


def _cache_key(what: str, target: KubernetesTarget, *parts: str) -> str:
    """Return a key that changes whenever the target or its cluster is edited."""
    cluster = target.cluster
    source = "|".join(
        [
            what,
            str(target.pk),
            target.updated_at.isoformat(),
            str(cluster.pk),
            cluster.updated_at.isoformat(),
            cluster.kubeconfig_path,
            cluster.context,
            *parts,
        ]
    )
    return "runbooks:choices:" + hashlib.sha256(source.encode()).hexdigest()


def _cached(key: str, read: Any) -> Choices:
    found = cache.get(key)
    if isinstance(found, Choices):
        return found
    try:
        choices = read()
    except Exception as exc:
        logger.info("choices %s unavailable: %s", key, exc)
        choices = Choices(error=str(exc) or type(exc).__name__)
    cache.set(key, choices, CHOICES_CACHE_SECONDS)
    return choices


def rollback_choices(*, target: KubernetesTarget, deployment: str) -> Choices:
    """Return the Deployment's rollout history to choose a revision from (newest first)."""

    def read() -> Choices:
        config = kinds.cluster_config(target.cluster, timeout=CHOICES_TIMEOUT_SECONDS)
        try:
            revisions = k8s.rollout_history(
                config, namespace=target.namespace, deployment=deployment
            )
        except kinds.ADAPTER_ERRORS as exc:
            return Choices(error=_message(exc, target, deployment))
        return Choices(
            options=[
                (
                    str(revision.number),
                    f"{revision.number}{' (current)' if revision.current else ''} · "
                    f"{', '.join(revision.images)}"
                    + (f" · {revision.change_cause}" if revision.change_cause else "")
                    + (f" · {revision.created_at}" if revision.created_at else ""),
                )
                for revision in reversed(revisions)
            ]
        )

    return _cached(_cache_key("rollout-history", target, deployment), read)


def argo_choices(*, target: KubernetesTarget) -> Choices:
    """Return the Argo CD Application's history to choose an entry from (newest first)."""

    def read() -> Choices:
        try:
            history = kinds.argo_history(target, timeout=CHOICES_TIMEOUT_SECONDS)
        except kinds.ADAPTER_ERRORS as exc:
            return Choices(error=_message(exc, target))
        return Choices(
            options=[
                (
                    str(entry.id),
                    f"{entry.id}{' (current)' if entry.current else ''} · {entry.revision[:12]}"
                    f" · deployed {entry.deployed_at}",
                )
                for entry in reversed(history)
            ]
        )

    return _cached(_cache_key("argo-history", target), read)


def helm_choices(*, target: KubernetesTarget) -> Choices:
    """Return the Helm release's history to choose a revision from (newest first)."""

    def read() -> Choices:
        try:
            revisions = kinds.helm_history(target, timeout=CHOICES_TIMEOUT_SECONDS * 2)
        except kinds.ADAPTER_ERRORS as exc:
            return Choices(error=_message(exc, target))
        latest = revisions[-1].revision if revisions else None
        return Choices(
            options=[
                (
                    str(revision.revision),
                    f"{revision.revision}{' (current)' if revision.revision == latest else ''} · "
                    f"{revision.chart} · app {revision.app_version} · {revision.status} · "
                    f"{revision.description}",
                )
                for revision in reversed(revisions)
            ]
        )

    return _cached(_cache_key("helm-history", target), read)


def configmap_choices(*, target: KubernetesTarget, path: str) -> Choices:
    """Return the commits that changed the ConfigMap manifest (newest first)."""

    def read() -> Choices:
        try:
            revisions = gitmanifests.manifest_revisions(
                repository=target.manifests_repository, path=path
            )
        except kinds.ADAPTER_ERRORS as exc:
            return Choices(error=_message(exc, target))
        return Choices(
            options=[
                (
                    revision.sha,
                    f"{revision.sha[:12]}{' (HEAD)' if index == 0 else ''} · "
                    f"{revision.committed_at} · {revision.subject}",
                )
                for index, revision in enumerate(revisions)
            ]
        )

    return _cached(_cache_key("configmap-revisions", target, path), read)


def pod_suggestions(*, incident: Incident, target: KubernetesTarget) -> list[str]:
    """Return the pods the incident's latest snapshot of the target found (troubled ones first)."""
    snapshot = (
        Job.objects.filter(
            incident=incident, target=target, kind=JobKind.DIAGNOSTICS, state=Job.State.SUCCEEDED
        )
        .order_by("-finished_at", "-id")
        .values_list("output", flat=True)
        .first()
    )
    if not snapshot:
        return []
    names: list[str] = []
    for key in ("crash_looping", "pods_not_running", "service_pods"):
        for pod in snapshot.get(key) or []:
            if pod.get("namespace", target.namespace) == target.namespace:
                name = pod.get("name", "")
                if name and name not in names:
                    names.append(name)
    return names


def restore_choice(*, target: KubernetesTarget) -> Job | None:
    """Return the auto-sync-off job whose recorded block a restore would put back."""
    return kinds.sync_off_to_restore(target)


def _message(exc: Exception, target: KubernetesTarget, deployment: str = "") -> str:
    """Return a failure message without a job at hand (a stand-in names the target)."""
    stand_in = Job(target=target, kind=JobKind.DIAGNOSTICS, params={"deployment": deployment})
    return failure_message(exc, stand_in)
