"""The Kubernetes adapter through the real `kubernetes` client against the local fake API server."""

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from portal.integrations import kubernetes as k8s
from portal.integrations.kubernetes.client import _session
from tests.fakes.kubernetes import HASH_LABEL, LAST_APPLIED, REVISION

NS = "production"
DEP = "payments-api"
LAST_APPLIED_VALUE = (
    '{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"payments-api"}}'
)


def image(tag: str) -> str:
    return f"registry.example.com/payments-api:{tag}"


def seed_payments(fake, **kwargs):
    """payments-api at revision 3 (v3), with v1 and v2 before it, as `kubectl apply` left it."""
    options = {
        "image": image("v3"),
        "revisions": [image("v1"), image("v2")],
        "annotations": {LAST_APPLIED: LAST_APPLIED_VALUE, "team": "payments"},
        "change_causes": ["deploy v1", "deploy v2", "deploy v3"],
    }
    options.update(kwargs)
    return fake.add_deployment(NS, DEP, **options)


def live_image(fake) -> str:
    return fake.get("deployments", NS, DEP)["spec"]["template"]["spec"]["containers"][0]["image"]


def replicaset_of(fake, revision: int) -> dict:
    return next(
        rs
        for rs in fake.items("replicasets", NS)
        if rs["metadata"]["annotations"][REVISION] == str(revision)
    )


# --- Rollback ------------------------------------------------------------------------------------


def test_rollback_goes_to_the_previous_revision_with_kubectls_exact_json_patch(fake_kubernetes):
    fake, cluster = fake_kubernetes
    deployment = seed_payments(fake)
    pinned = deployment["metadata"]["resourceVersion"]
    v2 = replicaset_of(fake, 2)

    plan = k8s.rollback_plan(cluster, namespace=NS, deployment=DEP)
    assert (plan.revision, plan.patch_type, plan.resource_version) == (2, "json", pinned)
    assert plan.data["images"] == [image("v2")]
    assert "-      - image: registry.example.com/payments-api:v3\n" in plan.diff
    assert "+      - image: registry.example.com/payments-api:v2\n" in plan.diff
    fake.requests.clear()

    result = k8s.plan_apply(cluster, plan)

    [sent] = fake.writes()
    assert (sent.method, sent.path) == ("PATCH", f"/apis/apps/v1/namespaces/{NS}/deployments/{DEP}")
    assert sent.content_type == "application/json-patch+json"
    assert "dryRun" not in sent.query
    expected_template = json.loads(json.dumps(v2["spec"]["template"]))
    del expected_template["metadata"]["labels"][HASH_LABEL]
    assert sent.body == [
        {"op": "replace", "path": "/metadata/resourceVersion", "value": pinned},
        {"op": "replace", "path": "/spec/template", "value": expected_template},
        {
            "op": "replace",
            "path": "/metadata/annotations",
            "value": {
                LAST_APPLIED: LAST_APPLIED_VALUE,
                REVISION: "3",
                "team": "payments",
                "kubernetes.io/change-cause": "deploy v2",
            },
        },
    ]
    assert live_image(fake) == image("v2")
    assert result["images"] == [image("v2")]
    # The controller turned revision 2 into revision 4, as after a real `rollout undo`.
    history = k8s.rollout_history(cluster, namespace=NS, deployment=DEP)
    assert [(r.number, r.images, r.current) for r in history] == [
        (1, [image("v1")], False),
        (3, [image("v3")], False),
        (4, [image("v2")], True),
    ]


def test_rollback_carries_annotations_exactly_as_kubectl(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_payments(fake)
    # The ReplicaSet of revision 2 carries an annotation of its own plus controller bookkeeping.
    v2 = replicaset_of(fake, 2)
    v2["metadata"]["annotations"].update(
        {"only-on-revision-2": "kept", "deployment.kubernetes.io/revision-history": "1"}
    )
    fake.put("replicasets", v2)
    # The Deployment gained annotations since: its own kept ones survive, the rest do not.
    deployment = fake.get("deployments", NS, DEP)
    deployment["metadata"]["annotations"].update(
        {"added-after-revision-2": "dropped", "deployment.kubernetes.io/max-replicas": "5"}
    )
    fake.put("deployments", deployment)

    plan = k8s.rollback_plan(cluster, namespace=NS, deployment=DEP)

    annotations = next(op["value"] for op in plan.patch if op["path"] == "/metadata/annotations")
    assert annotations == {
        # kept from the Deployment
        LAST_APPLIED: LAST_APPLIED_VALUE,
        REVISION: "3",
        "deployment.kubernetes.io/max-replicas": "5",
        # everything else from the ReplicaSet, without its desired/max-replicas and history
        "team": "payments",
        "kubernetes.io/change-cause": "deploy v2",
        "only-on-revision-2": "kept",
    }
    k8s.plan_apply(cluster, plan)
    stored = fake.get("deployments", NS, DEP)["metadata"]["annotations"]
    assert "added-after-revision-2" not in stored
    assert stored["only-on-revision-2"] == "kept"


def test_rollback_to_a_chosen_revision(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_payments(fake)

    plan = k8s.rollback_plan(cluster, namespace=NS, deployment=DEP, to_revision=1)
    assert plan.revision == 1
    assert "--to-revision=1" in plan.summary
    k8s.plan_apply(cluster, plan)

    assert live_image(fake) == image("v1")


def test_rollback_to_a_revision_not_in_history_is_refused(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_payments(fake)

    with pytest.raises(k8s.RevisionNotFound) as refused:
        k8s.rollback_plan(cluster, namespace=NS, deployment=DEP, to_revision=7)

    assert refused.value.revision == 7
    assert str(refused.value) == "unable to find specified revision 7 in history"
    assert fake.writes() == []


def test_rollback_without_history_is_refused(fake_kubernetes):
    fake, cluster = fake_kubernetes
    fake.add_deployment(NS, DEP, image=image("v1"))

    with pytest.raises(
        k8s.NoRolloutHistory, match='no rollout history found for deployment "payments-api"'
    ):
        k8s.rollback_plan(cluster, namespace=NS, deployment=DEP)
    assert fake.writes() == []


def test_rollback_of_a_paused_deployment_is_refused(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_payments(fake, paused=True)

    with pytest.raises(k8s.RolloutPaused, match="cannot rollback a paused deployment"):
        k8s.rollback_plan(cluster, namespace=NS, deployment=DEP)
    assert fake.writes() == []


def test_rollback_to_the_current_template_is_skipped(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_payments(fake)

    with pytest.raises(k8s.AlreadyInPlace, match="current template already matches revision 3"):
        k8s.rollback_plan(cluster, namespace=NS, deployment=DEP, to_revision=3)
    assert fake.writes() == []


def test_rollback_ignores_replicasets_another_deployment_controls(fake_kubernetes):
    fake, cluster = fake_kubernetes
    fake.add_deployment(NS, DEP, image=image("v2"), revisions=[image("v1")])
    # Same labels, so the selector lists it, but the canary Deployment controls it.
    fake.add_replicaset(
        NS,
        "payments-api-canary-7d9f",
        owner="payments-api-canary",
        revision=9,
        image=image("canary"),
        labels={"app": DEP},
    )
    fake.add_replicaset(
        NS,
        "payments-api-orphan",
        owner=None,
        revision=8,
        image=image("orphan"),
        labels={"app": DEP},
    )

    history = k8s.rollout_history(cluster, namespace=NS, deployment=DEP)
    plan = k8s.rollback_plan(cluster, namespace=NS, deployment=DEP)

    assert [r.number for r in history] == [1, 2]
    assert (plan.revision, plan.data["images"]) == (1, [image("v1")])
    with pytest.raises(k8s.RevisionNotFound):
        k8s.rollback_plan(cluster, namespace=NS, deployment=DEP, to_revision=9)


def test_rollback_preview_is_a_server_side_dry_run_that_stores_nothing(fake_kubernetes):
    fake, cluster = fake_kubernetes
    before = seed_payments(fake)

    k8s.rollback_plan(cluster, namespace=NS, deployment=DEP)

    [dry_run] = fake.writes()
    assert (dry_run.method, dry_run.query.get("dryRun")) == ("PATCH", "All")
    after = fake.get("deployments", NS, DEP)
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    assert live_image(fake) == image("v3")
    assert len(fake.items("replicasets", NS)) == 3


def test_rollback_after_the_deployment_changed_since_the_preview_is_a_conflict(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_payments(fake)
    plan = k8s.rollback_plan(cluster, namespace=NS, deployment=DEP)
    # Someone scales the Deployment between preview and confirm.
    changed = fake.get("deployments", NS, DEP)
    changed["spec"]["replicas"] = 5
    fake.put("deployments", changed)

    with pytest.raises(k8s.KubernetesConflict, match="changed since the preview") as conflict:
        k8s.plan_apply(cluster, plan)

    assert conflict.value.status == 409
    assert live_image(fake) == image("v3")


def test_status_writes_after_the_preview_do_not_stop_the_change(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_payments(fake)
    plan = k8s.rollback_plan(cluster, namespace=NS, deployment=DEP)
    # A crash loop: the controller keeps writing the status, spec untouched.
    fake.status_write(NS, DEP)
    fake.crash_loop(NS, DEP, writes=2)

    k8s.plan_apply(cluster, plan)

    assert live_image(fake) == image("v2")


def test_a_spec_change_after_the_preview_names_what_changed(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_payments(fake)
    plan = k8s.restart_plan(cluster, namespace=NS, deployment=DEP, at=datetime.now(UTC))
    changed = fake.get("deployments", NS, DEP)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = image("v4")
    fake.put("deployments", changed)

    with pytest.raises(
        k8s.TargetChanged, match=r"changed since the preview \(its spec was changed"
    ):
        k8s.plan_apply(cluster, plan)

    assert live_image(fake) == image("v4")


@pytest.mark.parametrize("hang", [None, 2.0])
def test_a_change_whose_answer_is_lost_is_outcome_unknown_not_unreachable(fake_kubernetes, hang):
    fake, cluster = fake_kubernetes
    seed_payments(fake)
    plan = k8s.restart_plan(cluster, namespace=NS, deployment=DEP, at=datetime.now(UTC))
    fake.lose_answer("PATCH", f"deployments/{DEP}", hang=hang)

    with pytest.raises(k8s.KubernetesOutcomeUnknown, match="may have been applied"):
        k8s.plan_apply(dataclasses.replace(cluster, request_timeout=0.5), plan)

    assert k8s.plan_in_place(cluster, plan), "it was applied all the same"


def test_a_change_that_could_not_be_sent_is_plainly_unreachable(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_payments(fake)
    plan = k8s.restart_plan(cluster, namespace=NS, deployment=DEP, at=datetime.now(UTC))
    fake.down()

    with pytest.raises(k8s.KubernetesUnreachable, match="connection refused") as failed:
        k8s.plan_apply(cluster, plan)

    assert not isinstance(failed.value, k8s.KubernetesOutcomeUnknown)


def test_a_retried_rollback_finds_itself_in_place(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_payments(fake)
    plan = k8s.plan_from_dict(
        json.loads(
            json.dumps(k8s.plan_to_dict(k8s.rollback_plan(cluster, namespace=NS, deployment=DEP)))
        )
    )
    assert not k8s.plan_in_place(cluster, plan)

    k8s.plan_apply(cluster, plan)

    assert k8s.plan_in_place(cluster, plan)


# --- Restart, image pin, rollout status ----------------------------------------------------------


def test_restart_patches_restarted_at_by_strategic_merge(fake_kubernetes):
    fake, cluster = fake_kubernetes
    deployment = seed_payments(fake)
    at = datetime(2025, 3, 1, 12, 30, 5, 123456, tzinfo=UTC)

    plan = k8s.restart_plan(cluster, namespace=NS, deployment=DEP, at=at)
    assert not k8s.plan_in_place(cluster, plan)
    fake.requests.clear()
    k8s.plan_apply(cluster, plan)

    [sent] = fake.writes()
    assert sent.content_type == "application/strategic-merge-patch+json"
    assert sent.body == {
        "metadata": {"resourceVersion": deployment["metadata"]["resourceVersion"]},
        "spec": {
            "template": {
                "metadata": {
                    "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-03-01T12:30:05Z"}
                }
            }
        },
    }
    template = fake.get("deployments", NS, DEP)["spec"]["template"]
    assert template["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] == (
        "2025-03-01T12:30:05Z"
    )
    assert template["spec"]["containers"][0]["image"] == image("v3")
    assert k8s.plan_in_place(cluster, plan)


def test_restart_of_a_paused_deployment_is_refused(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_payments(fake, paused=True)

    with pytest.raises(k8s.RolloutPaused, match="can't restart paused deployment"):
        k8s.restart_plan(cluster, namespace=NS, deployment=DEP, at=datetime.now(UTC))


def test_image_pin_sets_one_container_by_name(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_payments(fake)

    plan = k8s.image_pin_plan(
        cluster, namespace=NS, deployment=DEP, container=DEP, image=image("sha-abc123")
    )
    k8s.plan_apply(cluster, plan)

    sent = fake.writes()[-1]
    assert sent.body["spec"] == {
        "template": {"spec": {"containers": [{"name": DEP, "image": image("sha-abc123")}]}}
    }
    container = fake.get("deployments", NS, DEP)["spec"]["template"]["spec"]["containers"][0]
    # Strategic merge by name: only the image changed.
    assert container["image"] == image("sha-abc123")
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert plan.data["previous_image"] == image("v3")
    assert k8s.plan_in_place(cluster, plan)


def test_image_pin_refuses_an_unknown_container_and_a_no_op(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_payments(fake)

    with pytest.raises(k8s.KubernetesInvalid, match='unable to find container named "sidecar"'):
        k8s.image_pin_plan(cluster, namespace=NS, deployment=DEP, container="sidecar", image="x:1")
    with pytest.raises(k8s.AlreadyInPlace):
        k8s.image_pin_plan(cluster, namespace=NS, deployment=DEP, container=DEP, image=image("v3"))


def test_rollout_status_follows_the_rollout_like_kubectl(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_payments(fake)
    k8s.plan_apply(cluster, k8s.rollback_plan(cluster, namespace=NS, deployment=DEP))

    def status():
        return k8s.rollout_status(cluster, namespace=NS, deployment=DEP)

    assert status() == k8s.RolloutStatus(
        False,
        False,
        'Waiting for deployment "payments-api" rollout to finish: 0 out of 3 new replicas have '
        "been updated...",
    )
    generation = fake.get("deployments", NS, DEP)["metadata"]["generation"]
    fake.set_rollout(
        NS, DEP, updated=3, available=3, replicas=3, observed_generation=generation - 1
    )
    assert status().message == "Waiting for deployment spec update to be observed..."
    fake.set_rollout(NS, DEP, updated=3, available=3, replicas=4)
    assert status().message.endswith("1 old replicas are pending termination...")
    fake.set_rollout(NS, DEP, updated=3, available=1, replicas=3)
    assert status().message.endswith("1 of 3 updated replicas are available...")
    fake.set_rollout(NS, DEP, updated=3, available=3, replicas=3)
    assert status() == k8s.RolloutStatus(
        True, False, 'deployment "payments-api" successfully rolled out'
    )


def test_rollout_status_fails_past_the_progress_deadline(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_payments(fake)
    fake.set_rollout(
        NS, DEP, updated=1, available=0, replicas=3, progressing_reason="ProgressDeadlineExceeded"
    )

    status = k8s.rollout_status(cluster, namespace=NS, deployment=DEP)

    assert (status.done, status.failed) == (False, True)
    assert status.message == 'deployment "payments-api" exceeded its progress deadline'


# --- Argo CD auto-sync -------------------------------------------------------------------------


def test_argo_autosync_off_and_exact_restore(fake_kubernetes):
    fake, cluster = fake_kubernetes
    automated = {"prune": True, "selfHeal": True, "allowEmpty": False}
    fake.add_application("argocd", DEP, automated=automated)

    previous = k8s.argo_autosync_off(cluster, namespace="argocd", application=DEP)

    assert previous == automated
    [sent] = fake.writes()
    assert sent.content_type == "application/merge-patch+json"
    assert sent.body == {"spec": {"syncPolicy": {"automated": None}}}
    policy = fake.get("applications", "argocd", DEP)["spec"]["syncPolicy"]
    assert "automated" not in policy
    assert policy["syncOptions"] == ["CreateNamespace=true"]
    # Already off: nothing to record, nothing sent.
    assert k8s.argo_autosync_off(cluster, namespace="argocd", application=DEP) is None
    assert len(fake.writes()) == 1

    # Meanwhile someone turned on a different policy; the restore puts back exactly ours.
    app = fake.get("applications", "argocd", DEP)
    app["spec"]["syncPolicy"]["automated"] = {"selfHeal": False, "enabled": True}
    fake.put("applications", app)
    k8s.argo_autosync_restore(cluster, namespace="argocd", application=DEP, automated=previous)

    assert fake.get("applications", "argocd", DEP)["spec"]["syncPolicy"]["automated"] == automated


def test_argo_restore_of_an_empty_automated_block(fake_kubernetes):
    fake, cluster = fake_kubernetes
    fake.add_application("argocd", DEP, automated={})

    previous = k8s.argo_autosync_off(cluster, namespace="argocd", application=DEP)
    assert previous == {}  # `automated: {}` is auto-sync on with defaults, not "off"
    k8s.argo_autosync_restore(cluster, namespace="argocd", application=DEP, automated=previous)

    assert fake.get("applications", "argocd", DEP)["spec"]["syncPolicy"]["automated"] == {}


def test_a_wrong_patch_content_type_gets_415_from_the_api(fake_kubernetes):
    fake, cluster = fake_kubernetes
    fake.add_application("argocd", DEP)

    # Strategic merge is what the client sends for a dict by default; CRDs refuse it.
    with _session(cluster) as session, pytest.raises(k8s.KubernetesInvalid) as refused:
        session.call(
            session.custom.patch_namespaced_custom_object,
            "argoproj.io",
            "v1alpha1",
            "argocd",
            "applications",
            DEP,
            {"spec": {"syncPolicy": {"automated": None}}},
            _content_type="application/strategic-merge-patch+json",
            what=("patch", "applications.argoproj.io", "argocd", DEP),
        )

    assert refused.value.status == 415
    assert "application/merge-patch+json" in str(refused.value)
    assert fake.get("applications", "argocd", DEP)["spec"]["syncPolicy"]["automated"]


# --- Nodes and ConfigMaps ------------------------------------------------------------------------


def test_delete_node_preview_lists_the_pods_that_reschedule_then_deletes(fake_kubernetes):
    fake, cluster = fake_kubernetes
    fake.add_node("ip-10-0-1-5", ready="Unknown")
    fake.add_node("ip-10-0-1-6")
    fake.add_pod(
        NS, "payments-api-6b7f-abcde", node="ip-10-0-1-5", owner=("ReplicaSet", "payments-api-6b7f")
    )
    fake.add_pod(
        "kube-system", "kube-proxy-x1", node="ip-10-0-1-5", owner=("DaemonSet", "kube-proxy")
    )
    fake.add_pod(NS, "debug-shell", node="ip-10-0-1-5")
    fake.add_pod(NS, "payments-api-6b7f-fghij", node="ip-10-0-1-6")

    plan = k8s.delete_node_plan(cluster, node="ip-10-0-1-5")

    pods = {(p["namespace"], p["name"]): p["reschedules"] for p in plan.data["pods"]}
    assert pods == {
        (NS, "payments-api-6b7f-abcde"): True,
        ("kube-system", "kube-proxy-x1"): False,
        (NS, "debug-shell"): False,
    }
    assert "3 pods on it, 1 reschedule elsewhere, 2 will not come back" in plan.summary
    assert "- pod production/debug-shell" in plan.diff
    [dry_run] = fake.writes()
    assert (dry_run.method, dry_run.query.get("dryRun")) == ("DELETE", "All")
    assert fake.get("nodes", "", "ip-10-0-1-5") is not None

    node = fake.get("nodes", "", "ip-10-0-1-5")
    fake.requests.clear()
    k8s.plan_apply(cluster, plan)

    [sent] = fake.writes()
    assert (sent.method, sent.path, sent.query) == ("DELETE", "/api/v1/nodes/ip-10-0-1-5", {})
    assert sent.body["preconditions"] == {
        "uid": node["metadata"]["uid"],
        "resourceVersion": node["metadata"]["resourceVersion"],
    }
    assert fake.get("nodes", "", "ip-10-0-1-5") is None
    assert fake.get("nodes", "", "ip-10-0-1-6") is not None
    assert k8s.plan_in_place(cluster, plan)


def test_configmap_plan_diffs_the_data_and_apply_restores_it(fake_kubernetes):
    fake, cluster = fake_kubernetes
    live = fake.add_configmap(
        NS, "payments-config", {"LOG_LEVEL": "debug", "POOL_SIZE": "10", "NEW_FLAG": "on"}
    )
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "payments-config", "namespace": NS},
        "data": {"LOG_LEVEL": "info", "POOL_SIZE": "10", "RETRIES": "3"},
    }

    plan = k8s.configmap_plan(cluster, namespace=NS, manifest=manifest)

    assert "-  LOG_LEVEL: debug\n" in plan.diff
    assert "+  LOG_LEVEL: info\n" in plan.diff
    assert "-  NEW_FLAG: on\n" in plan.diff or "-  NEW_FLAG: 'on'\n" in plan.diff
    assert "+  RETRIES: '3'\n" in plan.diff
    assert fake.get("configmaps", NS, "payments-config")["data"]["LOG_LEVEL"] == "debug"
    assert not k8s.plan_in_place(cluster, plan)
    fake.requests.clear()

    k8s.plan_apply(cluster, plan)

    [sent] = fake.writes()
    assert sent.content_type == "application/merge-patch+json"
    assert sent.body == {
        "metadata": {"resourceVersion": live["metadata"]["resourceVersion"]},
        "data": {"NEW_FLAG": None, "LOG_LEVEL": "info", "POOL_SIZE": "10", "RETRIES": "3"},
    }
    assert fake.get("configmaps", NS, "payments-config")["data"] == manifest["data"]
    assert k8s.plan_in_place(cluster, plan)
    with pytest.raises(k8s.AlreadyInPlace):
        k8s.configmap_plan(cluster, namespace=NS, manifest=manifest)


def test_configmap_changed_since_the_preview_is_a_conflict(fake_kubernetes):
    fake, cluster = fake_kubernetes
    fake.add_configmap(NS, "payments-config", {"LOG_LEVEL": "debug"})
    manifest = {
        "kind": "ConfigMap",
        "metadata": {"name": "payments-config"},
        "data": {"LOG_LEVEL": "info"},
    }
    plan = k8s.configmap_plan(cluster, namespace=NS, manifest=manifest)
    fake.add_configmap(NS, "payments-config", {"LOG_LEVEL": "trace"})

    with pytest.raises(k8s.KubernetesConflict):
        k8s.plan_apply(cluster, plan)
    assert fake.get("configmaps", NS, "payments-config")["data"] == {"LOG_LEVEL": "trace"}


def test_a_missing_configmap_is_created(fake_kubernetes):
    fake, cluster = fake_kubernetes
    manifest = {"kind": "ConfigMap", "metadata": {"name": "payments-config"}, "data": {"A": "1"}}

    plan = k8s.configmap_plan(cluster, namespace=NS, manifest=manifest)
    assert fake.get("configmaps", NS, "payments-config") is None
    k8s.plan_apply(cluster, plan)

    assert fake.get("configmaps", NS, "payments-config")["data"] == {"A": "1"}


# --- Reads ---------------------------------------------------------------------------------------


def seed_incident(fake):
    """A namespace in trouble: a crash-looping pod, a pending one, a dead node."""
    fake.add_node("ip-10-0-1-5", ready=False, roles=("worker",), internal_ip="10.0.1.5")
    fake.add_node("ip-10-0-1-6", internal_ip="10.0.1.6", usage_cpu="1500m", usage_memory="4Gi")
    labels = {"app": DEP}
    fake.add_pod(NS, "payments-api-6b7f-aaaaa", labels=labels, node="ip-10-0-1-6")
    fake.add_pod(
        NS,
        "payments-api-6b7f-bbbbb",
        labels=labels,
        node="ip-10-0-1-6",
        waiting_reason="CrashLoopBackOff",
        restarts=7,
        ready=False,
    )
    fake.add_pod(NS, "payments-api-6b7f-ccccc", labels=labels, node="ip-10-0-1-5")
    fake.add_pod(NS, "payments-worker-1", labels={"app": "payments-worker"}, phase="Pending")
    fake.add_pod(NS, "nightly-report-1", phase="Succeeded")
    fake.add_pod(
        "search", "search-api-1", waiting_reason="CrashLoopBackOff", restarts=3, ready=False
    )
    fake.add_event(
        NS,
        reason="Scheduled",
        message="assigned",
        involved_name="payments-worker-1",
        type="Normal",
        last_timestamp="2025-03-01T12:00:00Z",
    )
    fake.add_event(
        NS,
        reason="BackOff",
        message="Back-off restarting failed container",
        involved_name="payments-api-6b7f-bbbbb",
        last_timestamp="2025-03-01T12:05:00Z",
    )
    fake.add_event(
        NS,
        reason="FailedScheduling",
        message="0/2 nodes are available",
        involved_name="payments-worker-1",
        last_timestamp="2025-03-01T12:03:00Z",
    )
    fake.add_endpoint_slice(
        NS,
        DEP,
        endpoints=[
            {
                "ip": "10.244.1.2",
                "ready": True,
                "pod": "payments-api-6b7f-aaaaa",
                "node": "ip-10-0-1-6",
            },
            {
                "ip": "10.244.1.3",
                "ready": False,
                "pod": "payments-api-6b7f-bbbbb",
                "node": "ip-10-0-1-6",
            },
        ],
    )
    fake.add_endpoint_slice(NS, "other-service", endpoints=[{"ip": "10.244.9.9"}])
    fake.add_network_policy(
        NS, "deny-all-ingress", created="2025-01-10T09:00:00Z", changed="2025-03-01T11:58:00Z"
    )


def test_diagnostics_snapshot_holds_the_first_five_minutes(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_incident(fake)

    snapshot = k8s.diagnostics_snapshot(
        cluster, namespace=NS, pod_selector=f"app={DEP}", service_name=DEP, events_limit=2
    )

    json.dumps(snapshot)  # stored as-is on the job
    assert {(p["name"], p["status"]) for p in snapshot["pods_not_running"]} == {
        ("payments-api-6b7f-bbbbb", "CrashLoopBackOff"),
        ("payments-worker-1", "Pending"),
    }
    assert [(e["reason"], e["object"]) for e in snapshot["events"]] == [
        ("FailedScheduling", "Pod/payments-worker-1"),
        ("BackOff", "Pod/payments-api-6b7f-bbbbb"),
    ]
    nodes = {n["name"]: n for n in snapshot["nodes"]}
    assert (nodes["ip-10-0-1-5"]["ready"], nodes["ip-10-0-1-5"]["status"]) == (False, "NotReady")
    assert nodes["ip-10-0-1-6"]["internal_ip"] == "10.0.1.6"
    assert nodes["ip-10-0-1-6"]["roles"] == ["worker"]
    assert nodes["ip-10-0-1-6"]["kubelet_version"] == "v1.33.1"
    usage = {u["name"]: u for u in snapshot["node_usage"]}
    assert usage["ip-10-0-1-6"] | {"window": ""} == {
        "name": "ip-10-0-1-6",
        "cpu": "1500m",
        "cpu_percent": 38,
        "memory": "4096Mi",
        "memory_percent": 25,
        "window": "",
    }
    [endpoint_slice] = snapshot["endpoint_slices"]
    assert (endpoint_slice["ready_count"], endpoint_slice["endpoint_count"]) == (1, 2)
    assert {p["name"] for p in snapshot["service_pods"]} == {
        "payments-api-6b7f-aaaaa",
        "payments-api-6b7f-bbbbb",
        "payments-api-6b7f-ccccc",
    }
    [policy] = snapshot["network_policies"]
    assert (policy["name"], policy["created"], policy["last_changed"]) == (
        "deny-all-ingress",
        "2025-01-10T09:00:00Z",
        "2025-03-01T11:58:00Z",
    )
    assert {(p["namespace"], p["name"]) for p in snapshot["crash_looping"]} == {
        (NS, "payments-api-6b7f-bbbbb"),
        ("search", "search-api-1"),
    }
    assert [p["name"] for p in snapshot["pods_on_not_ready_nodes"]] == ["payments-api-6b7f-ccccc"]
    assert snapshot["taken_at"].endswith("Z")
    assert not [key for key in snapshot if key.endswith("_error")]


def test_diagnostics_snapshot_without_metrics_and_without_cluster_wide_pods(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_incident(fake)
    fake.metrics_available = False
    fake.fail("GET", "/api/v1/pods", 403, times=None)  # may list pods in its namespace only

    snapshot = k8s.diagnostics_snapshot(cluster, namespace=NS, service_name=DEP)

    assert snapshot["node_usage"] is None
    assert "metrics.k8s.io is not available" in snapshot["node_usage_note"]
    assert snapshot["crash_looping"] is None
    assert snapshot["crash_looping_error"] == (
        "Forbidden: the workers' account may not list pods at the cluster scope."
    )
    # Still useful: its own namespace's pods on the dead node, the rest of the snapshot.
    assert [p["name"] for p in snapshot["pods_on_not_ready_nodes"]] == ["payments-api-6b7f-ccccc"]
    assert "Only namespace production is shown" in snapshot["pods_on_not_ready_nodes_error"]
    assert len(snapshot["pods_not_running"]) == 2
    assert snapshot["service_pods"] is None


def test_diagnostics_snapshot_fails_when_nothing_can_be_read(fake_kubernetes):
    fake, cluster = fake_kubernetes
    fake.fail("GET", "/", 403, times=None)

    with pytest.raises(k8s.KubernetesForbidden, match="may not list pods in namespace production"):
        k8s.diagnostics_snapshot(cluster, namespace=NS)


def test_pod_detail_shows_the_last_termination_events_and_previous_log_tail(fake_kubernetes):
    fake, cluster = fake_kubernetes
    previous_log = (
        "".join(f"line {n}\n" for n in range(1, 61)) + "panic: config key DB_URL missing\n"
    )
    fake.add_pod(
        NS,
        "payments-api-6b7f-bbbbb",
        containers=[DEP, "envoy"],
        waiting_reason="CrashLoopBackOff",
        restarts=7,
        ready=False,
        last_termination={"reason": "Error", "exitCode": 2, "finishedAt": "2025-03-01T12:04:00Z"},
        previous_logs={DEP: previous_log},
    )
    fake.add_event(
        NS,
        reason="BackOff",
        message="Back-off restarting failed container",
        involved_name="payments-api-6b7f-bbbbb",
    )
    fake.add_event(
        NS, reason="Pulled", message="other pod", involved_name="payments-api-6b7f-aaaaa"
    )

    detail = k8s.pod_detail(cluster, namespace=NS, pod="payments-api-6b7f-bbbbb", tail_lines=3)

    json.dumps(detail)
    containers = {c["name"]: c for c in detail["containers"]}
    assert containers[DEP]["previous_log"] == "line 59\nline 60\npanic: config key DB_URL missing\n"
    assert containers[DEP]["last_termination"]["exit_code"] == 2
    assert containers[DEP]["reason"] == "CrashLoopBackOff"
    # The sidecar has no previous instance in the fake's logs: noted, not fatal.
    assert containers["envoy"]["previous_log"] is None
    assert 'previous terminated container "envoy"' in containers["envoy"]["previous_log_error"]
    assert detail["last_termination"]["reason"] == "Error"
    assert [e["reason"] for e in detail["events"]] == ["BackOff"]
    log_request = fake.requests_to("GET", "/log")[0]
    assert log_request.query == {"container": DEP, "previous": "true", "tailLines": "3"}


def test_control_plane_check(fake_kubernetes):
    fake, cluster = fake_kubernetes
    fake.add_control_plane("cp-1")

    healthy = k8s.control_plane_check(cluster)
    assert healthy.ok and healthy.error == ""
    assert "readyz check passed" in healthy.readyz
    assert {p["component"] for p in healthy.pods} == {
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
    }

    fake.set_readyz(False, failing=["etcd"])
    failing = k8s.control_plane_check(cluster)
    assert not failing.ok
    assert "[-]etcd failed" in failing.readyz
    assert failing.error == "/readyz failed (500): etcd not ready."

    fake.down()
    down = k8s.control_plane_check(cluster)
    assert not down.ok
    assert down.error.startswith("Cannot reach the Kubernetes API at http://127.0.0.1:")
    assert "connection refused" in down.error


# --- Failures ----------------------------------------------------------------------------------


def test_unauthorized(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_payments(fake)
    fake.fail("*", "/apis/apps", 401)

    with pytest.raises(k8s.KubernetesUnauthorized) as refused:
        k8s.rollout_history(cluster, namespace=NS, deployment=DEP)
    assert refused.value.status == 401


def test_forbidden_names_the_missing_verb_and_resource(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_payments(fake)
    fake.fail("PATCH", f"deployments/{DEP}", 403)

    with pytest.raises(k8s.KubernetesForbidden) as refused:
        k8s.rollback_plan(cluster, namespace=NS, deployment=DEP)

    error = refused.value
    assert str(error) == (
        "Forbidden: the workers' account may not patch deployments.apps in namespace production."
    )
    assert (error.verb, error.resource, error.namespace, error.status) == (
        "patch",
        "deployments.apps",
        NS,
        403,
    )
    assert error.user == "system:serviceaccount:ops:firebreak"


def test_not_found(fake_kubernetes):
    _fake, cluster = fake_kubernetes

    with pytest.raises(k8s.KubernetesNotFound, match=r'deployments\.apps "nope" not found'):
        k8s.rollback_plan(cluster, namespace=NS, deployment="nope")


def test_server_error(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_payments(fake)
    fake.fail("GET", f"deployments/{DEP}", 500)

    with pytest.raises(k8s.KubernetesError) as failed:
        k8s.rollout_status(cluster, namespace=NS, deployment=DEP)
    assert failed.value.status == 500
    assert type(failed.value) is k8s.KubernetesError


def test_unreachable_when_the_api_server_refuses_connections(fake_kubernetes):
    fake, cluster = fake_kubernetes
    fake.down()

    with pytest.raises(k8s.KubernetesUnreachable, match="connection refused"):
        k8s.rollout_history(cluster, namespace=NS, deployment=DEP)

    fake.up()
    seed_payments(fake)
    assert len(k8s.rollout_history(cluster, namespace=NS, deployment=DEP)) == 3


def test_unreachable_when_the_api_server_does_not_answer_in_time(fake_kubernetes):
    fake, cluster = fake_kubernetes
    seed_payments(fake)
    fake.hang("GET", f"deployments/{DEP}", seconds=2, times=None)

    with pytest.raises(k8s.KubernetesUnreachable, match="timed out"):
        k8s.rollout_status(
            dataclasses.replace(cluster, request_timeout=0.2), namespace=NS, deployment=DEP
        )


def test_a_missing_kubeconfig_is_a_configuration_error(tmp_path):
    cluster = k8s.ClusterConfig(kubeconfig_path=str(tmp_path / "missing"), context="prod")

    with pytest.raises(k8s.KubernetesConfigError, match="Cannot load kubeconfig"):
        k8s.rollout_history(cluster, namespace=NS, deployment=DEP)
