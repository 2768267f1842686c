"""The runbook and job pages, the incident page's Runbooks panel, and their forms."""

import re
import uuid

import pytest
from django.urls import reverse

from incidents.runbooks.models import Job, Runbook, RunbookFlag

from .conftest import DEPLOYMENT, IMAGES, NS, applied_patches

State = Job.State


@pytest.fixture
def crashing(incident, payments):
    """The payments service links "All pods crashing"; its page is the runbook page."""
    runbook = Runbook.objects.get(slug="all-pods-crashing")
    runbook.services.add(payments)
    return runbook


def runbook_url(incident, slug="all-pods-crashing"):
    return reverse("incidents:runbook", kwargs={"pk": incident.pk, "slug": slug})


def request_url(incident, slug="all-pods-crashing"):
    return reverse("incidents:job_request", kwargs={"pk": incident.pk, "slug": slug})


def form_data(html: str, form_id: str) -> dict[str, str]:
    """Return the hidden inputs of one form on the page (as a browser would send them)."""
    form = re.search(rf'<form[^>]*id="{form_id}".*?</form>', html, flags=re.S)
    assert form, f"no form {form_id}"
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.group(0)))


def test_the_incident_page_suggests_runbooks_and_shows_jobs_on_the_timeline(
    client, k8s, crashing, request_job, incident, alice, bob
):
    request_job("diagnostics", actor=bob)
    client.force_login(alice)

    page = client.get(reverse("incidents:detail", kwargs={"pk": incident.pk})).content.decode()

    assert 'id="runbooks"' in page
    assert "First 5 minutes of a P1" in page  # suggested for every incident
    assert "All pods crashing" in page  # linked to the payments service
    assert "Node group failure" not in page
    assert "Diagnostics snapshot" in page and "Succeeded" in page
    # The snapshot's readable block on the timeline, with the link to the raw data.
    assert "Pods not running or not ready" in page
    job = Job.objects.get()
    assert reverse("incidents:job", kwargs={"pk": incident.pk, "job_id": job.pk}) in page


def test_the_runbook_page_renders_guidance_and_the_jobs_with_their_choices(
    client, k8s, crashing, incident, target, alice
):
    client.force_login(alice)

    response = client.get(runbook_url(incident))

    page = response.content.decode()
    assert response.status_code == 200
    assert "<pre><code>kubectl get pods -A | grep CrashLoop" in page
    assert f'id="form-t{target.pk}-rollback-{DEPLOYMENT}"' in page
    # The rollout history to choose from, newest first, the current one marked.
    assert "3 (current) · " + IMAGES[2] in page
    assert f">2 · {IMAGES[1]}" in page
    assert "The previous revision" in page
    # Argo CD jobs explain why they cannot run on a target without an Application.
    assert "Unavailable: This target is not managed by Argo CD" in page
    assert 'name="request_key"' in page


def test_a_responder_sees_why_they_cannot_run_mutating_jobs(
    client, k8s, crashing, incident, target, bob
):
    client.force_login(bob)

    page = client.get(runbook_url(incident)).content.decode()

    assert "Only the Incident Commander or the Investigator (or staff) may run this." in page
    assert "Run<span" in page  # diagnostics is theirs to run


def test_a_viewer_reads_the_guidance_without_forms(
    client, k8s, crashing, incident, target, viewer_user
):
    client.force_login(viewer_user)

    page = client.get(runbook_url(incident)).content.decode()

    assert "kubectl rollout undo" in page
    assert 'name="request_key"' not in page


def test_the_ic_previews_and_confirms_a_rollback_through_the_pages(
    client, k8s, crashing, incident, target, alice, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    page = client.get(runbook_url(incident)).content.decode()
    data = form_data(page, f"form-t{target.pk}-rollback-{DEPLOYMENT}")
    data["to_revision"] = "1"

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(request_url(incident), data)
    job = Job.objects.get(kind="rollback")
    job_url = reverse("incidents:job", kwargs={"pk": incident.pk, "job_id": job.pk})
    assert response.status_code == 302 and response.url == job_url

    page = client.get(job_url).content.decode()
    assert "Awaiting confirmation" in page
    assert f"+      - image: {IMAGES[0]}" in page
    assert ">Confirm</button>" in page

    # The same form sent again (a double click) makes no second job.
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(request_url(incident), data)
    assert again.url == job_url and Job.objects.filter(kind="rollback").count() == 1

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("incidents:job_confirm", kwargs={"pk": incident.pk, "job_id": job.pk}))
    job.refresh_from_db()
    assert job.state == State.SUCCEEDED
    assert len(applied_patches(k8s)) == 1

    response = client.get(job_url)
    page = response.content.decode()
    assert "Rolled deployment payments-api back to revision 1." in page
    assert "Wait for rollout" in page  # the chained job, still running
    # Finished, but the rollout it started is still being followed: the page keeps refreshing.
    assert 'http-equiv="refresh"' in page

    Job.objects.filter(parent=job).update(state=State.SUCCEEDED)
    assert 'http-equiv="refresh"' not in client.get(job_url).content.decode()


def test_a_job_still_moving_refreshes_its_page(client, k8s, incident, target, alice):
    job = Job.objects.create(
        incident=incident,
        target=target,
        kind="diagnostics",
        state=State.QUEUED,
        request_key=str(uuid.uuid4()),
        requested_by=alice,
    )
    client.force_login(alice)

    page = client.get(reverse("incidents:job", kwargs={"pk": incident.pk, "job_id": job.pk}))

    assert '<meta http-equiv="refresh" content="3">' in page.content.decode()


def test_bad_input_shows_on_the_form_and_writes_nothing(client, k8s, incident, target, alice):
    client.force_login(alice)
    slug = "rollback-procedures"
    page = client.get(runbook_url(incident, slug)).content.decode()
    data = form_data(page, f"form-t{target.pk}-image_pin-{DEPLOYMENT}")
    data.update({"container": DEPLOYMENT, "image": "latest please"})

    response = client.post(request_url(incident, slug), data)

    assert response.status_code == 400
    page = response.content.decode()
    assert "Emergency image pin was not requested" in page
    assert "Give the image with its tag or digest" in page
    assert 'value="latest please"' in page  # what was typed is kept
    assert not Job.objects.exists()


def test_confirming_is_refused_to_a_responder_with_a_message(
    client, k8s, request_job, incident, bob
):
    job = request_job("restart")
    client.force_login(bob)

    response = client.post(
        reverse("incidents:job_confirm", kwargs={"pk": incident.pk, "job_id": job.pk}), follow=True
    )

    assert "Only INC-" in response.content.decode()
    job.refresh_from_db()
    assert job.state == State.PREVIEW


def test_a_job_of_another_incident_is_not_found(client, k8s, request_job, alice):
    from tests import factories

    job = request_job("restart")
    other = factories.declared(alice)
    client.force_login(alice)

    response = client.get(reverse("incidents:job", kwargs={"pk": other.pk, "job_id": job.pk}))

    assert response.status_code == 404


def test_helm_rollback_is_shown_unavailable_without_helm(
    client, k8s, incident, target, alice, monkeypatch
):
    from portal.integrations import helm

    target.helm_release = "payments-api"
    target.save()
    monkeypatch.setattr(helm, "helm_available", lambda: False)
    client.force_login(alice)

    page = client.get(runbook_url(incident, "rollback-procedures")).content.decode()

    assert "Unavailable: helm is not installed on the workers" in page


def test_a_responder_flags_the_runbook_from_its_page(client, k8s, crashing, incident, bob):
    client.force_login(bob)

    response = client.post(
        reverse("incidents:runbook_flag", kwargs={"pk": incident.pk, "slug": crashing.slug}),
        {"note": "The Argo CD app name is wrong"},
        follow=True,
    )

    assert "is flagged for an update" in response.content.decode()
    assert RunbookFlag.objects.get().note == "The Argo CD app name is wrong"
    detail = client.get(reverse("incidents:detail", kwargs={"pk": incident.pk})).content.decode()
    assert "1 runbook flagged for an update" in detail
    assert "needs an update: The Argo CD app name is wrong" in detail


def test_an_empty_flag_is_refused_on_the_form(client, crashing, incident, bob):
    client.force_login(bob)

    response = client.post(
        reverse("incidents:runbook_flag", kwargs={"pk": incident.pk, "slug": crashing.slug}),
        {"note": ""},
    )

    assert response.status_code == 400
    assert not RunbookFlag.objects.exists()


def test_the_job_page_offers_the_fresh_preview_after_a_conflict(
    client, k8s, request_job, confirm, incident, alice
):
    job = request_job("rollback")
    scaled = k8s.get("deployments", NS, DEPLOYMENT)
    scaled["spec"]["replicas"] = 5  # someone scales it between the preview and the confirm
    k8s.put("deployments", scaled)
    job = confirm(job)
    client.force_login(alice)

    page = client.get(reverse("incidents:job", kwargs={"pk": incident.pk, "job_id": job.pk}))

    text = page.content.decode()
    assert "The target changed since the preview; review the new preview." in text
    fresh = job.output["fresh_preview_job_id"]
    assert reverse("incidents:job", kwargs={"pk": incident.pk, "job_id": fresh}) in text


def test_the_admin_lists_jobs_read_only_and_explains_credentials(
    client, k8s, request_job, staff_user
):
    request_job("restart")
    client.force_login(staff_user)

    jobs = client.get(reverse("admin:runbooks_job_changelist"))
    target_form = client.get(reverse("admin:runbooks_kubernetestarget_add")).content.decode()

    assert jobs.status_code == 200 and "restart" in jobs.content.decode()
    assert client.get(reverse("admin:runbooks_job_add")).status_code == 403
    assert "never the token itself" in target_form


def test_pod_detail_suggests_the_pods_of_the_latest_snapshot(
    client, k8s, crashing, request_job, incident, target, bob
):
    k8s.add_pod(
        NS, "payments-api-crash", node="node-a", ready=False, waiting_reason="CrashLoopBackOff"
    )
    request_job("diagnostics", actor=bob)
    client.force_login(bob)

    page = client.get(runbook_url(incident)).content.decode()

    assert (
        f'<datalist id="pods-t{target.pk}-pod_detail"><option value="payments-api-crash">' in page
    )


def test_the_rollback_procedures_list_argo_helm_and_git_histories(
    client, k8s, fake_argocd, fake_helm, incident, target, alice, tmp_path
):
    import subprocess

    fake_argocd.add_application("payments", revisions=["aaa111", "bbb222"])
    fake_helm.add_release("payments-api", namespace=NS, charts=[("payments-1.0.0", "1.0")] * 2)
    repository = tmp_path / "deploy"
    (repository / "k8s").mkdir(parents=True)
    (repository / "k8s" / "configmap.yaml").write_text("kind: ConfigMap\n")
    for command in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "First config"]):
        subprocess.run(
            ["git", "-C", str(repository), "-c", "user.name=t", "-c", "user.email=t@x", *command],
            check=True,
        )
    target.argo_application = "payments"
    target.argo_api_url = fake_argocd.base_url
    target.argo_token_env = fake_argocd.token_env
    target.helm_release = "payments-api"
    target.manifests_repository = str(repository)
    target.configmap_paths = ["k8s/configmap.yaml"]
    target.save()
    client.force_login(alice)

    page = client.get(runbook_url(incident, "rollback-procedures")).content.decode()

    assert ">1 (current) · bbb222" in page and ">0 · aaa111" in page  # Argo CD history
    assert ">2 (current) · payments-1.0.0" in page  # helm history
    assert "(HEAD) · " in page and "First config" in page  # the manifest's commits
