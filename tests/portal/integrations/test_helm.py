"""Helm history and rollback through the real adapter, which runs the fake `helm` on the PATH."""

import os
import stat
from pathlib import Path

import pytest

from portal.integrations.helm import (
    HelmError,
    HelmReleaseNotFound,
    HelmRevision,
    HelmTimeout,
    HelmUnavailable,
    helm_available,
    helm_history,
    helm_rollback,
)
from tests.fakes.helm_cli import EXECUTABLE

CHARTS = [("payments-1.4.0", "1.4.0"), ("payments-1.5.0", "1.5.0"), ("payments-1.6.0", "1.6.0")]


@pytest.fixture
def payments_release(fake_helm):
    fake_helm.add_release("payments", namespace="production", charts=CHARTS)
    return fake_helm


def test_the_fake_helm_is_executable_as_git_will_record_it():
    assert EXECUTABLE.stat().st_mode & stat.S_IXUSR


def test_history_reads_helms_json(payments_release):
    history = helm_history(
        release="payments",
        namespace="production",
        kubeconfig_path="/etc/firebreak/kubeconfig",
        context="prod",
    )

    assert history[0] == HelmRevision(
        revision=1,
        updated="2026-11-30T01:00:00.000000001Z",
        status="superseded",
        chart="payments-1.4.0",
        app_version="1.4.0",
        description="Install complete",
    )
    assert [(r.revision, r.status) for r in history] == [
        (1, "superseded"),
        (2, "superseded"),
        (3, "deployed"),
    ]
    (argv,) = payments_release.calls
    assert argv == [
        "history",
        "--namespace=production",
        "--kubeconfig=/etc/firebreak/kubeconfig",
        "--kube-context=prod",
        "-o",
        "json",
        "--",
        "payments",
    ]


def test_rollback_writes_a_new_revision_from_the_chosen_one(payments_release):
    output = helm_rollback(release="payments", revision=2, namespace="production")

    assert "Rollback was a success" in output
    history = helm_history(release="payments", namespace="production")
    assert [(r.revision, r.status, r.chart, r.description) for r in history[-2:]] == [
        (3, "superseded", "payments-1.6.0", "Upgrade complete"),
        (4, "deployed", "payments-1.5.0", "Rollback to 2"),
    ]
    assert payments_release.calls[0][:2] == ["rollback", "--namespace=production"]
    assert payments_release.calls[0][-3:] == ["--", "payments", "2"]


def test_a_release_that_does_not_exist_is_not_found(payments_release):
    with pytest.raises(HelmReleaseNotFound):
        helm_history(release="payments", namespace="staging")
    with pytest.raises(HelmReleaseNotFound):
        helm_rollback(release="checkout", revision=1, namespace="production")


def test_a_revision_helm_does_not_have_is_helms_error(payments_release):
    with pytest.raises(HelmError) as refused:
        helm_rollback(release="payments", revision=9, namespace="production")

    assert str(refused.value) == "Error: release has no 9 version"
    assert len(payments_release.revisions("payments", namespace="production")) == 3


def test_other_failures_carry_the_last_line_of_stderr(payments_release):
    payments_release.fail(
        "rollback",
        "WARNING: Kubernetes configuration file is group-readable.\n"
        'Error: Kubernetes cluster unreachable: Get "https://10.0.0.1:6443/version": '
        "dial tcp 10.0.0.1:6443: connect: connection refused",
    )

    with pytest.raises(HelmError) as failed:
        helm_rollback(release="payments", revision=2, namespace="production")

    assert str(failed.value).startswith("Error: Kubernetes cluster unreachable")
    assert not isinstance(failed.value, HelmReleaseNotFound | HelmUnavailable)


def test_an_unknown_context_is_reported(payments_release):
    payments_release.set_contexts(["prod"])

    with pytest.raises(HelmError) as failed:
        helm_history(release="payments", namespace="production", context="staging")

    assert 'context "staging" does not exist' in str(failed.value)


def test_a_helm_that_hangs_times_out(payments_release):
    payments_release.sleep("history", 30)

    with pytest.raises(HelmTimeout):
        helm_history(release="payments", namespace="production", timeout=1)


def test_names_that_could_be_options_never_reach_helm(payments_release):
    with pytest.raises(HelmError):
        helm_history(release="--kubeconfig=/tmp/evil", namespace="production")
    with pytest.raises(HelmError):
        helm_rollback(release="payments", revision=2, namespace="-n")
    with pytest.raises(HelmError):
        helm_rollback(release="payments", revision=0, namespace="production")

    assert payments_release.calls == []


def test_without_helm_on_the_path_helm_is_unavailable(tmp_path, monkeypatch):
    empty = Path(tmp_path / "empty-bin")
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))

    assert not helm_available()
    with pytest.raises(HelmUnavailable):
        helm_history(release="payments", namespace="production")
    with pytest.raises(HelmUnavailable):
        helm_rollback(release="payments", revision=2, namespace="production")


def test_helm_is_available_with_the_fake_on_the_path(fake_helm):
    assert helm_available()
    assert os.environ["PATH"].startswith(str(fake_helm.bin_dir))
