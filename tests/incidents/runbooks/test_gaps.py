"""Second-pass gaps: jobs only on the incident's own targets, parameters checked before anything
is written, other incidents' job URLs, credentials kept off pages, timeline and logs, the
back-office, preview timeouts, and what the pages preselect and explain."""

import logging
import re
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.models import TimelineEvent
from incidents.runbooks.models import Job, KubernetesTarget, Runbook
from incidents.runbooks.services import JobNotAllowed, job_preview, job_request
from portal.errors import InvalidInputError
from tests import factories

from .conftest import DEPLOYMENT, IMAGES, NS, applied_patches, key

State = Job.State
AUTOMATED = {"prune": True, "selfHeal": True}


def job_url(incident, job, name="incidents:job"):
    return reverse(name, kwargs={"pk": incident.pk, "job_id": job.pk})


def runbook_url(incident, slug):
    return reverse("incidents:runbook", kwargs={"pk": incident.pk, "slug": slug})


def form_data(html: str, form_id: str) -> dict[str, str]:
    """Return what a browser sends for one form: hidden inputs and each select's selection."""
    form = re.search(rf'<form[^>]*id="{form_id}".*?</form>', html, flags=re.S)
    assert form, f"no form {form_id}"
    data = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.group(0)))
    for name, options in re.findall(
        r'<select name="(\w+)"[^>]*>(.*?)</select>', form.group(0), re.S
    ):
        selected = re.search(r'<option value="([^"]*)" selected>', options)
        data[name] = selected.group(1) if selected else re.search(r'value="([^"]*)"', options)[1]
    return data


@pytest.fixture
def other_target(cluster):
    """A target of a service that is not on the incident."""
    team = factories.TeamFactory(name="Search", slug="search")
    search = factories.ServiceFactory(name="Search API", slug="search-api", team=team)
    return KubernetesTarget.objects.create(
        service=search,
        name="production",
        cluster=cluster,
        namespace=NS,
        deployments=[DEPLOYMENT],
    )


# --- Jobs run on the incident's own targets -------------------------------------------------------


def test_a_job_on_a_target_of_a_service_outside_the_incident_is_refused(
    k8s, incident, other_target, alice, request_job
):
    for kind in ("rollback", "diagnostics"):
        with pytest.raises(JobNotAllowed, match="not a target of INC-"):
            job_request(
                incident=incident,
                target=other_target,
                kind=kind,
                params={},
                actor=alice,
                request_key=key(),
            )
    assert not Job.objects.exists()
    assert not TimelineEvent.objects.filter(kind__startswith="job_").exists()

    # An incident that names no service may reach every target (nothing narrows it yet).
    open_incident = factories.declared(alice)
    job = request_job("diagnostics", on=open_incident, target=other_target)
    assert job.state == State.SUCCEEDED


def test_a_crafted_post_for_another_services_target_changes_nothing(
    client, k8s, incident, target, other_target, alice
):
    client.force_login(alice)
    slug = "rollback-procedures"
    page = client.get(runbook_url(incident, slug)).content.decode()
    assert f'id="target-{other_target.pk}"' not in page, "only the incident's targets are offered"
    data = form_data(page, f"form-t{target.pk}-restart-{DEPLOYMENT}")
    data["target"] = str(other_target.pk)

    response = client.post(
        reverse("incidents:job_request", kwargs={"pk": incident.pk, "slug": slug}), data
    )

    assert response.status_code == 409
    assert "Search API · production is not a target of INC-" in response.content.decode()
    assert not Job.objects.exists()
    assert not applied_patches(k8s)


def test_confirm_cancel_and_refresh_through_another_incidents_url_are_not_found(
    client, k8s, request_job, incident, alice
):
    job = request_job("rollback")
    other = factories.declared(alice)  # alice is IC there too
    client.force_login(alice)

    for name in ("incidents:job_confirm", "incidents:job_cancel", "incidents:job_refresh"):
        url = reverse(name, kwargs={"pk": other.pk, "job_id": job.pk})
        assert client.post(url).status_code == 404

    job.refresh_from_db()
    assert job.state == State.PREVIEW and job.confirmed_at is None
    assert not applied_patches(k8s)


# --- Parameters are checked against the target before anything is written ------------------------


@pytest.fixture
def full_target(target, fake_helm):
    """The payments target managed every way: Argo CD, Helm and a manifests repository."""
    target.argo_application = "payments"
    target.argo_api_url = "http://argocd.invalid"
    target.argo_token_env = "ARGOCD_TOKEN"
    target.helm_release = "payments-api"
    target.manifests_repository = "/srv/deploy"
    target.configmap_paths = ["k8s/production/configmap.yaml"]
    target.save()
    return target


CONFIGMAP = "k8s/production/configmap.yaml"


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("rollback", {"deployment": "search-api"}, "deployment"),
        ("rollback", {"to_revision": "two"}, "to_revision"),
        ("rollback", {"to_revision": 0}, "to_revision"),
        ("rollback", {"to_revision": -3}, "to_revision"),
        ("restart", {"deployment": "../payments-api"}, "deployment"),
        ("image_pin", {"image": "registry.example.com/payments-api"}, "image"),
        ("image_pin", {"image": "Registry.example.com/payments-api:v1"}, "image"),
        ("image_pin", {"image": "payments-api:v1 --force"}, "image"),
        ("image_pin", {"image": "payments-api:v1", "container": "Payments_API"}, "container"),
        ("delete_node", {}, "node"),
        ("delete_node", {"node": "Node_A"}, "node"),
        ("delete_node", {"node": "node-a; kubectl delete ns production"}, "node"),
        ("pod_detail", {"pod": "../../etc/passwd"}, "pod"),
        ("pod_detail", {"pod": "payments-api-1", "tail_lines": 50_000}, "tail_lines"),
        ("argo_rollback", {"history_id": "latest"}, "history_id"),
        ("argo_rollback", {"history_id": -1}, "history_id"),
        ("helm_rollback", {"revision": 0}, "revision"),
        ("helm_rollback", {"revision": "1.5"}, "revision"),
        ("configmap_restore", {"path": "k8s/secrets.yaml", "revision": "HEAD~1"}, "path"),
        ("configmap_restore", {"path": CONFIGMAP, "revision": "--output=/tmp/x"}, "revision"),
        ("configmap_restore", {"path": CONFIGMAP, "revision": "HEAD:k8s/secret.yaml"}, "revision"),
        ("configmap_restore", {"path": CONFIGMAP, "revision": "main..HEAD"}, "revision"),
    ],
)
def test_bad_parameters_name_their_field_and_write_nothing(
    k8s, incident, full_target, alice, kind, params, field
):
    with pytest.raises(InvalidInputError) as refused:
        job_request(
            incident=incident,
            target=full_target,
            kind=kind,
            params=params,
            actor=alice,
            request_key=key(),
        )

    assert refused.value.field == field
    assert not Job.objects.exists()
    assert not TimelineEvent.objects.filter(kind__startswith="job_").exists()
    assert not k8s.writes()


# --- Credentials never reach a job, the timeline, a page or a log ---------------------------------


def everything_shown(client, incident, slug) -> str:
    """Return every place a credential could surface: jobs, timeline, pages."""
    parts = []
    for job in Job.objects.all():
        parts += [job.error, job.summary, repr(job.output), repr(job.preview), repr(job.params)]
        parts.append(client.get(job_url(incident, job)).content.decode())
    for event in TimelineEvent.objects.filter(incident=incident):
        parts += [event.message, repr(event.data)]
    parts.append(
        client.get(reverse("incidents:detail", kwargs={"pk": incident.pk})).content.decode()
    )
    parts.append(client.get(runbook_url(incident, slug)).content.decode())
    return "\n".join(parts)


def test_an_argo_cd_token_never_reaches_jobs_the_timeline_pages_or_logs(
    k8s, target, fake_argocd, request_job, confirm, client, incident, alice, caplog, monkeypatch
):
    caplog.set_level(logging.DEBUG)
    k8s.add_namespace("argocd")
    k8s.add_application("argocd", "payments", automated=AUTOMATED)
    fake_argocd.add_application("payments", revisions=["aaa111", "bbb222", "ccc333"])
    target.argo_application = "payments"
    target.argo_api_url = fake_argocd.base_url
    target.argo_token_env = fake_argocd.token_env
    target.save()
    client.force_login(alice)

    done = confirm(request_job("argo_rollback", {"history_id": 1}))
    assert done.state == State.SUCCEEDED, done.error
    # Now the workers hold a wrong token: Argo CD refuses it, and says so without it.
    wrong = "s3cr3t-wrong-argocd-token-0123456789"
    monkeypatch.setenv(fake_argocd.token_env, wrong)
    failed = request_job("argo_rollback", {"history_id": 0})
    assert failed.state == State.FAILED
    assert "Argo CD rejected the token" in failed.error

    shown = everything_shown(client, incident, "rollback-procedures")
    assert "Could not list the choices: Argo CD rejected the token" in shown
    for secret in (fake_argocd.token, wrong):
        assert secret not in shown
        assert secret not in caplog.text


def test_a_kubeconfig_token_never_reaches_jobs_the_timeline_pages_or_logs(
    k8s, target, request_job, client, incident, bob, caplog
):
    caplog.set_level(logging.DEBUG)
    client.force_login(bob)
    assert request_job("diagnostics", actor=bob).state == State.SUCCEEDED
    k8s.fail("*", "/api", 401, times=None)

    failed = request_job("diagnostics", actor=bob)

    assert failed.state == State.FAILED and "(401" in failed.error
    shown = everything_shown(client, incident, "all-pods-crashing")
    assert k8s.token not in shown
    assert k8s.token not in caplog.text


# --- The back-office ---------------------------------------------------------------------------


def target_form(cluster, service, **changes) -> dict[str, str]:
    data = {
        "service": str(service.pk),
        "name": "staging",
        "cluster": str(cluster.pk),
        "namespace": "staging",
        "deployments": '["payments-api"]',
        "pod_selector": "",
        "kubernetes_service": "",
        "argo_application": "payments",
        "argo_namespace": "argocd",
        "argo_api_url": "https://argocd.example.com",
        "argo_token_env": "ARGOCD_TOKEN",
        "argo_token_file": "",
        "helm_release": "",
        "manifests_repository": "",
        "configmap_paths": "[]",
    }
    data.update(changes)
    return data


def test_the_admin_refuses_a_token_pasted_where_its_variable_name_goes(
    client, cluster, payments, staff_user
):
    client.force_login(staff_user)
    url = reverse("admin:runbooks_kubernetestarget_add")
    pasted = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJmaXJlYnJlYWsifQ.c2lnbmF0dXJl"

    refused = client.post(url, target_form(cluster, payments, argo_token_env=pasted))

    assert refused.status_code == 200
    assert "never the token itself" in refused.content.decode()
    assert not KubernetesTarget.objects.filter(name="staging").exists()
    assert client.post(url, target_form(cluster, payments)).status_code == 302
    assert KubernetesTarget.objects.get(name="staging").argo_token_env == "ARGOCD_TOKEN"


def runbook_form(runbook: Runbook, **changes) -> dict[str, str]:
    data = {
        "title": runbook.title,
        "slug": runbook.slug,
        "summary": runbook.summary,
        "guidance": runbook.guidance,
        "jobs": '["diagnostics", "control_plane"]',
        "suggest_for_all": "on" if runbook.suggest_for_all else "",
        "position": str(runbook.position),
    }
    data.update(changes)
    return data


def test_a_manager_edits_a_runbook_in_the_back_office_and_responders_read_it(
    client, incident, manager_user, bob
):
    runbook = Runbook.objects.get(slug="first-5-minutes-p1")
    url = reverse("admin:runbooks_runbook_change", args=[runbook.pk])
    client.force_login(manager_user)

    refused = client.post(url, runbook_form(runbook, jobs='["diagnostics", "reboot_everything"]'))
    assert refused.status_code == 200
    assert "Unknown job kinds: reboot_everything." in refused.content.decode()

    guidance = runbook.guidance + "\n5. Check the **payments** status page.\n"
    saved = client.post(url, runbook_form(runbook, guidance=guidance))
    assert saved.status_code == 302

    client.force_login(bob)
    page = client.get(runbook_url(incident, runbook.slug)).content.decode()
    assert "Check the <strong>payments</strong> status page." in page


# --- Time limits -------------------------------------------------------------------------------


def test_a_preview_not_computed_before_its_deadline_fails_without_touching_the_cluster(
    k8s, incident, target, alice, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):  # no worker picked it up
        job = job_request(
            incident=incident,
            target=target,
            kind="rollback",
            params={},
            actor=alice,
            request_key=key(),
        )
    Job.objects.filter(pk=job.pk).update(deadline_at=timezone.now() - timedelta(seconds=1))

    job_preview(job_id=job.pk)
    job_preview(job_id=job.pk)

    job.refresh_from_db()
    assert job.state == State.FAILED
    assert "not computed in time" in job.error
    assert not k8s.requests_to("PATCH", f"deployments/{DEPLOYMENT}")
    finished = TimelineEvent.objects.filter(incident=incident, kind="job_finished")
    assert finished.count() == 1


# --- What the pages preselect and explain --------------------------------------------------------


def test_the_histories_preselect_the_entry_before_the_live_one_so_preview_just_works(
    client, k8s, fake_helm, incident, target, alice, django_capture_on_commit_callbacks
):
    fake_helm.add_release(
        "payments-api",
        namespace=NS,
        charts=[("payments-1.0.0", "1.0"), ("payments-1.1.0", "1.1"), ("payments-1.2.0", "1.2")],
    )
    target.helm_release = "payments-api"
    target.save()
    client.force_login(alice)
    slug = "rollback-procedures"
    page = client.get(runbook_url(incident, slug)).content.decode()
    assert '<option value="2" selected>2 · payments-1.1.0' in page

    data = form_data(page, f"form-t{target.pk}-helm_rollback")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("incidents:job_request", kwargs={"pk": incident.pk, "slug": slug}), data
        )

    job = Job.objects.get(kind="helm_rollback")
    assert response.url == job_url(incident, job)
    assert job.state == State.PREVIEW, job.error
    assert job.params["revision"] == 2


def test_the_preview_says_what_it_is_pinned_to(client, k8s, request_job, incident, alice):
    job = request_job("rollback")
    client.force_login(alice)

    page = client.get(job_url(incident, job)).content.decode()

    version = job.pinned["resource_version"]
    assert f"Pinned to payments-api as previewed (its spec, at resourceVersion {version})" in page
    assert "you get a fresh preview" in page
    assert "status updates alone (a crash loop's) don't stop it" in page


def test_the_snapshot_keeps_its_raw_data_on_the_job_page(client, k8s, request_job, incident, bob):
    job = request_job("diagnostics", actor=bob)
    client.force_login(bob)

    page = client.get(job_url(incident, job)).content.decode()
    timeline = client.get(reverse("incidents:detail", kwargs={"pk": incident.pk})).content.decode()

    assert "<summary>Raw output</summary>" in page
    assert "&quot;kubelet_version&quot;: &quot;v1.33.1&quot;" in page  # not in the digest
    assert f"Job #{job.pk} · full result and raw data" in timeline


def test_a_long_previous_log_says_how_much_is_left_out(client, k8s, request_job, incident, bob):
    log = "".join(f"line {n}\n" for n in range(1, 81))
    k8s.add_pod(NS, "payments-api-1", node="node-a", restarts=2, previous_logs=log)

    job = request_job("pod_detail", {"pod": "payments-api-1", "tail_lines": 100}, actor=bob)
    client.force_login(bob)
    page = client.get(job_url(incident, job)).content.decode()

    assert "line 80" in page
    assert "30 earlier lines not shown here" in page


def test_the_control_plane_refusal_reads_cleanly(k8s, request_job):
    k8s.set_readyz(False, failing=("etcd",))

    job = request_job("restart")

    assert job.state == State.REFUSED
    assert job.error == (
        "The control plane is not ready (/readyz failed (500): etcd not ready). "
        "Restore the API server before touching workloads."
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_running_job_page_updates_itself_without_a_reload(browser_page, fake_kubernetes):
    """The <meta refresh> of a moving job works in a real browser (no JavaScript needed)."""
    from incidents.runbooks.models import Cluster
    from tests.test_browser import log_in

    sync_api = pytest.importorskip("playwright.sync_api")
    page = browser_page
    _fake, config = fake_kubernetes
    alice = factories.responder("alice", first_name="Alice")
    team = factories.TeamFactory(name="Payments", slug="payments")
    payments = factories.ServiceFactory(name="Payments API", slug="payments-api", team=team)
    cluster = Cluster.objects.create(name="prod-eu", kubeconfig_path=config.kubeconfig_path)
    target = KubernetesTarget.objects.create(
        service=payments, name="production", cluster=cluster, namespace=NS, deployments=[DEPLOYMENT]
    )
    incident = factories.declared(alice, services=[payments])
    job = Job.objects.create(
        incident=incident,
        target=target,
        kind="rollout_status",
        params={"deployment": DEPLOYMENT},
        state=State.RUNNING,
        request_key=str(uuid.uuid4()),
        requested_by=alice,
        summary="0 out of 3 new replicas have been updated",
    )

    log_in(page, "alice")
    page.goto(f"{page.base_url}{job_url(incident, job)}")
    sync_api.expect(page.locator("#job-state")).to_contain_text("Running")
    Job.objects.filter(pk=job.pk).update(
        state=State.SUCCEEDED,
        finished_at=timezone.now(),
        summary=f"Deployment {DEPLOYMENT} rolled out: {IMAGES[0]}",
    )

    sync_api.expect(page.locator("#job-state")).to_contain_text("Succeeded", timeout=10_000)
    sync_api.expect(page.locator("#result")).to_contain_text("rolled out")
