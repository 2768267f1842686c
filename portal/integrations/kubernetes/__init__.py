"""Kubernetes adapter: the runbook's kubectl commands through the official `kubernetes` client.

Every call builds its own `ApiClient` from the cluster's kubeconfig file and context (or the pod's
service account), never the client's global configuration, and passes `_request_timeout`.
Responses are read as the apiserver's JSON (`_preload_content=False`), so templates are compared
and patched back exactly as kubectl does, with nothing lost to a model round trip.

Mutations are two steps: a `Plan` (server-side dry run, a readable diff, what it is pinned to),
then `plan_apply`. A Deployment's plan is pinned to its spec and generation: status writes (a
crash loop makes several a minute) do not stop it, a spec change does (`TargetChanged`); each
write still carries the resourceVersion just read as its precondition. Other plans send the
pinned resourceVersion (409 when the object changed since the preview). A write whose answer is
lost (a timeout, a dropped connection, a 504) raises `KubernetesOutcomeUnknown`: it may have
been applied, and `plan_in_place` reads the object back to tell. Failures are the typed
exceptions in `errors`; messages say what happened and what to do.

Modules by concern: `client` (config, session, error translation), `errors`, `diagnostics`
(reads), `rollouts` (Deployments), `nodes`, `configmaps`, `plans` (pin, apply, reconcile), `argo`
(Argo CD auto-sync); `objects`, `summaries` and `previews` are their shared helpers.
"""

from .argo import argo_autosync_block, argo_autosync_off, argo_autosync_restore
from .client import (
    ARGO_GROUP,
    ARGO_PLURAL,
    ARGO_VERSION,
    CONTENT_TYPES,
    RBAC_MESSAGE,
    RBAC_USER,
    ClusterConfig,
)
from .configmaps import configmap_plan
from .diagnostics import ControlPlaneStatus, control_plane_check, diagnostics_snapshot, pod_detail
from .errors import (
    AlreadyInPlace,
    KubernetesConfigError,
    KubernetesConflict,
    KubernetesError,
    KubernetesForbidden,
    KubernetesInvalid,
    KubernetesNotFound,
    KubernetesOutcomeUnknown,
    KubernetesUnauthorized,
    KubernetesUnreachable,
    NoRolloutHistory,
    RevisionNotFound,
    RolloutPaused,
    TargetChanged,
)
from .nodes import delete_node_plan
from .objects import (
    CHANGE_CAUSE_ANNOTATION,
    HASH_LABEL,
    RESTARTED_AT_ANNOTATION,
    REVISION_ANNOTATION,
)
from .plans import Plan, plan_apply, plan_from_dict, plan_in_place, plan_to_dict
from .rollouts import (
    ROLLBACK_KEPT_ANNOTATIONS,
    Revision,
    RolloutStatus,
    image_pin_plan,
    restart_plan,
    rollback_plan,
    rollout_history,
    rollout_status,
)

__all__ = [
    "ARGO_GROUP",
    "ARGO_PLURAL",
    "ARGO_VERSION",
    "CHANGE_CAUSE_ANNOTATION",
    "CONTENT_TYPES",
    "HASH_LABEL",
    "RBAC_MESSAGE",
    "RBAC_USER",
    "RESTARTED_AT_ANNOTATION",
    "REVISION_ANNOTATION",
    "ROLLBACK_KEPT_ANNOTATIONS",
    "AlreadyInPlace",
    "ClusterConfig",
    "ControlPlaneStatus",
    "KubernetesConfigError",
    "KubernetesConflict",
    "KubernetesError",
    "KubernetesForbidden",
    "KubernetesInvalid",
    "KubernetesNotFound",
    "KubernetesOutcomeUnknown",
    "KubernetesUnauthorized",
    "KubernetesUnreachable",
    "NoRolloutHistory",
    "Plan",
    "Revision",
    "RevisionNotFound",
    "RolloutPaused",
    "RolloutStatus",
    "TargetChanged",
    "argo_autosync_block",
    "argo_autosync_off",
    "argo_autosync_restore",
    "configmap_plan",
    "control_plane_check",
    "delete_node_plan",
    "diagnostics_snapshot",
    "image_pin_plan",
    "plan_apply",
    "plan_from_dict",
    "plan_in_place",
    "plan_to_dict",
    "pod_detail",
    "restart_plan",
    "rollback_plan",
    "rollout_history",
    "rollout_status",
]
