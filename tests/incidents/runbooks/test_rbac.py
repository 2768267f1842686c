"""deploy/kubernetes/firebreak-rbac.yaml grants exactly what the Kubernetes adapter calls."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
ADAPTER = ROOT / "portal" / "integrations" / "kubernetes"
RBAC = ROOT / "deploy" / "kubernetes" / "firebreak-rbac.yaml"
# Every API call in the adapter names itself: what=("verb", "resource[.group]", namespace, name).
CALL = re.compile(r'what=\("(?P<verb>\w+)", "(?P<resource>[\w./-]+)", (?P<namespace>[^,]+),')


def split(resource: str) -> tuple[str, str]:
    """Return (API group, resource) of "deployments.apps", "pods/log", "nodes.metrics.k8s.io"."""
    name, _, group = resource.partition(".")
    return group, name


def used_by_adapter() -> tuple[set[tuple[str, str, str]], set[tuple[str, str, str]]]:
    """Return the adapter's (group, resource, verb) calls: all of them, and cluster-wide ones."""
    used, cluster_wide = set(), set()
    source = "\n".join(module.read_text() for module in sorted(ADAPTER.glob("*.py")))
    for match in CALL.finditer(source):
        group, resource = split(match["resource"])
        call = (group, resource, match["verb"])
        used.add(call)
        if match["namespace"].strip() in ('""', '"kube-system"'):
            cluster_wide.add(call)
    return used, cluster_wide


def granted() -> tuple[dict[str, set[tuple[str, str, str]]], set[str]]:
    """Return each role's (group, resource, verb) grants, and the non-resource URLs."""
    roles: dict[str, set[tuple[str, str, str]]] = {}
    urls = set()
    for document in yaml.safe_load_all(RBAC.read_text()):
        if document["kind"] not in ("Role", "ClusterRole"):
            continue
        grants = roles.setdefault(document["metadata"]["name"], set())
        for rule in document["rules"]:
            if "nonResourceURLs" in rule:
                urls.update(rule["nonResourceURLs"])
                continue
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    grants.update((group, resource, verb) for verb in rule["verbs"])
    return roles, urls


def test_the_rbac_file_grants_exactly_the_calls_the_jobs_make():
    used, cluster_wide = used_by_adapter()
    roles, urls = granted()

    assert used, "the adapter's calls were not found"
    assert set().union(*roles.values()) == used
    assert cluster_wide <= roles["firebreak-jobs-cluster"]
    assert roles["firebreak-argocd-applications"] == {
        ("argoproj.io", "applications", "get"),
        ("argoproj.io", "applications", "patch"),
    }
    assert urls == {"/readyz"}
