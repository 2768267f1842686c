"""Jobs around GitOps: Argo CD auto-sync off first and its exact restore, Argo CD and Helm
rollbacks, ConfigMap restore from git, the emergency image pin and its follow-up action item."""

import subprocess

import pytest
import yaml

from incidents.policies import forget_holders
from incidents.runbooks.models import Job, KubernetesTarget, Runbook, RunbookFlag
from incidents.runbooks.services import runbook_flag
from incidents.services import incident_role_assign
from portal.errors import InvalidInputError
from postmortems.models import ActionItem

from .conftest import DEPLOYMENT, IMAGES, NS, applied_patches, child, job_events

State = Job.State
AUTOMATED = {"prune": True, "selfHeal": True, "allowEmpty": False}


def automated_of(fake, name="payments"):
    return fake.get("applications", "argocd", name)["spec"]["syncPolicy"].get("automated")


@pytest.fixture
def argo_target(target, k8s):
    k8s.add_namespace("argocd")
    k8s.add_application("argocd", "payments", automated=AUTOMATED)
    target.argo_application = "payments"
    target.argo_namespace = "argocd"
    target.save()
    return target


def test_auto_sync_goes_off_first_and_the_restore_puts_back_exactly_the_same_block(
    k8s, argo_target, request_job, confirm, incident
):
    job = confirm(request_job("rollback"))

    assert job.state == State.SUCCEEDED
    off = child(job, "argo_sync_off")
    assert off.state == State.SUCCEEDED
    assert off.output["previous_automated"] == AUTOMATED
    assert automated_of(k8s) is None
    # The Application was patched (merge patch) before the Deployment.
    writes = [r.path for r in k8s.writes() if r.query.get("dryRun") != "All"]
    assert "applications/payments" in writes[0] and "deployments/payments-api" in writes[1]
    assert k8s.requests_to("PATCH", "applications/payments")[0].content_type == (
        "application/merge-patch+json"
    )
    events = [message for _, message in job_events(incident)]
    assert any("Turning off Argo CD auto-sync of payments first" in m for m in events)

    # Someone sets a different block meanwhile; the restore puts back exactly the recorded one.
    restore = request_job("argo_sync_restore")
    assert restore.state == State.PREVIEW
    assert restore.pinned == {"automated": AUTOMATED, "off_job": off.pk}
    assert "selfHeal: true" in restore.preview["diff"]
    restore = confirm(restore)
    assert restore.state == State.SUCCEEDED
    assert automated_of(k8s) == AUTOMATED

    # Nothing is left to restore.
    again = request_job("argo_sync_restore")
    assert again.state == State.FAILED
    assert "Nothing to restore" in again.error


def test_a_second_change_does_not_lose_the_recorded_block(k8s, argo_target, request_job, confirm):
    confirm(request_job("rollback"))
    second = confirm(request_job("restart"))

    assert child(second, "argo_sync_off").output["previous_automated"] is None
    restore = confirm(request_job("argo_sync_restore"))
    assert restore.state == State.SUCCEEDED
    assert automated_of(k8s) == AUTOMATED


def test_a_crash_right_after_turning_auto_sync_off_still_restores_the_exact_block(
    k8s, argo_target, request_job, confirm, monkeypatch
):
    """The worker dies after Argo CD took the patch but before the block was recorded."""
    from incidents.runbooks.services import kinds

    real_apply = kinds.apply

    def apply_then_die(job, config):
        if job.kind == "argo_sync_off" and job.attempts == 1:
            real_apply(job, config)  # auto-sync is off in the cluster...
            raise SystemExit("worker killed")  # ...and nothing of it was recorded
        return real_apply(job, config)

    monkeypatch.setattr(kinds, "apply", apply_then_die)
    job = request_job("rollback")
    with pytest.raises(SystemExit):
        confirm(job)
    assert automated_of(k8s) is None

    job.refresh_from_db()
    job = confirm(job) if job.state == State.QUEUED else _rerun(job)

    off = child(job, "argo_sync_off")
    assert off.state == State.SUCCEEDED
    assert off.output["previous_automated"] == AUTOMATED
    restore = confirm(request_job("argo_sync_restore"))
    assert restore.state == State.SUCCEEDED
    assert automated_of(k8s) == AUTOMATED


def _rerun(job):
    from incidents.runbooks.services.jobs import job_run

    job_run(job_id=job.pk)  # the redelivered task
    job.refresh_from_db()
    return job


def test_the_job_fails_without_changes_when_auto_sync_cannot_be_turned_off(
    k8s, argo_target, request_job, confirm
):
    job = request_job("rollback")
    k8s.fail("PATCH", "applications/payments", 403)

    job = confirm(job)

    assert job.state == State.FAILED
    assert "auto-sync could not be turned off first, so nothing was changed" in job.error
    assert "may not patch applications.argoproj.io" in job.error
    assert not applied_patches(k8s)
    assert child(job, "argo_sync_off").state == State.FAILED


def test_argo_cd_rollback_through_its_api(k8s, argo_target, fake_argocd, request_job, confirm):
    fake_argocd.add_application("payments", revisions=["aaa111", "bbb222", "ccc333"])
    argo_target.argo_api_url = fake_argocd.base_url
    argo_target.argo_token_env = fake_argocd.token_env
    argo_target.save()

    job = request_job("argo_rollback", {"history_id": 1})

    assert job.state == State.PREVIEW
    assert "- revision ccc333" in job.preview["diff"] and "+ revision bbb222" in job.preview["diff"]
    job = confirm(job)
    assert job.state == State.SUCCEEDED, job.error
    assert automated_of(k8s) is None, "auto-sync went off first"
    (rollback,) = fake_argocd.called("POST", "/rollback")
    assert rollback.body["id"] == 1
    assert fake_argocd.applications["payments"].history[-1]["revision"] == "bbb222"


def test_argo_cd_rollback_to_the_live_entry_is_already_in_place(
    k8s, argo_target, fake_argocd, request_job
):
    fake_argocd.add_application("payments", revisions=["aaa111", "bbb222"])
    argo_target.argo_api_url = fake_argocd.base_url
    argo_target.argo_token_env = fake_argocd.token_env
    argo_target.save()

    job = request_job("argo_rollback", {"history_id": 1})

    assert job.state == State.FAILED
    assert "Already at that" in job.error


@pytest.fixture
def helm_target(target, fake_helm):
    fake_helm.add_release(
        "payments-api",
        namespace=NS,
        charts=[("payments-1.0.0", "1.0"), ("payments-1.1.0", "1.1"), ("payments-1.2.0", "1.2")],
    )
    target.helm_release = "payments-api"
    target.save()
    return target


def test_helm_rollback_through_the_helm_cli(k8s, helm_target, fake_helm, request_job, confirm):
    job = request_job("helm_rollback", {"revision": 2})

    assert job.state == State.PREVIEW
    assert "payments-1.1.0" in job.preview["diff"]
    job = confirm(job)
    assert job.state == State.SUCCEEDED, job.error
    rollbacks = [call for call in fake_helm.calls if call[0] == "rollback"]
    assert len(rollbacks) == 1 and rollbacks[0][-2:] == ["payments-api", "2"]
    assert fake_helm.revisions("payments-api", namespace=NS)[-1]["chart"] == "payments-1.1.0"
    assert child(job, "rollout_status").params == {"deployment": DEPLOYMENT}


def test_helm_rollback_is_unavailable_without_helm(k8s, target, incident, alice, monkeypatch):
    from incidents.runbooks.services import job_request
    from portal.integrations import helm

    target.helm_release = "payments-api"
    target.save()
    monkeypatch.setattr(helm, "helm_available", lambda: False)

    with pytest.raises(InvalidInputError, match="helm is not installed on the workers"):
        job_request(
            incident=incident,
            target=target,
            kind="helm_rollback",
            params={"revision": 1},
            actor=alice,
            request_key="00000000-0000-4000-8000-000000000001",
        )


def git(repository, *args):
    subprocess.run(
        [
            "git",
            "-C",
            str(repository),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            *args,
        ],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def manifests(tmp_path, target, k8s):
    repository = tmp_path / "deploy"
    repository.mkdir()
    git(repository, "init", "-q")
    path = repository / "k8s" / "production" / "configmap.yaml"
    path.parent.mkdir(parents=True)
    for data in ({"LOG_LEVEL": "info", "POOL": "10"}, {"LOG_LEVEL": "debug", "FEATURE_X": "on"}):
        manifest = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "payments-config", "namespace": NS},
            "data": data,
        }
        path.write_text(yaml.safe_dump(manifest))
        git(repository, "add", ".")
        git(repository, "commit", "-q", "-m", f"config {data['LOG_LEVEL']}")
    k8s.add_configmap(NS, "payments-config", {"LOG_LEVEL": "debug", "FEATURE_X": "on"})
    target.manifests_repository = str(repository)
    target.configmap_paths = ["k8s/production/configmap.yaml"]
    target.save()
    return target


def test_configmap_restore_from_a_git_revision(k8s, manifests, request_job, confirm):
    job = request_job("configmap_restore", {"revision": "HEAD~1"})

    assert job.state == State.PREVIEW, job.error
    assert "LOG_LEVEL: debug" in job.preview["diff"] and "LOG_LEVEL: info" in job.preview["diff"]
    assert k8s.get("configmaps", NS, "payments-config")["data"]["LOG_LEVEL"] == "debug"

    job = confirm(job)

    assert job.state == State.SUCCEEDED, job.error
    assert k8s.get("configmaps", NS, "payments-config")["data"] == {
        "LOG_LEVEL": "info",
        "POOL": "10",
    }


def test_configmap_restore_of_an_unknown_revision_says_so(k8s, manifests, request_job):
    job = request_job("configmap_restore", {"revision": "abcdef12"})

    assert job.state == State.FAILED
    assert job.error.startswith("Manifests repository:")


def test_image_pin_turns_auto_sync_off_and_opens_the_follow_up_for_the_requester(
    k8s, argo_target, request_job, confirm, incident, alice
):
    pinned = "registry.example.com/payments-api:sha-abc123"

    job = confirm(request_job("image_pin", {"image": pinned}))

    assert job.state == State.SUCCEEDED
    assert (
        k8s.get("deployments", NS, DEPLOYMENT)["spec"]["template"]["spec"]["containers"][0]["image"]
        == pinned
    )
    assert automated_of(k8s) is None
    item = ActionItem.objects.get(incident=incident)
    assert item.title == "Remove the image pin on payments-api and restore GitOps"
    assert item.owner == alice
    assert item.priority == "P2" and item.due_date is not None  # a pin is undone soon
    assert job.output["action_item_id"] == item.pk


def test_an_investigators_image_pin_gets_its_follow_up_too(
    k8s, target, request_job, confirm, incident, alice, bob
):
    incident_role_assign(incident=incident, actor=alice, role="investigator", user=bob)
    forget_holders(incident)

    job = confirm(request_job("image_pin", {"image": f"{IMAGES[0]}-pinned"}, actor=bob))

    assert job.state == State.SUCCEEDED
    item = ActionItem.objects.get(incident=incident)
    assert item.owner == bob


def test_a_responder_flags_a_runbook_from_the_incident(incident, bob):
    runbook = Runbook.objects.get(slug="all-pods-crashing")

    flag = runbook_flag(runbook=runbook, incident=incident, actor=bob, note="Add the Argo step")

    assert RunbookFlag.objects.get() == flag
    note = incident.timeline.filter(kind="note").last()
    assert note.message == "Runbook “All pods crashing” needs an update: Add the Argo step"
    assert note.actor == bob
    with pytest.raises(InvalidInputError):
        runbook_flag(runbook=runbook, incident=incident, actor=bob, note="  ")


def test_the_six_playbooks_are_seeded_with_their_jobs(db):
    runbooks = {runbook.slug: runbook for runbook in Runbook.objects.all()}

    assert [runbook.title for runbook in Runbook.objects.all()] == [
        "First 5 minutes of a P1",
        "All pods crashing",
        "Service traffic dropped to zero",
        "Node group failure",
        "etcd / API server issues",
        "Rollback procedures",
    ]
    first = runbooks["first-5-minutes-p1"]
    assert first.suggest_for_all and first.jobs == ["diagnostics", "control_plane"]
    assert "```" in runbooks["node-group-failure"].guidance
    assert "aws autoscaling describe-auto-scaling-groups" in runbooks["node-group-failure"].guidance
    for runbook in runbooks.values():
        runbook.full_clean()


def test_a_target_without_argo_cannot_restore_auto_sync(target, incident, alice):
    from incidents.runbooks.services import job_request

    assert isinstance(target, KubernetesTarget)
    with pytest.raises(InvalidInputError, match="not managed by Argo CD"):
        job_request(
            incident=incident,
            target=target,
            kind="argo_sync_restore",
            params={},
            actor=alice,
            request_key="00000000-0000-4000-8000-000000000002",
        )


def test_a_helm_rollback_that_outlives_its_timeout_is_read_back_from_the_history(
    k8s, helm_target, fake_helm, request_job, confirm, monkeypatch
):
    from portal.integrations import helm

    job = request_job("helm_rollback", {"revision": 1})
    real_rollback = helm.helm_rollback

    def rollback_then_time_out(**kwargs):
        real_rollback(**kwargs)
        raise helm.HelmTimeout("helm rollback did not finish within 300s")

    monkeypatch.setattr(helm, "helm_rollback", rollback_then_time_out)

    job = confirm(job)

    assert job.state == State.SUCCEEDED
    assert job.output == {"reconciled": True}
    assert fake_helm.revisions("payments-api", namespace=NS)[-1]["chart"] == "payments-1.0.0"
