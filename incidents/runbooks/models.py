"""Runbooks, the Kubernetes targets of services, and the jobs run against them.

Credentials never live here: a cluster names a kubeconfig file and context on the workers (or
says it runs in-cluster), and an Argo CD token is read from an environment variable or a file
whose *name* is stored.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from incidents.models import Incident, Service
from portal.models import TimeStampedModel


class Cluster(TimeStampedModel):
    """A Kubernetes cluster as the workers reach it."""

    name = models.CharField(max_length=100, unique=True)
    in_cluster = models.BooleanField(
        default=False, help_text="Use the workers' service account instead of a kubeconfig."
    )
    kubeconfig_path = models.CharField(
        max_length=500, blank=True, help_text="Path of the kubeconfig file on the workers."
    )
    context = models.CharField(max_length=200, blank=True, help_text="Context in that file.")
    request_timeout_seconds = models.PositiveSmallIntegerField(default=15)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not self.in_cluster and not self.kubeconfig_path:
            raise ValidationError(
                {"kubeconfig_path": "Give the kubeconfig file, or choose in-cluster."}
            )


class KubernetesTarget(TimeStampedModel):
    """Where one service runs in Kubernetes, and how it is deployed (Argo CD, Helm, git)."""

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="k8s_targets")
    name = models.CharField(max_length=100, help_text="For example “production”.")
    cluster = models.ForeignKey(Cluster, on_delete=models.PROTECT, related_name="targets")
    namespace = models.CharField(max_length=63)
    deployments = models.JSONField(
        default=list, blank=True, help_text="Names of the service's Deployments."
    )
    pod_selector = models.CharField(
        max_length=200,
        blank=True,
        help_text="Label selector of its pods, for example app=payments.",
    )
    kubernetes_service = models.CharField(
        max_length=63, blank=True, help_text="Name of its Kubernetes Service (for endpoints)."
    )
    argo_application = models.CharField(max_length=253, blank=True)
    argo_namespace = models.CharField(max_length=63, blank=True, default="argocd")
    argo_api_url = models.URLField(max_length=300, blank=True)
    argo_token_env = models.CharField(
        max_length=100, blank=True, help_text="Environment variable holding the Argo CD token."
    )
    argo_token_file = models.CharField(
        max_length=500, blank=True, help_text="Or a file on the workers holding it."
    )
    helm_release = models.CharField(max_length=53, blank=True)
    manifests_repository = models.CharField(
        max_length=500, blank=True, help_text="Path of a clone of the manifests repository."
    )
    configmap_paths = models.JSONField(
        default=list,
        blank=True,
        help_text="ConfigMap manifests in that repository, e.g. k8s/production/configmap.yaml.",
    )

    class Meta:
        ordering = ["service", "name"]
        constraints = [
            models.UniqueConstraint(fields=["service", "name"], name="k8s_target_name_per_service")
        ]

    def __str__(self) -> str:
        return f"{self.service} · {self.name} ({self.cluster}/{self.namespace})"


class JobKind(models.TextChoices):
    """What a job does; the mutating ones need a preview and a confirmation."""

    DIAGNOSTICS = "diagnostics", "Diagnostics snapshot"
    POD_DETAIL = "pod_detail", "Pod detail"
    CONTROL_PLANE = "control_plane", "Control-plane check"
    ROLLBACK = "rollback", "Roll back a Deployment"
    RESTART = "restart", "Restart a Deployment"
    ROLLOUT_STATUS = "rollout_status", "Wait for rollout"
    ARGO_SYNC_OFF = "argo_sync_off", "Argo CD auto-sync off"
    ARGO_SYNC_RESTORE = "argo_sync_restore", "Argo CD auto-sync restore"
    ARGO_ROLLBACK = "argo_rollback", "Argo CD rollback"
    HELM_ROLLBACK = "helm_rollback", "Helm rollback"
    CONFIGMAP_RESTORE = "configmap_restore", "ConfigMap restore from git"
    IMAGE_PIN = "image_pin", "Emergency image pin"
    DELETE_NODE = "delete_node", "Delete a dead node"


READ_ONLY_KINDS = frozenset(
    {JobKind.DIAGNOSTICS, JobKind.POD_DETAIL, JobKind.CONTROL_PLANE, JobKind.ROLLOUT_STATUS}
)


class Runbook(TimeStampedModel):
    """A playbook: guidance to read and the jobs it offers, suggested on its services' incidents."""

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    summary = models.CharField(max_length=300, blank=True)
    guidance = models.TextField(blank=True, help_text="Markdown; commands in code blocks.")
    jobs = models.JSONField(default=list, blank=True, help_text="Job kinds offered, in order.")
    services = models.ManyToManyField(Service, related_name="runbooks", blank=True)
    suggest_for_all = models.BooleanField(
        default=False, help_text="Suggest on every incident (like “First 5 minutes of a P1”)."
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "title"]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        unknown = [kind for kind in self.jobs or [] if kind not in JobKind.values]
        if unknown:
            raise ValidationError({"jobs": f"Unknown job kinds: {', '.join(unknown)}."})


class RunbookFlag(models.Model):
    """A responder's note that a runbook needs an update, raised from an incident."""

    runbook = models.ForeignKey(Runbook, on_delete=models.CASCADE, related_name="flags")
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="runbook_flags")
    flagged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    note = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.runbook} needs an update ({self.incident.reference})"


class Job(models.Model):
    """One job against a target: previewed and confirmed if it changes anything, then run once."""

    class State(models.TextChoices):
        PREVIEW = "preview", "Awaiting confirmation"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        REFUSED = "refused", "Refused"
        CANCELLED = "cancelled", "Cancelled"

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="jobs")
    target = models.ForeignKey(KubernetesTarget, on_delete=models.PROTECT, related_name="jobs")
    runbook = models.ForeignKey(
        Runbook, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=JobKind.choices)
    params = models.JSONField(default=dict, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, db_index=True)
    # Double submits of one form carry the same key and make one job.
    request_key = models.CharField(max_length=64, unique=True)
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # What the preview showed and pinned (revision, resourceVersion), so confirming applies
    # exactly that or nothing.
    preview = models.JSONField(default=dict, blank=True)
    pinned = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(
        null=True, blank=True, help_text="Past this, the job is failed, not retried."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    output = models.JSONField(default=dict, blank=True, help_text="Raw result data.")
    summary = models.TextField(blank=True, help_text="The readable result.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["incident", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="preview") | Q(confirmed_at__isnull=True),
                name="job_preview_is_unconfirmed",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.target} ({self.get_state_display()})"

    @property
    def mutating(self) -> bool:
        return self.kind not in READ_ONLY_KINDS

    @property
    def finished(self) -> bool:
        return self.state in {
            self.State.SUCCEEDED,
            self.State.FAILED,
            self.State.REFUSED,
            self.State.CANCELLED,
        }
