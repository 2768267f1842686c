"""ConfigMap manifests read through the real `git` CLI from a temporary repository."""

import subprocess
from pathlib import Path

import pytest

from portal.integrations.gitmanifests import GitManifestError, manifest_at, manifest_revisions

PATH = "k8s/production/configmap.yaml"
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: payments-config
  namespace: production
data:
  FEATURE_NEW_CHECKOUT: "{flag}"
  TIMEOUT_MS: "{timeout}"
"""


def git(repository: Path, *arguments: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repository), *arguments], check=True, capture_output=True, text=True
    ).stdout


def commit(repository: Path, path: str, text: str, message: str) -> str:
    target = repository / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    git(repository, "add", path)
    git(repository, "commit", "-q", "-m", message)
    return git(repository, "rev-parse", "HEAD").strip()


@pytest.fixture
def manifests(tmp_path):
    """A manifests repository whose ConfigMap was changed twice, the last change being bad."""
    repository = tmp_path / "deploy"
    repository.mkdir()
    git(repository, "init", "-q", "-b", "main")
    git(repository, "config", "user.email", "platform@example.com")
    git(repository, "config", "user.name", "Platform")
    git(repository, "config", "commit.gpgsign", "false")
    shas = [
        commit(
            repository, PATH, CONFIGMAP.format(flag="false", timeout=800), "Add payments config"
        ),
        commit(repository, "README.md", "deploy repo\n", "Describe the repository"),
        commit(repository, PATH, CONFIGMAP.format(flag="true", timeout=80), "Turn on new checkout"),
    ]
    return repository, shas


def test_revisions_are_the_commits_that_changed_the_manifest_newest_first(manifests):
    repository, shas = manifests

    revisions = manifest_revisions(repository=str(repository), path=PATH)

    assert [r.sha for r in revisions] == [shas[2], shas[0]]
    assert [r.subject for r in revisions] == ["Turn on new checkout", "Add payments config"]
    assert revisions[0].committed_at[:4].isdigit() and "T" in revisions[0].committed_at
    assert manifest_revisions(repository=str(repository), path=PATH, limit=1)[0].sha == shas[2]


def test_head_1_holds_the_configmap_before_the_bad_change(manifests):
    repository, shas = manifests

    configmap = manifest_at(repository=str(repository), path=PATH, revision="HEAD~1")

    assert configmap["metadata"]["name"] == "payments-config"
    assert configmap["data"] == {"FEATURE_NEW_CHECKOUT": "false", "TIMEOUT_MS": "800"}
    assert manifest_at(repository=str(repository), path=PATH, revision=shas[2][:10])["data"] == {
        "FEATURE_NEW_CHECKOUT": "true",
        "TIMEOUT_MS": "80",
    }


def test_a_revision_the_repository_does_not_have_is_refused(manifests):
    repository, _ = manifests

    with pytest.raises(GitManifestError, match="has no revision deadbeef"):
        manifest_at(repository=str(repository), path=PATH, revision="deadbeef")
    with pytest.raises(GitManifestError, match="has no revision HEAD~7"):
        manifest_at(repository=str(repository), path=PATH, revision="HEAD~7")


def test_a_path_missing_at_that_revision_is_refused(manifests):
    repository, _ = manifests

    with pytest.raises(GitManifestError, match="does not exist at revision"):
        manifest_at(repository=str(repository), path="k8s/staging/configmap.yaml", revision="HEAD")
    with pytest.raises(GitManifestError, match="No commit"):
        manifest_revisions(repository=str(repository), path="k8s/staging/configmap.yaml")


def test_a_manifest_that_is_not_one_configmap_is_refused(manifests):
    repository, _ = manifests
    commit(
        repository,
        "k8s/production/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: payments\n",
        "Add deployment",
    )
    commit(
        repository,
        "k8s/production/both.yaml",
        CONFIGMAP.format(flag="x", timeout=1) + "---\n" + CONFIGMAP.format(flag="y", timeout=2),
        "Add two documents",
    )

    with pytest.raises(GitManifestError, match="not a v1 ConfigMap"):
        manifest_at(
            repository=str(repository), path="k8s/production/deployment.yaml", revision="HEAD"
        )
    with pytest.raises(GitManifestError, match="2 YAML documents"):
        manifest_at(repository=str(repository), path="k8s/production/both.yaml", revision="HEAD")


@pytest.mark.parametrize(
    "revision", ["--output={out}", "-p", "HEAD --output={out}", "main..HEAD", "HEAD:README.md"]
)
def test_revisions_that_git_could_read_as_options_or_ranges_are_refused(
    manifests, tmp_path, revision
):
    repository, _ = manifests
    written = tmp_path / "x"

    with pytest.raises(GitManifestError, match="is not a revision"):
        manifest_at(repository=str(repository), path=PATH, revision=revision.format(out=written))

    assert not written.exists()


def test_paths_outside_the_repository_are_refused(manifests):
    repository, _ = manifests

    for path in ("../secrets.yaml", "/etc/passwd", "--output=/tmp/x"):
        with pytest.raises(GitManifestError, match="not a path inside"):
            manifest_at(repository=str(repository), path=path, revision="HEAD")


def test_a_directory_that_is_not_a_repository_is_refused(tmp_path):
    with pytest.raises(GitManifestError):
        manifest_revisions(repository=str(tmp_path), path=PATH)
    with pytest.raises(GitManifestError, match="not a directory"):
        manifest_revisions(repository=str(tmp_path / "absent"), path=PATH)
