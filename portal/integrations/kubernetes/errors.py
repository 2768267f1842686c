"""The Kubernetes adapter's exceptions: what the cluster refused or failed, and why."""


class KubernetesError(Exception):
    """The cluster refused or failed a call; `status` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class KubernetesConfigError(KubernetesError):
    """The kubeconfig file, its context or the in-cluster service account cannot be loaded."""


class KubernetesUnreachable(KubernetesError):
    """The API server did not answer: connection refused, timeout, DNS or TLS failure."""


class KubernetesOutcomeUnknown(KubernetesUnreachable):
    """A change was sent but its answer was lost (timeout, dropped connection, 504).

    The API server may have applied it: read the object back before doing anything else.
    `action` says what was sent ("patch of deployments.apps production/payments-api") and
    `reason` how the answer was lost ("timed out").
    """

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(
            f"The {action} was sent but its answer was lost ({reason}): it may have been applied."
        )
        self.action = action
        self.reason = reason


class KubernetesUnauthorized(KubernetesError):
    """401: the cluster does not accept the workers' credentials."""


class KubernetesForbidden(KubernetesError):
    """403: the workers' account lacks a permission; the message names the verb and resource."""

    def __init__(self, verb: str, resource: str, namespace: str = "", *, user: str = "") -> None:
        where = f"in namespace {namespace}" if namespace else "at the cluster scope"
        super().__init__(
            f"Forbidden: the workers' account may not {verb} {resource} {where}.", status=403
        )
        self.verb = verb
        self.resource = resource
        self.namespace = namespace
        self.user = user


class KubernetesNotFound(KubernetesError):
    """404: the object (or the API serving it) does not exist."""


class KubernetesConflict(KubernetesError):
    """409: the object changed since the preview (or already exists); preview again."""


class TargetChanged(KubernetesConflict):
    """What the preview pinned (a Deployment's spec and generation) changed since: preview again."""


class KubernetesInvalid(KubernetesError):
    """400/415/422: the cluster rejected what was sent."""


class RolloutPaused(KubernetesError):
    """The Deployment is paused: kubectl refuses to roll it back or restart it."""


class NoRolloutHistory(KubernetesError):
    """The Deployment has no earlier revision to roll back to."""


class RevisionNotFound(KubernetesError):
    """The requested revision is not in the Deployment's history."""

    def __init__(self, revision: int, message: str = "") -> None:
        super().__init__(message or f"unable to find specified revision {revision} in history")
        self.revision = revision


class AlreadyInPlace(KubernetesError):
    """Nothing to do: the cluster already has what the change would produce."""
