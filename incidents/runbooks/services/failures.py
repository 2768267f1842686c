"""What a failed job says: the adapters' errors as messages a responder can act on."""

from portal.integrations import argocd, gitmanifests, helm
from portal.integrations import kubernetes as k8s

from ..models import Job
from .kinds import AlreadyAtRevision, NothingToRestore

# The runbook's "etcd / API server issues": with the control plane down, kubelets keep running
# the existing pods, and changing workloads only makes things worse.
CONTROL_PLANE_DOWN = "Restore the API server before touching workloads"
RBAC_FILE = "deploy/kubernetes/firebreak-rbac.yaml"


def failure_message(exc: Exception, job: Job) -> str:
    """Return what went wrong and what to do next, naming the cluster and the object."""
    cluster = job.target.cluster
    deployment = job.params.get("deployment", "")
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, k8s.KubernetesUnreachable):
        return (
            f"Cluster {cluster} is unreachable from the workers ({text}). Check the network path "
            f"and the API server (the etcd / API server runbook), then try again."
        )
    if isinstance(exc, k8s.KubernetesUnauthorized):
        return (
            f"Cluster {cluster} rejected the workers' credentials (401: {text}). Check the "
            "kubeconfig, context or service-account token on the workers."
        )
    if isinstance(exc, k8s.KubernetesForbidden):
        return f"{text} Grant it with {RBAC_FILE} (403)."
    if isinstance(exc, k8s.RolloutPaused):
        return (
            f"Deployment {deployment} is paused ({text}). Resume it with `kubectl rollout resume "
            f"deployment {deployment} -n {job.target.namespace}` if that is intended, then preview "
            "again."
        )
    if isinstance(exc, k8s.NoRolloutHistory):
        return f"No rollout history: {text} There is no earlier revision to go back to."
    if isinstance(exc, k8s.RevisionNotFound):
        return f"Revision not found: {text} Choose a revision from the history."
    if isinstance(exc, k8s.AlreadyInPlace | AlreadyAtRevision):
        return f"Already at that template: {text} Nothing was changed."
    if isinstance(exc, k8s.KubernetesNotFound):
        return f"Not found (404): {text}"
    if isinstance(exc, k8s.KubernetesConflict):
        return f"Conflict (409): {text}"
    if isinstance(exc, k8s.KubernetesInvalid):
        return f"The cluster refused the change as invalid: {text}"
    if isinstance(exc, k8s.KubernetesError):
        return f"Kubernetes error: {text}"
    if isinstance(exc, argocd.ArgoCDUnavailable):
        return f"Argo CD is unavailable: {text}"
    if isinstance(exc, argocd.ArgoCDError):
        # Most of the adapter's messages already start with "Argo CD …"; Argo's own do not.
        return text if text.startswith("Argo CD") else f"Argo CD: {text}"
    if isinstance(exc, helm.HelmUnavailable):
        return f"{text} Roll back with `helm rollback` by hand (see the guidance)."
    if isinstance(exc, helm.HelmTimeout):
        return f"Helm: {text}"
    if isinstance(exc, helm.HelmError):
        return f"Helm: {text}"
    if isinstance(exc, gitmanifests.GitManifestError):
        return f"Manifests repository: {text}"
    if isinstance(exc, NothingToRestore):
        return text
    return text


def control_plane_refusal(status: k8s.ControlPlaneStatus) -> str:
    """Return the refusal a mutating job gets while the control plane is not ready."""
    detail = status.error or status.readyz.strip().splitlines()[-1:] or ["not ready"]
    reason = (detail if isinstance(detail, str) else detail[0]).rstrip(".")
    return f"The control plane is not ready ({reason}). {CONTROL_PLANE_DOWN}."
