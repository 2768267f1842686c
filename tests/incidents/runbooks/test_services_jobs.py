"""Kubernetes jobs end to end against the fake API server: request, preview, confirm, run once,
reconcile, wait for rollout, and the timeline that records all of it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import TimelineEvent
from incidents.policies import forget_holders
from incidents.runbooks.models import Job
from incidents.runbooks.services import (
    JobNotAllowed,
    PreviewStale,
    job_cancel,
    job_confirm,
    job_preview_refresh,
    job_request,
    job_run,
)
from incidents.runbooks.tasks import job_run_task
from incidents.services import incident_role_assign
from portal.errors import InvalidInputError, PermissionDeniedError
from portal.integrations import kubernetes
from portal.models import Timer
from tests import factories

from .conftest import (
    DEPLOYMENT,
    IMAGES,
    NS,
    applied_patches,
    child,
    fire_rollout_polls,
    fire_timers,
    job_events,
    key,
)

State = Job.State


def template_image(fake) -> str:
    deployment = fake.get("deployments", NS, DEPLOYMENT)
    return deployment["spec"]["template"]["spec"]["containers"][0]["image"]


# --- Read-only jobs -------------------------------------------------------------------------------


def test_a_responder_runs_the_diagnostics_snapshot_and_reads_it_on_the_timeline(
    k8s, request_job, incident, bob
):
    k8s.add_pod(
        NS,
        "payments-api-crash",
        labels={"app": DEPLOYMENT},
        node="node-a",
        ready=False,
        restarts=7,
        waiting_reason="CrashLoopBackOff",
    )
    k8s.add_node("node-c", ready=False)
    k8s.add_event(NS, reason="BackOff", message="Back-off restarting", involved_name="pod-x")

    job = request_job("diagnostics", actor=bob)

    assert job.state == State.SUCCEEDED
    assert job.requested_by == bob
    assert [pod["name"] for pod in job.output["pods_not_running"]] == ["payments-api-crash"]
    assert [pod["name"] for pod in job.output["crash_looping"]] == ["payments-api-crash"]
    assert "1 pod not running" in job.summary and "1 of 3 nodes not ready" in job.summary
    finished = TimelineEvent.objects.get(incident=incident, kind="job_finished")
    sections = {section["title"]: section["rows"] for section in finished.data["digest"]}
    assert any("payments-api-crash" in row for row in sections["Pods not running or not ready"])
    assert any("node-c" in row and "NotReady" in row for row in sections["Nodes (3, 1 not ready)"])
    assert any("BackOff" in row for row in sections["Recent events"])
    assert [kind for kind, _ in job_events(incident)] == ["job_requested", "job_finished"]
    assert not k8s.writes(), "a snapshot only reads"


def test_pod_detail_shows_the_previous_log_and_last_termination(k8s, request_job, bob):
    k8s.add_pod(
        NS,
        "payments-api-1",
        labels={"app": DEPLOYMENT},
        node="node-a",
        restarts=3,
        waiting_reason="CrashLoopBackOff",
        last_termination={"reason": "Error", "exitCode": 1, "finishedAt": "2026-11-30T09:00:00Z"},
        previous_logs="panic: missing DATABASE_URL\n",
    )

    job = request_job("pod_detail", {"pod": "payments-api-1"}, actor=bob)

    assert job.state == State.SUCCEEDED
    assert job.output["last_termination"]["reason"] == "Error"
    assert "panic: missing DATABASE_URL" in job.output["containers"][0]["previous_log"]
    assert "last terminated: Error" in job.summary


def test_control_plane_check_reports_what_fails(k8s, request_job, bob):
    k8s.set_readyz(False, failing=("etcd",))

    job = request_job("control_plane", actor=bob)

    assert job.state == State.SUCCEEDED
    assert job.output["ok"] is False
    assert "NOT ready" in job.summary and "etcd" in job.summary


def test_an_unreachable_cluster_is_named_in_the_failure(k8s, request_job, bob):
    k8s.down()

    job = request_job("diagnostics", actor=bob)

    assert job.state == State.FAILED
    assert "Cluster prod-eu is unreachable" in job.error


# --- Rollback, end to end ------------------------------------------------------------------------


def test_rollback_previews_pins_confirms_runs_once_and_waits_for_the_rollout(
    k8s, request_job, confirm, run_commits, incident, alice
):
    job = request_job("rollback")

    # The preview: a server-side dry run, pinned to the Deployment's resourceVersion.
    assert job.state == State.PREVIEW
    assert "revision 3" in job.preview["summary"] and "revision 2" in job.preview["summary"]
    assert f"-      - image: {IMAGES[2]}" in job.preview["diff"]
    assert f"+      - image: {IMAGES[1]}" in job.preview["diff"]
    live = k8s.get("deployments", NS, DEPLOYMENT)
    assert job.pinned["resource_version"] == live["metadata"]["resourceVersion"]
    assert applied_patches(k8s) == [], "nothing changes before the confirmation"
    assert template_image(k8s) == IMAGES[2]

    job = confirm(job)

    assert job.state == State.SUCCEEDED
    assert job.confirmed_by == alice
    assert job.attempts == 1
    assert template_image(k8s) == IMAGES[1]
    (patch,) = applied_patches(k8s)
    assert patch.content_type == "application/json-patch+json"
    assert {op["path"] for op in patch.body} >= {"/spec/template", "/metadata/annotations"}

    # Wait for rollout is chained and re-schedules itself on a timer until the rollout is done.
    waiter = child(job, "rollout_status")
    assert waiter.state == State.RUNNING
    assert "0 out of 3 new replicas" in waiter.summary
    assert Timer.objects.filter(kind="runbooks.rollout_poll", state="pending").count() == 1
    k8s.set_rollout(NS, DEPLOYMENT, updated=3, available=2, replicas=3)
    fire_rollout_polls(run_commits)
    waiter.refresh_from_db()
    assert waiter.state == State.RUNNING and "2 of 3 updated replicas" in waiter.summary
    k8s.set_rollout(NS, DEPLOYMENT, updated=3, available=3, replicas=3)
    fire_rollout_polls(run_commits)
    waiter.refresh_from_db()
    assert waiter.state == State.SUCCEEDED
    assert "successfully rolled out" in waiter.summary

    assert [kind for kind, _ in job_events(incident)] == [
        "job_requested",
        "job_confirmed",
        "job_finished",
        "job_requested",
        "job_finished",
    ]
    messages = [message for _, message in job_events(incident)]
    assert "Succeeded: roll back deployment payments-api" in messages[2]
    assert "Waiting for deployment payments-api to roll out" in messages[3]


def test_rollback_to_a_chosen_revision(k8s, request_job, confirm):
    job = confirm(request_job("rollback", {"to_revision": 1}))

    assert job.state == State.SUCCEEDED
    assert template_image(k8s) == IMAGES[0]
    assert "revision 1" in job.summary


@pytest.mark.parametrize(
    ("setup", "params", "expected"),
    [
        ("none", {"to_revision": 9}, "Revision not found: unable to find specified revision 9"),
        ("paused", {}, "Deployment payments-api is paused"),
        ("no_history", {}, "No rollout history"),
        ("same_template", {"to_revision": 3}, "Already at that template"),
    ],
)
def test_rollback_failures_say_what_is_wrong(fake_kubernetes, request_job, setup, params, expected):
    fake, _ = fake_kubernetes
    fake.add_namespace(NS)
    if setup == "paused":
        fake.add_deployment(NS, DEPLOYMENT, image=IMAGES[1], revisions=IMAGES[:1], paused=True)
    elif setup == "no_history":
        fake.add_deployment(NS, DEPLOYMENT, image=IMAGES[0])
    else:
        fake.add_deployment(NS, DEPLOYMENT, image=IMAGES[2], revisions=IMAGES[:2])

    job = request_job("rollback", params)

    assert job.state == State.FAILED
    assert expected in job.error
    assert not applied_patches(fake)


def test_a_forbidden_patch_names_the_missing_verb_and_resource(k8s, request_job, confirm):
    job = request_job("rollback")
    k8s.fail("PATCH", "deployments/payments-api", 403)

    job = confirm(job)

    assert job.state == State.FAILED
    assert "may not patch deployments" in job.error
    assert "firebreak-rbac.yaml" in job.error


def test_a_missing_deployment_is_a_clear_404(fake_kubernetes, request_job):
    fake, _ = fake_kubernetes
    fake.add_namespace(NS)

    job = request_job("rollback")

    assert job.state == State.FAILED
    assert job.error.startswith("Not found (404)")


def test_restart_sets_restarted_at_by_strategic_merge(k8s, request_job, confirm):
    job = confirm(request_job("restart"))

    assert job.state == State.SUCCEEDED
    (patch,) = applied_patches(k8s)
    assert patch.content_type == "application/strategic-merge-patch+json"
    annotations = k8s.get("deployments", NS, DEPLOYMENT)["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert annotations["kubectl.kubernetes.io/restartedAt"] == job.pinned["data"]["restarted_at"]
    assert child(job, "rollout_status").state == State.RUNNING


def test_a_rollout_that_exceeds_its_progress_deadline_fails(k8s, request_job, confirm, run_commits):
    job = confirm(request_job("restart"))
    k8s.set_rollout(
        NS,
        DEPLOYMENT,
        updated=1,
        available=0,
        replicas=3,
        progressing_reason="ProgressDeadlineExceeded",
    )

    fire_rollout_polls(run_commits)

    waiter = child(job, "rollout_status")
    assert waiter.state == State.FAILED
    assert "exceeded its progress deadline" in waiter.error


def test_waiting_for_a_rollout_stops_at_its_deadline(k8s, request_job, confirm, run_commits):
    job = confirm(request_job("restart"))
    waiter = child(job, "rollout_status")
    Job.objects.filter(pk=waiter.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))

    fire_rollout_polls(run_commits)

    waiter.refresh_from_db()
    assert waiter.state == State.FAILED
    assert "did not finish rolling out within" in waiter.error
    assert not Timer.objects.filter(kind="runbooks.rollout_poll", state="pending").exists()


# --- At most once, then reconciled ----------------------------------------------------------------


def test_a_double_submit_makes_one_job_and_a_double_confirm_runs_it_once(
    k8s, request_job, confirm, incident, alice
):
    same = key()
    first = request_job("rollback", request_key=same)
    second = request_job("rollback", request_key=same)
    assert first.pk == second.pk
    assert Job.objects.filter(kind="rollback").count() == 1

    confirm(first)
    job = confirm(first)

    assert job.state == State.SUCCEEDED
    assert len(applied_patches(k8s)) == 1
    assert [kind for kind, _ in job_events(incident)].count("job_confirmed") == 1


def test_a_task_run_twice_runs_the_job_once(
    k8s, request_job, django_capture_on_commit_callbacks, alice
):
    job = request_job("rollback")
    with django_capture_on_commit_callbacks(execute=False):
        job_confirm(job=job, actor=alice)

    job_run_task.delay(job.pk)
    job_run_task.delay(job.pk)

    job.refresh_from_db()
    assert job.state == State.SUCCEEDED
    assert job.attempts == 1
    assert len(applied_patches(k8s)) == 1


def test_a_conflict_after_the_preview_makes_a_fresh_preview_not_a_blind_retry(
    k8s, request_job, confirm, incident
):
    job = request_job("rollback")
    # Someone else scales the Deployment between the preview and the confirmation.
    scaled = k8s.get("deployments", NS, DEPLOYMENT)
    scaled["spec"]["replicas"] = 5
    k8s.put("deployments", scaled)

    job = confirm(job)

    assert job.state == State.FAILED
    assert job.error == "The target changed since the preview; review the new preview."
    assert template_image(k8s) == IMAGES[2], "nothing was applied"
    fresh = Job.objects.get(pk=job.output["fresh_preview_job_id"])
    assert fresh.state == State.PREVIEW and fresh.parent == job
    assert fresh.preview["computed_at"]
    live = k8s.get("deployments", NS, DEPLOYMENT)
    assert fresh.pinned["resource_version"] == live["metadata"]["resourceVersion"]
    assert "A fresh preview of" in job_events(incident)[-1][1]

    fresh = confirm(fresh)
    assert fresh.state == State.SUCCEEDED
    assert template_image(k8s) == IMAGES[1]


def test_a_crash_looping_deployment_is_rolled_back_although_its_status_keeps_changing(
    k8s, request_job, confirm, incident
):
    job = request_job("rollback")
    # Its pods crash and restart: the controller rewrites the status (a new resourceVersion)
    # between the preview and the confirmation, and after every read while the job runs.
    k8s.status_write(NS, DEPLOYMENT)
    k8s.status_write(NS, DEPLOYMENT)
    k8s.crash_loop(NS, DEPLOYMENT, writes=2)
    live = k8s.get("deployments", NS, DEPLOYMENT)
    assert live["metadata"]["resourceVersion"] != job.pinned["resource_version"]

    job = confirm(job)

    assert job.state == State.SUCCEEDED, job.error
    assert template_image(k8s) == IMAGES[1]
    assert len(applied_patches(k8s)) >= 1
    assert not Job.objects.filter(parent=job, kind="rollback").exists(), "no fresh preview"
    assert "Succeeded: roll back deployment payments-api" in job_events(incident)[2][1]


def test_a_lost_answer_to_a_restart_is_read_back_and_the_restart_is_not_repeated(
    k8s, request_job, confirm, cluster
):
    job = request_job("restart")
    # The API server applies the PATCH, then the connection drops before its answer.
    k8s.lose_answer("PATCH", "deployments/payments-api")

    job = confirm(job)

    assert job.state == State.SUCCEEDED, job.error
    assert "Restarted deployment payments-api" in job.summary
    assert "answer to the patch of deployments.apps production/payments-api was lost" in (
        job.summary
    )
    assert len(applied_patches(k8s)) == 1, "the restart was sent once"
    template = k8s.get("deployments", NS, DEPLOYMENT)["spec"]["template"]
    restarted_at = job.pinned["data"]["restarted_at"]
    assert template["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"] == restarted_at
    assert child(job, "rollout_status").state == State.RUNNING, "the rollout is followed"


def test_a_restart_answered_after_the_client_timeout_is_done_not_failed(
    k8s, request_job, confirm, cluster
):
    cluster.request_timeout_seconds = 1
    cluster.save()
    job = request_job("restart")
    k8s.lose_answer("PATCH", "deployments/payments-api", hang=3)

    job = confirm(job)

    assert job.state == State.SUCCEEDED, job.error
    assert "was lost (timed out)" in job.summary
    assert len(applied_patches(k8s)) == 1


def test_a_lost_answer_to_a_change_that_was_not_applied_says_so(k8s, request_job, confirm):
    job = request_job("restart")
    k8s.fail("PATCH", "deployments/payments-api", 504, message="Timeout: request did not complete")

    job = confirm(job)

    assert job.state == State.FAILED
    assert job.error.startswith("Not applied: the answer to the patch")
    assert "does not show the change" in job.error
    annotations = (
        k8s.get("deployments", NS, DEPLOYMENT)["spec"]["template"]["metadata"].get("annotations")
        or {}
    )
    assert "kubectl.kubernetes.io/restartedAt" not in annotations


def test_a_lost_answer_that_cannot_be_read_back_is_read_back_later(
    k8s, request_job, confirm, run_commits
):
    job = request_job("restart")
    # The answer is lost, and the read-back right after it fails too (a struggling server).
    k8s.lose_answer(
        "PATCH",
        "deployments/payments-api",
        then=lambda: k8s.fail("GET", "deployments/payments-api", 503),
    )

    job = confirm(job)

    assert job.state == State.RUNNING, job.error
    assert job.summary.startswith("Outcome unknown")
    assert job.output["outcome_unknown"] is True

    fire_timers(run_commits)

    job.refresh_from_db()
    assert job.state == State.SUCCEEDED, job.error
    assert "read back later, the cluster shows the change in place" in job.summary
    assert len(applied_patches(k8s)) == 1, "the restart was not sent twice"


def test_a_job_past_its_deadline_is_failed_not_run(
    k8s, request_job, django_capture_on_commit_callbacks, alice
):
    job = request_job("rollback")
    with django_capture_on_commit_callbacks(execute=False):
        job_confirm(job=job, actor=alice)
    Job.objects.filter(pk=job.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))

    job_run(job_id=job.pk)
    job_run(job_id=job.pk)

    job.refresh_from_db()
    assert job.state == State.FAILED
    assert "did not start before its deadline" in job.error
    assert job.attempts == 0
    assert not applied_patches(k8s)


def _crash_after_applying(job, fake_config) -> None:
    """Leave what a worker killed right after its PATCH leaves: the change made, the job running."""
    kubernetes.plan_apply(fake_config, kubernetes.plan_from_dict(job.pinned))
    Job.objects.filter(pk=job.pk).update(state=State.RUNNING, attempts=1, started_at=timezone.now())


def test_a_retry_after_a_crash_mid_run_reconciles_and_sends_nothing_again(
    k8s, fake_kubernetes, request_job, django_capture_on_commit_callbacks, run_commits, alice
):
    _, config = fake_kubernetes
    job = request_job("rollback")
    with django_capture_on_commit_callbacks(execute=False):
        job_confirm(job=job, actor=alice)
    _crash_after_applying(job, config)
    assert len(applied_patches(k8s)) == 1

    run_commits(job_run, job_id=job.pk)  # the redelivered task

    job.refresh_from_db()
    assert job.state == State.SUCCEEDED
    assert "Already in place" in job.summary and job.output["reconciled"] is True
    assert job.attempts == 2
    assert len(applied_patches(k8s)) == 1, "the change was not sent again"
    assert child(job, "rollout_status").state == State.RUNNING


def test_a_retry_whose_change_never_landed_applies_it_once_under_the_pinned_version(
    k8s, request_job, django_capture_on_commit_callbacks, run_commits, alice
):
    job = request_job("rollback")
    with django_capture_on_commit_callbacks(execute=False):
        job_confirm(job=job, actor=alice)
    # The worker died after claiming the job, before the PATCH.
    Job.objects.filter(pk=job.pk).update(state=State.RUNNING, attempts=1)

    run_commits(job_run, job_id=job.pk)

    job.refresh_from_db()
    assert job.state == State.SUCCEEDED
    assert len(applied_patches(k8s)) == 1
    assert template_image(k8s) == IMAGES[1]


def test_a_running_job_past_its_deadline_is_reconciled_not_retried(
    k8s, request_job, django_capture_on_commit_callbacks, run_commits, alice
):
    job = request_job("rollback")
    with django_capture_on_commit_callbacks(execute=False):
        job_confirm(job=job, actor=alice)
    Job.objects.filter(pk=job.pk).update(
        state=State.RUNNING, attempts=1, deadline_at=timezone.now() - timedelta(seconds=1)
    )

    fire_timers(run_commits)  # the deadline wake-up

    job.refresh_from_db()
    assert job.state == State.FAILED
    assert "not retried" in job.error
    assert not applied_patches(k8s)


def test_a_lost_task_message_is_sent_again_by_the_jobs_timer(
    k8s, django_capture_on_commit_callbacks, run_commits, incident, target, bob
):
    with django_capture_on_commit_callbacks(execute=False):  # the broker lost the message
        job = job_request(
            incident=incident,
            target=target,
            kind="diagnostics",
            params={},
            actor=bob,
            request_key=key(),
        )
    job.refresh_from_db()
    assert job.state == State.QUEUED

    fire_timers(run_commits)

    job.refresh_from_db()
    assert job.state == State.SUCCEEDED


# --- Previews: stale, refreshed, cancelled --------------------------------------------------------


def test_a_stale_preview_must_be_refreshed_before_it_is_confirmed(
    k8s, request_job, run_commits, alice, settings
):
    settings.FIREBREAK_JOB_PREVIEW_MAX_AGE_MINUTES = 10
    job = request_job("rollback")
    old = (timezone.now() - timedelta(minutes=11)).isoformat()
    Job.objects.filter(pk=job.pk).update(preview={**job.preview, "computed_at": old})
    job.refresh_from_db()

    with pytest.raises(PreviewStale, match="11 minutes old"):
        job_confirm(job=job, actor=alice)
    assert not applied_patches(k8s)

    run_commits(job_preview_refresh, job=job, actor=alice)
    job.refresh_from_db()
    assert job.preview["computed_at"] > old
    assert job_confirm(job=job, actor=alice).state == State.QUEUED


def test_a_preview_can_be_cancelled_and_then_not_confirmed(k8s, request_job, incident, alice):
    job = request_job("restart")

    job_cancel(job=job, actor=alice)

    job.refresh_from_db()
    assert job.state == State.CANCELLED
    with pytest.raises(JobNotAllowed, match="can no longer be confirmed"):
        job_confirm(job=job, actor=alice)
    assert job_events(incident)[-1][1].startswith("Cancelled: restart deployment payments-api")
    assert not applied_patches(k8s)


# --- Safety: control plane, permissions ---------------------------------------------------------


def test_mutating_jobs_are_refused_while_the_control_plane_fails(k8s, request_job, incident, bob):
    k8s.set_readyz(False, failing=("etcd",))

    job = request_job("rollback")

    assert job.state == State.REFUSED
    assert "Restore the API server before touching workloads" in job.error
    assert "etcd" in job.error
    assert not applied_patches(k8s)
    assert request_job("diagnostics", actor=bob).state == State.SUCCEEDED


def test_the_control_plane_is_checked_again_when_the_job_runs(k8s, request_job, confirm):
    job = request_job("rollback")
    k8s.set_readyz(False)

    job = confirm(job)

    assert job.state == State.REFUSED
    assert not applied_patches(k8s)


def test_only_the_ic_the_investigator_or_staff_run_mutating_jobs(
    k8s, request_job, incident, alice, bob, carol, viewer_user, staff_user
):
    with pytest.raises(PermissionDeniedError, match="Incident Commander or Investigator"):
        request_job("rollback", actor=bob)
    assert request_job("diagnostics", actor=bob).state == State.SUCCEEDED
    with pytest.raises(PermissionDeniedError):
        request_job("diagnostics", actor=viewer_user)

    incident_role_assign(incident=incident, actor=alice, role="investigator", user=carol)
    forget_holders(incident)  # a new request reads the roles afresh
    assert request_job("rollback", actor=carol).state == State.PREVIEW
    assert request_job("restart", actor=staff_user).state == State.PREVIEW

    # Confirming needs the same right as requesting.
    job = request_job("restart")
    with pytest.raises(PermissionDeniedError):
        job_confirm(job=job, actor=bob)
    assert not applied_patches(k8s)


def test_bad_parameters_are_refused_before_anything_is_written(k8s, incident, target, alice):
    with pytest.raises(InvalidInputError) as error:
        job_request(
            incident=incident,
            target=target,
            kind="image_pin",
            params={"image": "no tag here"},
            actor=alice,
            request_key=key(),
        )
    assert error.value.field == "image"
    with pytest.raises(InvalidInputError) as error:
        job_request(
            incident=incident,
            target=target,
            kind="rollback",
            params={"deployment": "someone-else"},
            actor=alice,
            request_key=key(),
        )
    assert error.value.field == "deployment"
    assert not Job.objects.exists()
    assert not TimelineEvent.objects.filter(kind__startswith="job_").exists()


def test_no_jobs_on_a_closed_incident(k8s, target, alice):
    incident = factories.declared(alice)
    incident.status = "closed"
    incident.save(update_fields=["status"])

    with pytest.raises(JobNotAllowed, match="closed"):
        job_request(
            incident=incident,
            target=target,
            kind="diagnostics",
            params={},
            actor=alice,
            request_key=key(),
        )


# --- Delete node ----------------------------------------------------------------------------------


def test_delete_node_previews_the_pods_that_reschedule(k8s, request_job, confirm):
    k8s.add_node("node-dead", ready=False)
    k8s.add_pod(NS, "payments-api-x", node="node-dead", owner=("ReplicaSet", "payments-api-1"))

    job = request_job("delete_node", {"node": "node-dead"})

    assert job.state == State.PREVIEW
    assert [pod["name"] for pod in job.preview["pods"]] == ["payments-api-x"]
    assert job.preview["pods"][0]["reschedules"] is True
    assert k8s.get("nodes", "", "node-dead") is not None

    job = confirm(job)

    assert job.state == State.SUCCEEDED
    assert k8s.get("nodes", "", "node-dead") is None
    assert child(job, "rollout_status").params == {"deployment": DEPLOYMENT}


def test_the_job_tasks_run_on_the_jobs_queue():
    from portal.celery import app

    for name in ("job_preview_task", "job_run_task", "job_rollout_poll_task"):
        route = app.amqp.router.route({}, f"incidents.runbooks.tasks.{name}")
        assert route["queue"].name == "jobs"


def test_rejected_credentials_are_a_clear_401(k8s, request_job, bob):
    k8s.fail("*", "/api", 401, times=None)

    job = request_job("diagnostics", actor=bob)

    assert job.state == State.FAILED
    assert "rejected the workers' credentials (401" in job.error


def test_a_job_whose_wake_up_could_not_be_sent_runs_at_the_next_sweep(
    k8s, request_job, run_commits, monkeypatch
):
    from incidents.runbooks.services.jobs import wakeups
    from portal.timers import timers_sweep

    with monkeypatch.context() as broker_down:
        broker_down.setattr(wakeups, "enqueue", lambda *args, **kwargs: False)
        job = request_job("diagnostics")
    assert job.state == State.QUEUED  # its wake-up was never sent

    run_commits(timers_sweep)  # the next sweep, without waiting out the usual nudge

    job.refresh_from_db()
    assert job.state == State.SUCCEEDED
