"""Client plumbing: the cluster's config, a session per call, failures mapped to errors."""

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import urllib3
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from .errors import (
    KubernetesConfigError,
    KubernetesConflict,
    KubernetesError,
    KubernetesForbidden,
    KubernetesInvalid,
    KubernetesNotFound,
    KubernetesOutcomeUnknown,
    KubernetesUnauthorized,
    KubernetesUnreachable,
)
from .objects import _selector_string

CONTENT_TYPES = {
    "json": "application/json-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "merge": "application/merge-patch+json",
}
ARGO_GROUP, ARGO_VERSION, ARGO_PLURAL = "argoproj.io", "v1alpha1", "applications"
RBAC_MESSAGE = re.compile(
    r'cannot (?P<verb>\S+) resource "(?P<resource>[^"]+)" in API group "(?P<group>[^"]*)"'
    r'(?: in the namespace "(?P<namespace>[^"]+)")?'
)
RBAC_USER = re.compile(r'User "(?P<user>[^"]+)"')
WRITE_VERBS = frozenset({"create", "update", "patch", "delete"})
# Failures after the request went out: the server may have carried it out (urllib3 calls a
# timeout while waiting for the answer and a connection closed before it "read errors").
ANSWER_LOST = (urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError)


@dataclass(frozen=True)
class ClusterConfig:
    """How to reach one cluster: a kubeconfig file and context, or the pod's service account."""

    kubeconfig_path: str = ""
    context: str = ""
    in_cluster: bool = False
    request_timeout: float = 15.0


class _Session:
    """The typed APIs over one ApiClient; `call` sets the timeout and maps failures."""

    def __init__(self, api: k8s_client.ApiClient, timeout: float) -> None:
        self.api = api
        self.timeout = timeout
        self.core = k8s_client.CoreV1Api(api)
        self.apps = k8s_client.AppsV1Api(api)
        self.custom = k8s_client.CustomObjectsApi(api)
        self.discovery = k8s_client.DiscoveryV1Api(api)
        self.networking = k8s_client.NetworkingV1Api(api)

    def raw(
        self,
        method: Callable[..., Any],
        *args: Any,
        what: tuple[str, str, str, str],
        **kwargs: Any,
    ) -> bytes:
        """Call a client method and return the raw body; `what` is (verb, resource, ns, name)."""
        kwargs["_preload_content"] = False
        kwargs["_request_timeout"] = self.timeout
        # A change sent for real (not a dry run) whose answer is lost may have been applied.
        change = what[0] in WRITE_VERBS and kwargs.get("dry_run") != "All"
        try:
            response = method(*args, **kwargs)
            data: bytes = response.data
        except ApiException as error:
            if change and error.status == 504:
                reason = str(_status_body(error).get("message") or "gateway timeout")
                raise _outcome_unknown(reason, what) from error
            raise _api_error(error, *what) from error
        except (urllib3.exceptions.HTTPError, OSError) as error:
            if change and _answer_lost(error):
                raise _outcome_unknown(_failure_text(error), what) from error
            raise _unreachable(error, self.api.configuration.host) from error
        return data

    def call(
        self,
        method: Callable[..., Any],
        *args: Any,
        what: tuple[str, str, str, str],
        **kwargs: Any,
    ) -> Any:
        """Call a client method and return its JSON body."""
        return json.loads(self.raw(method, *args, what=what, **kwargs) or b"{}")

    def deployment(self, namespace: str, name: str) -> dict[str, Any]:
        return self.call(
            self.apps.read_namespaced_deployment,
            name,
            namespace,
            what=("get", "deployments.apps", namespace, name),
        )

    def patch_deployment(
        self, namespace: str, name: str, body: Any, patch_type: str, *, dry_run: bool
    ) -> dict[str, Any]:
        return self.call(
            self.apps.patch_namespaced_deployment,
            name,
            namespace,
            body,
            dry_run="All" if dry_run else None,
            _content_type=CONTENT_TYPES[patch_type],
            what=("patch", "deployments.apps", namespace, name),
        )

    def owned_replicasets(self, deployment: dict[str, Any]) -> list[dict[str, Any]]:
        """Return the ReplicaSets the Deployment controls (its selector, then ownerReferences)."""
        namespace = deployment["metadata"]["namespace"]
        listing = self.call(
            self.apps.list_namespaced_replica_set,
            namespace,
            label_selector=_selector_string(deployment["spec"].get("selector") or {}),
            what=("list", "replicasets.apps", namespace, ""),
        )
        uid = deployment["metadata"]["uid"]
        return [
            rs
            for rs in listing.get("items", [])
            if any(
                ref.get("controller") and ref.get("uid") == uid
                for ref in rs["metadata"].get("ownerReferences") or []
            )
        ]

    def application(self, namespace: str, name: str) -> dict[str, Any]:
        return self.call(
            self.custom.get_namespaced_custom_object,
            ARGO_GROUP,
            ARGO_VERSION,
            namespace,
            ARGO_PLURAL,
            name,
            what=("get", "applications.argoproj.io", namespace, name),
        )

    def patch_application(self, namespace: str, name: str, body: dict[str, Any]) -> None:
        # Custom resources take no strategic merge patch (415): say merge patch explicitly.
        self.call(
            self.custom.patch_namespaced_custom_object,
            ARGO_GROUP,
            ARGO_VERSION,
            namespace,
            ARGO_PLURAL,
            name,
            body,
            _content_type=CONTENT_TYPES["merge"],
            what=("patch", "applications.argoproj.io", namespace, name),
        )


@contextmanager
def _session(config: ClusterConfig) -> Iterator[_Session]:
    """Yield a session on a fresh ApiClient for the cluster; close it afterwards."""
    try:
        if config.in_cluster:
            configuration = k8s_client.Configuration()
            k8s_config.load_incluster_config(client_configuration=configuration)
            api = k8s_client.ApiClient(configuration)
        else:
            api = k8s_config.new_client_from_config(
                config_file=config.kubeconfig_path or None,
                context=config.context or None,
                persist_config=False,
            )
    except (ConfigException, OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as error:
        source = (
            "the in-cluster service account"
            if config.in_cluster
            else (
                f"kubeconfig {config.kubeconfig_path or '(default)'}"
                + (f" context {config.context}" if config.context else "")
            )
        )
        raise KubernetesConfigError(f"Cannot load {source}: {error}") from error
    try:
        yield _Session(api, config.request_timeout)
    finally:
        api.close()


def _status_body(error: ApiException) -> dict[str, Any]:
    try:
        body = json.loads(error.body or "")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _api_error(
    error: ApiException, verb: str, resource: str, namespace: str, name: str
) -> KubernetesError:
    """Map an ApiException to the adapter's exception, keeping the apiserver's own words."""
    status = error.status or 0
    body = _status_body(error)
    message = str(body.get("message") or error.reason or "").strip()
    where = f" in namespace {namespace}" if namespace else ""
    if status == 0:
        return KubernetesUnreachable(f"Cannot reach the Kubernetes API: {message}")
    if status == 401:
        return KubernetesUnauthorized(
            "Unauthorized: the cluster rejected the workers' credentials (expired or wrong "
            "token or certificate in the kubeconfig).",
            status=401,
        )
    if status == 403:
        match = RBAC_MESSAGE.search(message)
        user = RBAC_USER.search(message)
        if match:
            qualified = match["resource"] + (f".{match['group']}" if match["group"] else "")
            return KubernetesForbidden(
                match["verb"],
                qualified,
                match["namespace"] or "",
                user=user["user"] if user else "",
            )
        return KubernetesForbidden(verb, resource, namespace, user=user["user"] if user else "")
    if status == 404:
        subject = f'{resource} "{name}"' if name else resource
        return KubernetesNotFound(
            f"Not found: {message or subject + ' not found'}{where}.", status=404
        )
    if status == 409:
        subject = f"{resource} {namespace + '/' if namespace else ''}{name}"
        if body.get("reason") == "AlreadyExists":
            return KubernetesConflict(
                f"Conflict: {subject} was created since the preview ({message}); preview again.",
                status=409,
            )
        return KubernetesConflict(
            f"Conflict: {subject} changed since the preview ({message}); preview again.",
            status=409,
        )
    if status in (400, 415, 422):
        return KubernetesInvalid(f"The cluster rejected the request ({status}): {message}", status)
    return KubernetesError(f"Kubernetes API error {status}: {message}", status)


def _answer_lost(error: Exception) -> bool:
    """Return whether the request went out and only its answer failed (urllib3's read errors)."""
    if isinstance(error, urllib3.exceptions.MaxRetryError):
        return isinstance(error.reason, ANSWER_LOST)
    return isinstance(error, ANSWER_LOST)


def _outcome_unknown(reason: str, what: tuple[str, str, str, str]) -> KubernetesOutcomeUnknown:
    verb, resource, namespace, name = what
    subject = f"{resource} {namespace + '/' if namespace else ''}{name}"
    return KubernetesOutcomeUnknown(f"{verb} of {subject}", reason.rstrip("."))


def _unreachable(error: Exception, host: str) -> KubernetesUnreachable:
    return KubernetesUnreachable(
        f"Cannot reach the Kubernetes API at {host}: {_failure_text(error)}."
    )


def _failure_text(error: Exception) -> str:
    """Return a connection failure in a few words."""
    reason = getattr(error, "reason", None) or error
    text = str(reason)
    # urllib3 wraps the socket error in its own words; keep the last, most specific part.
    if "Connection refused" in text:
        text = "connection refused"
    elif "timed out" in text.lower():
        text = "timed out"
    elif "Connection aborted" in text or "RemoteDisconnected" in text:
        text = "the connection was closed before an answer"
    elif "Name or service not known" in text or "nodename nor servname" in text:
        text = "the host name does not resolve"
    return text
