"""The back-office for runbooks: clusters, targets and runbooks are edited here; jobs are read.

Credentials never live in the database: a cluster names a kubeconfig file and context on the
workers (or runs in-cluster), and an Argo CD token is read from an environment variable or a file
whose *name* is stored here.
"""

import re
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from incidents.admin import ReadOnlyAdminMixin, StaffAdminMixin
from portal.errors import ApplicationError

from .models import Cluster, Job, JobKind, KubernetesTarget, Runbook, RunbookFlag
from .services import runbook_flag_resolve

# An environment variable's name; a pasted token (a JWT has dots) is refused, never stored, and
# so never echoed back in "No Argo CD token: set the environment variable …".
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
CREDENTIALS_NOTE = (
    "Names and paths only: Firebreak never stores a credential. The file or variable must exist "
    "on the workers."
)


class ClusterForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Cluster
        fields = ("name", "in_cluster", "kubeconfig_path", "context", "request_timeout_seconds")
        help_texts = {
            "kubeconfig_path": f"Path of the kubeconfig file on the workers. {CREDENTIALS_NOTE}",
            "context": "Context name in that file (its credentials stay in the file).",
        }


@admin.register(Cluster)
class ClusterAdmin(StaffAdminMixin, admin.ModelAdmin):
    form = ClusterForm
    list_display = ("name", "in_cluster", "kubeconfig_path", "context", "request_timeout_seconds")
    search_fields = ("name",)


class KubernetesTargetForm(forms.ModelForm):  # type: ignore[type-arg]
    argo_api_url = forms.URLField(
        label="Argo CD API URL",
        max_length=300,
        required=False,
        assume_scheme="https",
        help_text="For example https://argocd.example.com (for Argo CD rollbacks).",
    )

    class Meta:
        model = KubernetesTarget
        fields = (
            "service",
            "name",
            "cluster",
            "namespace",
            "deployments",
            "pod_selector",
            "kubernetes_service",
            "argo_application",
            "argo_namespace",
            "argo_api_url",
            "argo_token_env",
            "argo_token_file",
            "helm_release",
            "manifests_repository",
            "configmap_paths",
        )
        help_texts = {
            "argo_token_env": "Name of the environment variable on the workers that holds the "
            "Argo CD token — never the token itself.",
            "argo_token_file": "Or the path of a file on the workers that holds it — never the "
            "token itself.",
            "deployments": 'A JSON list, e.g. ["payments-api"].',
            "configmap_paths": "A JSON list of paths in the repository, e.g. "
            '["k8s/production/configmap.yaml"].',
        }

    def clean_argo_token_env(self) -> str:
        name = str(self.cleaned_data.get("argo_token_env") or "").strip()
        if name and not ENV_NAME.match(name):
            raise forms.ValidationError(
                "Give the name of an environment variable (letters, digits, _), such as "
                "ARGOCD_TOKEN — never the token itself."
            )
        return name


@admin.register(KubernetesTarget)
class KubernetesTargetAdmin(StaffAdminMixin, admin.ModelAdmin):
    form = KubernetesTargetForm
    list_display = ("service", "name", "cluster", "namespace", "argo_application", "helm_release")
    list_filter = ("cluster",)
    list_select_related = ("service", "cluster")
    search_fields = ("service__name", "name", "namespace", "argo_application", "helm_release")
    autocomplete_fields = ("service",)
    fieldsets = (
        (None, {"fields": ("service", "name", "cluster", "namespace")}),
        ("Workloads", {"fields": ("deployments", "pod_selector", "kubernetes_service")}),
        (
            "Argo CD",
            {
                "fields": (
                    "argo_application",
                    "argo_namespace",
                    "argo_api_url",
                    "argo_token_env",
                    "argo_token_file",
                ),
                "description": CREDENTIALS_NOTE,
            },
        ),
        ("Helm and git", {"fields": ("helm_release", "manifests_repository", "configmap_paths")}),
    )


class RunbookForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Runbook
        fields = (
            "title",
            "slug",
            "summary",
            "guidance",
            "jobs",
            "services",
            "suggest_for_all",
            "position",
        )
        help_texts = {
            "jobs": "A JSON list of job kinds, in order: " + ", ".join(JobKind.values) + ".",
        }


@admin.register(Runbook)
class RunbookAdmin(StaffAdminMixin, admin.ModelAdmin):
    form = RunbookForm
    list_display = ("title", "slug", "suggest_for_all", "position", "job_list")
    list_editable = ("position",)
    prepopulated_fields = {"slug": ("title",)}
    filter_horizontal = ("services",)
    search_fields = ("title", "summary")

    @admin.display(description="Jobs")
    def job_list(self, obj: Runbook) -> str:
        labels = dict(JobKind.choices)
        return ", ".join(str(labels.get(kind, kind)) for kind in obj.jobs or [])


@admin.register(RunbookFlag)
class RunbookFlagAdmin(StaffAdminMixin, admin.ModelAdmin):
    list_display = ("runbook", "incident", "flagged_by", "created_at", "resolved_at", "note")
    list_filter = (("resolved_at", admin.EmptyFieldListFilter), "runbook")
    list_select_related = ("runbook", "incident", "flagged_by")
    readonly_fields = ("runbook", "incident", "flagged_by", "note", "created_at", "resolved_at")
    actions = ("mark_resolved",)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # flags are raised from an incident, where they also reach its timeline

    @admin.action(description="Mark resolved (the runbook was updated)")
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet[RunbookFlag]) -> None:
        resolved = 0
        for flag in queryset:
            try:
                runbook_flag_resolve(flag=flag, actor=request.user)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
                return
            resolved += 1
        self.message_user(request, f"{resolved} flag(s) marked resolved.", messages.SUCCESS)


@admin.register(Job)
class JobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "kind", "state", "incident", "target", "requested_by", "created_at")
    list_filter = ("state", "kind")
    list_select_related = ("incident", "target__service", "target__cluster", "requested_by")
    search_fields = ("request_key", "summary", "error")
    date_hierarchy = "created_at"
