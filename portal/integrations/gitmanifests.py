"""ConfigMap manifests from a local clone of the manifests repository, through the `git` CLI.

The runbook's `git show HEAD~1:k8s/…/configmap.yaml | kubectl apply -f -`, minus the shell:
`git log` lists the commits that touched a manifest, `git show <rev>:<path>` reads it at one of
them. Revisions and paths come from people, so both are checked before they reach argv and are
placed where git cannot read them as options (`--end-of-options`, `--`).
"""

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

GIT = "git"
GIT_TIMEOUT_SECONDS = 30.0
# A commit id (abbreviated or full), or a ref name, optionally followed by ~N / ^N steps.
REVISION = re.compile(
    r"^(?:[0-9a-fA-F]{4,64}|HEAD|[A-Za-z0-9_][A-Za-z0-9._/-]{0,199})(?:[~^][0-9]{0,4})*$"
)
FIELD = "\x1f"


class GitManifestError(Exception):
    """The manifest could not be read from git, or is not one ConfigMap."""


@dataclass(frozen=True)
class ManifestRevision:
    sha: str
    committed_at: str
    subject: str


def manifest_revisions(*, repository: str, path: str, limit: int = 20) -> list[ManifestRevision]:
    """Return the commits that changed the manifest, newest first."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
        raise GitManifestError(f"limit must be between 1 and 1000, not {limit!r}.")
    manifest = _path(path)
    output = _git(
        repository,
        "log",
        f"--format=%H{FIELD}%cI{FIELD}%s",
        f"--max-count={limit}",
        "--end-of-options",
        "HEAD",
        "--",
        manifest,
    )
    revisions = []
    for line in output.splitlines():
        sha, _, rest = line.partition(FIELD)
        committed_at, _, subject = rest.partition(FIELD)
        if sha:
            revisions.append(ManifestRevision(sha=sha, committed_at=committed_at, subject=subject))
    if not revisions:
        raise GitManifestError(
            f"No commit in {repository} touches {manifest}: check the manifest's path."
        )
    return revisions


def manifest_at(*, repository: str, path: str, revision: str) -> dict[str, Any]:
    """Return the ConfigMap the manifest held at `revision`, parsed from its YAML."""
    manifest = _path(path)
    if not REVISION.match(revision or "") or ".." in revision or revision.endswith((".lock", "/")):
        raise GitManifestError(
            f"{revision!r} is not a revision: give a commit id, a branch or tag, or HEAD~N."
        )
    try:
        sha = _git(
            repository,
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            f"{revision}^{{commit}}",
        ).strip()
    except GitManifestError:
        raise GitManifestError(f"{repository} has no revision {revision}.") from None
    try:
        text = _git(repository, "show", "--end-of-options", f"{sha}:{manifest}")
    except GitManifestError as exc:
        if "does not exist" in str(exc) or "exists on disk, but not in" in str(exc):
            raise GitManifestError(
                f"{manifest} does not exist at revision {revision} ({sha[:12]})."
            ) from None
        raise
    return _configmap(text, manifest=manifest, revision=revision)


def _configmap(text: str, *, manifest: str, revision: str) -> dict[str, Any]:
    """Return the one ConfigMap in the YAML text, or say why there is none."""
    where = f"{manifest} at {revision}"
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        raise GitManifestError(f"{where} is not valid YAML ({exc.__class__.__name__}).") from None
    if len(documents) != 1:
        raise GitManifestError(
            f"{where} holds {len(documents)} YAML documents; a ConfigMap restore needs exactly one."
        )
    document = documents[0]
    if not isinstance(document, dict):
        raise GitManifestError(f"{where} is not a Kubernetes object.")
    if document.get("kind") != "ConfigMap" or document.get("apiVersion") != "v1":
        raise GitManifestError(
            f"{where} is a {document.get('kind') or 'document without a kind'}"
            f" ({document.get('apiVersion') or 'no apiVersion'}), not a v1 ConfigMap."
        )
    metadata = document.get("metadata")
    if not isinstance(metadata, dict) or not metadata.get("name"):
        raise GitManifestError(f"{where} is a ConfigMap without metadata.name.")
    for key in ("data", "binaryData"):
        if document.get(key) is not None and not isinstance(document[key], dict):
            raise GitManifestError(f"{where} has a {key} that is not a mapping.")
    return document


def _path(path: str) -> str:
    """Return the manifest's path inside the repository, refusing anything outside it."""
    pure = PurePosixPath(path or "")
    if (
        not path
        or pure.is_absolute()
        or ".." in pure.parts
        or path.startswith("-")
        or any(ord(char) < 32 for char in path)
    ):
        raise GitManifestError(f"{path!r} is not a path inside the manifests repository.")
    return str(pure)


def _git(repository: str, *arguments: str) -> str:
    """Run git in the repository and return stdout; GitManifestError with git's message if not."""
    if not repository or not Path(repository).is_dir():
        raise GitManifestError(f"The manifests repository {repository!r} is not a directory here.")
    command = [
        GIT,
        "-C",
        repository,
        # The clone is configured by others: no pager, and no fsmonitor hook that runs a program.
        "-c",
        "core.fsmonitor=false",
        "--no-pager",
        *arguments,
    ]
    try:
        completed = subprocess.run(  # noqa: S603 - list arguments, no shell, checked values
            command,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
            stdin=subprocess.DEVNULL,
            env=_environment(),
        )
    except FileNotFoundError:
        raise GitManifestError("git is not installed on this worker.") from None
    except subprocess.TimeoutExpired:
        raise GitManifestError(
            f"git {arguments[0]} took longer than {GIT_TIMEOUT_SECONDS:g}s in {repository}."
        ) from None
    if completed.returncode != 0:
        lines = [line.strip() for line in completed.stderr.splitlines() if line.strip()]
        message = lines[-1] if lines else f"git {arguments[0]} failed"
        raise GitManifestError(message.removeprefix("fatal: "))
    return completed.stdout


def _environment() -> dict[str, str]:
    """Return git's environment: the worker's, but never prompting and with stable messages."""
    environment = dict(os.environ)
    environment.update(
        {
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_OPTIONAL_LOCKS": "0",
            "LC_ALL": "C",
        }
    )
    return environment
