import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from incidents.models import TimelineEvent
from incidents.runbooks.models import Cluster, Job, KubernetesTarget
from incidents.runbooks.services import job_confirm, job_request
from portal.models import Timer
from portal.timers import timers_sweep
from tests import factories

NS = "production"
DEPLOYMENT = "payments-api"
IMAGES = [f"registry.example.com/payments-api:v{n}" for n in (1, 2, 3)]


@pytest.fixture
def k8s(fake_kubernetes):
    """The fake cluster with the payments Deployment at v3 (history v1, v2) and two nodes."""
    fake, _config = fake_kubernetes
    fake.add_namespace(NS)
    fake.add_node("node-a", internal_ip="10.0.0.1")
    fake.add_node("node-b", internal_ip="10.0.0.2")
    fake.add_deployment(
        NS, DEPLOYMENT, image=IMAGES[2], revisions=IMAGES[:2], pods=2, node="node-a"
    )
    return fake


@pytest.fixture
def cluster(db, fake_kubernetes):
    _fake, config = fake_kubernetes
    return Cluster.objects.create(
        name="prod-eu",
        kubeconfig_path=config.kubeconfig_path,
        context=config.context,
        request_timeout_seconds=5,
    )


@pytest.fixture
def target(cluster, payments):
    return KubernetesTarget.objects.create(
        service=payments,
        name="production",
        cluster=cluster,
        namespace=NS,
        deployments=[DEPLOYMENT],
        pod_selector=f"app={DEPLOYMENT}",
        kubernetes_service=DEPLOYMENT,
    )


@pytest.fixture
def incident(alice, payments):
    """A P1 on the payments service; alice declared it and is its Incident Commander."""
    return factories.declared(alice, services=[payments])


def key() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def run_commits(django_capture_on_commit_callbacks):
    """Call a function and run what it (and the tasks it enqueues) do after commit."""

    def run(function, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return function(*args, **kwargs)

    return run


@pytest.fixture
def request_job(run_commits, incident, target, alice):
    """Request a job as someone (alice, the IC, by default) with the workers running it."""

    def request(kind, params=None, *, actor=None, on=None, **kwargs):
        job = run_commits(
            job_request,
            incident=on or incident,
            target=kwargs.pop("target", target),
            kind=kind,
            params=params or {},
            actor=actor or alice,
            request_key=kwargs.pop("request_key", key()),
            **kwargs,
        )
        job.refresh_from_db()
        return job

    return request


@pytest.fixture
def confirm(run_commits):
    def do(job, actor=None):
        run_commits(job_confirm, job=job, actor=actor or job.requested_by)
        job.refresh_from_db()
        return job

    return do


def fire_timers(run_commits) -> int:
    """Make every pending timer due now and sweep (what the beat does, minus the wait)."""
    Timer.objects.filter(state=Timer.State.PENDING).update(
        due_at=timezone.now() - timedelta(seconds=1)
    )
    return run_commits(timers_sweep)


def fire_rollout_polls(run_commits) -> int:
    """Make the pending rollout polls due now and sweep."""
    Timer.objects.filter(state=Timer.State.PENDING, kind="runbooks.rollout_poll").update(
        due_at=timezone.now() - timedelta(seconds=1)
    )
    return run_commits(timers_sweep)


def job_events(incident) -> list[tuple[str, str]]:
    """Return the incident's job events as (kind, message), in order."""
    return list(
        TimelineEvent.objects.filter(
            incident=incident,
            kind__in=["job_requested", "job_confirmed", "job_finished"],
        )
        .order_by("occurred_at", "id")
        .values_list("kind", "message")
    )


def applied_patches(fake, path="deployments/payments-api"):
    """Return the PATCH requests that changed something (not server-side dry runs)."""
    return [r for r in fake.requests_to("PATCH", path) if r.query.get("dryRun") != "All"]


def child(job, kind) -> Job:
    return Job.objects.get(parent=job, kind=kind)
