"""Helm releases through the `helm` CLI on the worker: history and rollback, never reimplemented.

`helm rollback` writes a new revision from an old one and re-applies its manifests; doing that
by hand (release Secrets, hooks, three-way merges) would drift from Helm, so we drive the CLI:
no shell, a list of arguments, a timeout, positional arguments after `--` so a name can never be
read as an option. Without `helm` on the PATH, Helm jobs are shown as unavailable.
"""

import json
import re
import shutil
import subprocess
from dataclasses import dataclass

HELM = "helm"
# Helm's own limits: a release name is a DNS-1123 subdomain of at most 53 characters.
RELEASE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,51}[a-z0-9])?$")
NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class HelmError(Exception):
    """`helm` failed; the message is the last line it wrote to stderr, or what went wrong."""


class HelmUnavailable(HelmError):
    """`helm` is not installed on this worker (not on its PATH)."""


class HelmReleaseNotFound(HelmError):
    """The release does not exist in that namespace."""


class HelmTimeout(HelmError):
    """`helm` did not finish in time; what it did is unknown until the history is read again."""


@dataclass(frozen=True)
class HelmRevision:
    revision: int
    updated: str
    status: str
    chart: str
    app_version: str
    description: str


def helm_available() -> bool:
    """Return whether the `helm` CLI is on this worker's PATH."""
    return shutil.which(HELM) is not None


def helm_history(
    *,
    release: str,
    namespace: str,
    kubeconfig_path: str = "",
    context: str = "",
    timeout: float = 60.0,
) -> list[HelmRevision]:
    """Return the release's revisions, oldest first, from `helm history -o json`."""
    output = _run_helm(
        ["history", *_common(namespace, kubeconfig_path, context), "-o", "json"],
        positional=[_release(release)],
        release=release,
        namespace=namespace,
        timeout=timeout,
    )
    try:
        rows = json.loads(output or "[]")
    except ValueError:
        raise HelmError("helm history did not print JSON; is this Helm 3 or later?") from None
    if not isinstance(rows, list):
        raise HelmError("helm history printed JSON that is not a list of revisions.")
    revisions = [
        HelmRevision(
            revision=int(row["revision"]),
            updated=str(row.get("updated") or ""),
            status=str(row.get("status") or ""),
            chart=str(row.get("chart") or ""),
            app_version=str(row.get("app_version") or ""),
            description=str(row.get("description") or ""),
        )
        for row in rows
        if isinstance(row, dict) and "revision" in row
    ]
    return sorted(revisions, key=lambda revision: revision.revision)


def helm_rollback(
    *,
    release: str,
    revision: int,
    namespace: str,
    kubeconfig_path: str = "",
    context: str = "",
    timeout: float = 300.0,
) -> str:
    """Roll the release back to `revision` with `helm rollback`; return what helm printed."""
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 1:
        # Helm reads 0 as "the previous revision": a rollback target is always named here.
        raise HelmError(f"Choose a revision to roll back to (got {revision!r}).")
    # Helm's --timeout bounds each Kubernetes operation (hooks); keep it within ours.
    helm_timeout = max(int(timeout) - 5, 1)
    return _run_helm(
        [
            "rollback",
            *_common(namespace, kubeconfig_path, context),
            f"--timeout={helm_timeout}s",
        ],
        positional=[_release(release), str(revision)],
        release=release,
        namespace=namespace,
        timeout=timeout,
    )


def _release(release: str) -> str:
    if not RELEASE_NAME.match(release or ""):
        raise HelmError(f"{release!r} is not a Helm release name.")
    return release


def _common(namespace: str, kubeconfig_path: str, context: str) -> list[str]:
    """Return the flags naming the namespace and cluster, each as one `--flag=value` argument."""
    if not NAMESPACE.match(namespace or ""):
        raise HelmError(f"{namespace!r} is not a Kubernetes namespace name.")
    flags = [f"--namespace={namespace}"]
    if kubeconfig_path:
        flags.append(f"--kubeconfig={kubeconfig_path}")
    if context:
        flags.append(f"--kube-context={context}")
    return flags


def _run_helm(
    arguments: list[str],
    *,
    positional: list[str],
    release: str,
    namespace: str,
    timeout: float,
) -> str:
    """Run helm with the flags, then `--` and the positional arguments; return its stdout."""
    executable = shutil.which(HELM)
    if executable is None:
        raise HelmUnavailable("helm is not installed on this worker (it is not on the PATH).")
    command = [executable, *arguments, "--", *positional]
    try:
        completed = subprocess.run(  # noqa: S603 - list arguments, no shell, validated names
            command,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise HelmUnavailable(
            "helm is not installed on this worker (it is not on the PATH)."
        ) from None
    except subprocess.TimeoutExpired:
        raise HelmTimeout(
            f"helm {arguments[0]} did not finish within {timeout:g}s; "
            f"read the history of {release} before trying again."
        ) from None
    if completed.returncode != 0:
        lines = [line.strip() for line in completed.stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else f"helm exited with status {completed.returncode}"
        if "release: not found" in last:
            raise HelmReleaseNotFound(
                f"Helm has no release {release} in namespace {namespace} ({last})."
            )
        raise HelmError(last)
    return completed.stdout
