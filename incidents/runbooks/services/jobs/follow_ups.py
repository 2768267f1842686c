"""What a finished change leads to: "wait for rollout" jobs, and the image pin's action item.

Called by .outcome once a mutating job's success is recorded, in the same transaction; also
after a reconciliation, since the interrupted attempt never got this far.
"""

from django.utils import timezone

from incidents.models import Source, TimelineEvent
from portal.errors import InvalidInputError

from ...models import Job
from .. import kinds
from .common import K, State, _record, rollout_wait
from .wakeups import _wake_after_commit

IMAGE_PIN_FOLLOW_UP = "Remove the image pin on {deployment} and restore GitOps"


def _follow_ups(job: Job) -> None:
    """Chain "wait for rollout" after a change, and the image pin's action item.

    Also after a reconciliation: the interrupted attempt never got this far.
    """
    if job.kind == K.IMAGE_PIN:
        _image_pin_action_item(job)
    if job.kind not in kinds.ROLLOUT_CHAINED_KINDS:
        return
    now = timezone.now()
    for index, deployment in enumerate(kinds.deployments_to_watch(job)):
        waiter, created = Job.objects.get_or_create(
            request_key=f"job{job.pk}-rollout-{index}",
            defaults={
                "incident": job.incident,
                "target": job.target,
                "runbook": job.runbook,
                "kind": K.ROLLOUT_STATUS,
                "params": {"deployment": deployment},
                "state": State.QUEUED,
                "parent": job,
                "requested_by": job.requested_by,
                "deadline_at": now + rollout_wait(),
            },
        )
        if created:
            _record(
                waiter,
                TimelineEvent.Kind.JOB_REQUESTED,
                actor=None,
                source=Source.SYSTEM,
                message=f"Waiting for deployment {deployment} to roll out after job #{job.pk}.",
            )
            _wake_after_commit(waiter)


def _image_pin_action_item(job: Job) -> None:
    """Open the follow-up "remove the pin and restore GitOps", owned by the requester."""
    from postmortems.services.action_items import action_item_follow_up

    deployment = job.params["deployment"]
    title = IMAGE_PIN_FOLLOW_UP.format(deployment=deployment)
    description = (
        f"Job #{job.pk} pinned deployment {deployment} in {job.target.namespace} to "
        f"{job.params['image']}, bypassing GitOps"
        + (
            f" (Argo CD auto-sync of {job.target.argo_application} is off)."
            if job.target.argo_application
            else "."
        )
        + " Put the fix in git, restore auto-sync, and remove the pin."
    )
    try:
        item = action_item_follow_up(
            incident=job.incident,
            title=title,
            description=description,
            owner=job.requested_by,
            created_by=job.requested_by,
        )
    except InvalidInputError as exc:
        _record(
            job,
            TimelineEvent.Kind.NOTE,
            actor=None,
            source=Source.SYSTEM,
            message=f"Follow-up needed: {title}. (Not opened as an action item: {exc.message})",
        )
        return
    Job.objects.filter(pk=job.pk).update(output={**job.output, "action_item_id": item.pk})
    job.output = {**job.output, "action_item_id": item.pk}
