"""Seed the runbook's six playbooks with their guidance and one-click jobs (edited in the admin).

The guidance is RUNBOOK.md's, with each command in a code block: the ones Firebreak runs are
named next to their job; the AWS, netshoot and systemctl ones stay copyable guidance only.
"""

from django.db import migrations

FIRST_FIVE_MINUTES = """\
Immediately when paged:

1. Acknowledge the page.
2. Open the incident channel and post the initial update in #incidents:
   "⚠️ INCIDENT: Payments service returning 503. Investigating. IC: @alice"

Quick diagnosis, in parallel — the **Diagnostics snapshot** job runs all of these at once:

```
kubectl get pods -n production | grep -v Running
kubectl get events -n production --sort-by='.lastTimestamp' | tail -20
kubectl top nodes
kubectl get nodes -o wide
```

If the snapshot cannot reach the cluster, run the **Control-plane check** and switch to
*etcd / API server issues*.

Check the Grafana dashboards (bookmark these):

- API p99 latency
- Error rate
- Pod restart count
- Node CPU/memory
"""

ALL_PODS_CRASHING = """\
Find the crash-looping pods and why they die — the **Diagnostics snapshot** lists crash loops
across namespaces, and **Pod detail** shows one pod's events, last termination and previous log:

```
kubectl get pods -A | grep CrashLoop
kubectl describe pod <pod> -n <ns>
kubectl logs <pod> -n <ns> --previous
```

Common cause: a bad deploy (wrong config, broken image).

Immediate mitigation — **Roll back a Deployment** (then **Wait for rollout** runs by itself):

```
kubectl rollout undo deployment <deploy> -n <ns>
kubectl rollout status deployment <deploy> -n <ns>
```

If Argo CD is auto-syncing back to the broken state, turn auto-sync off — Firebreak does this
first, automatically, before any change to an Argo CD-managed service, and keeps the old
setting so **Argo CD auto-sync restore** puts it back exactly:

```
kubectl patch application <app> -n argocd \\
  --type merge -p '{"spec":{"syncPolicy":{"automated":null}}}'
```

If the cause was a ConfigMap change, use **ConfigMap restore from git** (see *Rollback
procedures*).
"""

TRAFFIC_DROPPED = """\
Check the endpoints and the pods — the **Diagnostics snapshot** shows the Service's
EndpointSlices and the pods of its selector:

```
kubectl get endpoints <svc> -n <ns>
kubectl get pods -n <ns> -l app=<app>
```

Trace the path from inside the cluster (copy and run it yourself; Firebreak starts no
arbitrary pods):

```
kubectl run debug --image=nicolaka/netshoot --rm -it -n <ns> -- \\
  curl -v http://<svc>.<ns>.svc.cluster.local:<port>/healthz
```

If the pods are unhealthy: **Roll back a Deployment**, or **Restart a Deployment**:

```
kubectl rollout restart deployment <deploy> -n <ns>
```

If a NetworkPolicy changed recently — the snapshot lists the namespace's policies with their
creation and last-change times:

```
kubectl get networkpolicy -n <ns>
kubectl describe networkpolicy <np> -n <ns>
```
"""

NODE_GROUP_FAILURE = """\
```
kubectl get nodes
```

Several nodes showing NotReady? Check whether their pods rescheduled (they will if other
nodes have capacity) — the **Diagnostics snapshot** lists the pods on NotReady nodes:

```
kubectl get pods -A -o wide | grep <dead-node>
```

For cloud node groups, check whether the auto-scaling group is replacing instances (copy and
run it yourself; Firebreak has no AWS access):

```
aws autoscaling describe-auto-scaling-groups \\
  --auto-scaling-group-names workers-asg \\
  --query 'AutoScalingGroups[0].{Desired:DesiredCapacity,Running:Instances[?LifecycleState==`InService`]|length(@)}'
```

Force pod migration from a dead node if its pods are stuck — **Delete a dead node** (the
preview lists the pods that will reschedule):

```
kubectl delete node <dead-node>   # removes it from the API server → triggers rescheduling
```
"""

API_SERVER_ISSUES = """\
kubectl not responding: "The connection to the server was refused".

Check the control plane — the **Control-plane check** reads `/readyz` and the kube-system
control-plane pods when they are visible:

```
curl -k https://<api-server-ip>:6443/healthz
kubectl get pod -n kube-system etcd-<cp-node>
```

Copy and run these yourself where they apply:

```
# EKS: check in the console, or
aws eks describe-cluster --name <cluster> --query 'cluster.status'

# kubeadm: is etcd running? (on a control-plane node)
systemctl status etcd
```

**Emergency: if the API server is down, kubelets keep running the existing pods.** Focus on
restoring the API server before touching any workloads — while the check fails, Firebreak
refuses every job that would change the cluster.
"""

ROLLBACK_PROCEDURES = """\
### Application rollback (Deployment)

**Roll back a Deployment** lists the rollout history to choose from; leave the revision empty
for the previous one:

```
kubectl rollout history deployment <deploy> -n <ns>
kubectl rollout undo deployment <deploy> -n <ns>
kubectl rollout undo deployment <deploy> --to-revision=<N> -n <ns>
```

### Argo CD rollback (disable auto-sync first)

**Argo CD rollback** lists the application's history; auto-sync goes off first, automatically:

```
kubectl patch application <app> -n argocd \\
  --type merge -p '{"spec":{"syncPolicy":{"automated":null}}}'
argocd app rollback <app> --revision <N>
```

When the fix is in git, **Argo CD auto-sync restore** puts back the exact previous setting.

### Helm rollback

**Helm rollback** lists `helm history` to choose from (it needs `helm` on the workers):

```
helm history payments-api -n production
helm rollback payments-api <revision> -n production
```

### Roll back a ConfigMap change (restore from git)

**ConfigMap restore from git** lists the manifest's commits and previews the change as a diff:

```
git show HEAD~1:k8s/production/configmap.yaml | kubectl apply -f -
```

### Emergency image pin (bypass GitOps temporarily)

**Emergency image pin** turns Argo CD auto-sync off first and opens the action item "Remove
the image pin and restore GitOps":

```
kubectl set image deployment/payments-api \\
  payments-api=myrepo/payments-api:sha-abc123 \\
  -n production
```
"""

RUNBOOKS = [
    {
        "slug": "first-5-minutes-p1",
        "title": "First 5 minutes of a P1",
        "summary": "Acknowledge, open the channel, post the first update, run the diagnostics.",
        "guidance": FIRST_FIVE_MINUTES,
        "jobs": ["diagnostics", "control_plane"],
        "suggest_for_all": True,
        "position": 10,
    },
    {
        "slug": "all-pods-crashing",
        "title": "All pods crashing",
        "summary": "Crash loops after a bad deploy: find why, roll back, keep Argo CD from undoing it.",
        "guidance": ALL_PODS_CRASHING,
        "jobs": [
            "diagnostics",
            "pod_detail",
            "rollback",
            "rollout_status",
            "argo_sync_off",
            "argo_sync_restore",
        ],
        "suggest_for_all": False,
        "position": 20,
    },
    {
        "slug": "service-traffic-dropped-to-zero",
        "title": "Service traffic dropped to zero",
        "summary": "No endpoints, unhealthy pods, or a NetworkPolicy change.",
        "guidance": TRAFFIC_DROPPED,
        "jobs": ["diagnostics", "rollback", "restart", "rollout_status"],
        "suggest_for_all": False,
        "position": 30,
    },
    {
        "slug": "node-group-failure",
        "title": "Node group failure",
        "summary": "Nodes NotReady: check rescheduling, the auto-scaling group, delete dead nodes.",
        "guidance": NODE_GROUP_FAILURE,
        "jobs": ["diagnostics", "delete_node"],
        "suggest_for_all": False,
        "position": 40,
    },
    {
        "slug": "etcd-api-server-issues",
        "title": "etcd / API server issues",
        "summary": "kubectl not responding: restore the API server before touching workloads.",
        "guidance": API_SERVER_ISSUES,
        "jobs": ["control_plane"],
        "suggest_for_all": False,
        "position": 50,
    },
    {
        "slug": "rollback-procedures",
        "title": "Rollback procedures",
        "summary": "Deployment, Argo CD, Helm, ConfigMap from git, emergency image pin.",
        "guidance": ROLLBACK_PROCEDURES,
        "jobs": [
            "rollback",
            "argo_sync_off",
            "argo_rollback",
            "argo_sync_restore",
            "helm_rollback",
            "configmap_restore",
            "image_pin",
            "restart",
            "rollout_status",
        ],
        "suggest_for_all": False,
        "position": 60,
    },
]

MANAGER_PERMISSIONS = ["view_runbook", "change_runbook", "view_runbookflag", "change_runbookflag"]


def seed(apps, schema_editor):
    runbook = apps.get_model("runbooks", "Runbook")
    for row in RUNBOOKS:
        # Never overwrite a runbook someone already edited.
        runbook.objects.get_or_create(slug=row["slug"], defaults=row)
    _grant(apps)


def _grant(apps):
    """Let managers edit runbooks and resolve their flags in the back-office."""
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("runbooks")
    previous = getattr(app_config, "models_module", None)
    app_config.models_module = previous or True  # a migration state's app stub has none
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = previous
    group = apps.get_model("auth", "Group").objects.filter(name="managers").first()
    if group is None:
        return
    permission_model = apps.get_model("auth", "Permission")
    group.permissions.add(
        *permission_model.objects.filter(
            content_type__app_label="runbooks", codename__in=MANAGER_PERMISSIONS
        )
    )


def unseed(apps, schema_editor):
    apps.get_model("runbooks", "Runbook").objects.filter(
        slug__in=[row["slug"] for row in RUNBOOKS]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("runbooks", "0001_initial"), ("portal", "0002_groups")]

    operations = [migrations.RunPython(seed, unseed)]
