"""The forms the chat shows in a dialog: the runbook's status update template."""

from incidents.models import Incident, UpdateStatus, update_status_for
from incidents.selectors import incident_status_updates
from portal.integrations.chat import Modal, ModalInput

STATUS_UPDATE_CALLBACK = "incident_status_update"
STATUS_WORDS = ", ".join(UpdateStatus.values[:-1]) + f" or {UpdateStatus.values[-1]}"
# Block ids are the web form's field names, so its errors map onto the dialog one to one.
STATUS_UPDATE_FIELDS = ("status", "impact", "last_action", "next_action", "eta")


def status_update_modal(*, incident: Incident) -> Modal:
    """Return the status update form for the incident, prefilled as the web form is."""
    latest = incident_status_updates(incident=incident).first()
    impact = latest.impact if latest is not None else incident.impact
    return Modal(
        callback=STATUS_UPDATE_CALLBACK,
        title=f"Update {incident.reference}"[:24],
        submit="Post update",
        intro=f"{incident.reference} ({incident.severity.code}): {incident.title}"[:3000],
        metadata=str(incident.pk),
        inputs=(
            ModalInput(
                block="status",
                label="Status",
                initial=update_status_for(incident.status),
                hint=f"{STATUS_WORDS}. RESOLVED does not resolve the incident: "
                "use /incident resolve for that.",
                max_length=20,
            ),
            ModalInput(
                block="impact",
                label="Impact",
                initial=impact,
                multiline=True,
                hint="What is broken and who is affected.",
            ),
            ModalInput(
                block="last_action", label="Last action", multiline=True, hint="What we just tried."
            ),
            ModalInput(
                block="next_action",
                label="Next action",
                multiline=True,
                hint="What we are doing now.",
            ),
            ModalInput(
                block="eta",
                label="ETA",
                initial="unknown",
                optional=True,
                hint='An estimate, or "unknown".',
                max_length=100,
            ),
        ),
    )
