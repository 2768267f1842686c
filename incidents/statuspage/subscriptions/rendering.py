"""Rendering: what an event says to subscribers, as an email and as a Statuspage webhook body.

An event key (`update:<pk>`, `component:<pk>`, `maintenance:<pk>[:<suffix>]`) is loaded once
into an _Event; its email is rendered once per event, with a placeholder for each subscriber's
own unsubscribe link, and every delivery's payload is built from it when the delivery is
created (.delivery), so every attempt sends the same bytes.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.template.loader import render_to_string
from django.utils import timezone

from .. import webhooks
from ..models import (
    ComponentStatus,
    ComponentStatusChange,
    PageSettings,
    PublicIncident,
    PublicIncidentStatus,
    PublicUpdate,
    Subscriber,
)
from ..selectors import page_time_zone
from ..serializers import (
    component_payload,
    incident_link,
    incident_payload,
    public_link,
    status_payload,
)
from .subscribers import _link, unsubscribe_url

# Stands for the subscriber's own unsubscribe link in a message rendered once per event.
_UNSUBSCRIBE_PLACEHOLDER = "https://unsubscribe.invalid/__token__/"


def _documentation_url(page: PageSettings) -> str:
    return _link("status:subscribe", page=page) + "#webhooks"


# --- Events ---------------------------------------------------------------------------------------


@dataclass
class _Event:
    key: str
    kinds: tuple[str, ...]
    component_ids: set[int]
    subject: str
    email_context: dict[str, Any]
    webhook_event: dict[str, Any] = field(default_factory=dict)


def _format_time(moment: datetime | None, page: PageSettings) -> str:
    if moment is None:
        return ""
    local = timezone.localtime(moment, ZoneInfo(page.time_zone))
    return f"{local:%d %b %Y, %H:%M} {local.tzname()}"


def _page_block(page: PageSettings) -> dict[str, Any]:
    status = status_payload()
    return {
        "id": page.public_id,
        "status_indicator": status["indicator"],
        "status_description": status["description"],
    }


def _status_label(status: str) -> str:
    return PublicIncidentStatus(status).label if status in PublicIncidentStatus.values else status


def _component_label(status: str) -> str:
    return ComponentStatus(status).label if status in ComponentStatus.values else status


def _event_update(pk: int, page: PageSettings) -> _Event | None:
    update = PublicUpdate.objects.select_related("public_incident").filter(pk=pk).first()
    if update is None or not update.deliver_notifications:
        return None
    incident = update.public_incident
    affected = list(update.affected_components.select_related("component"))
    component_ids = set(incident.components.values_list("pk", flat=True))
    component_ids.update(change.component_id for change in affected)
    status_label = _status_label(update.status)
    return _Event(
        key=f"update:{pk}",
        kinds=(Subscriber.Kind.EMAIL, Subscriber.Kind.WEBHOOK),
        component_ids=component_ids,
        subject=f"[{page.name}] {incident.name}: {status_label}",
        email_context={
            "kind": "update",
            "title": incident.name,
            "status_label": status_label,
            "is_maintenance": incident.kind == PublicIncident.Kind.MAINTENANCE,
            "body": update.body,
            "when": _format_time(update.display_at, page),
            "scheduled_for": _format_time(incident.scheduled_for, page),
            "scheduled_until": _format_time(incident.scheduled_until, page),
            "affected": [
                {"name": change.component.name, "status": _component_label(change.new_status)}
                for change in affected
            ],
            "link": incident_link(incident, page=page),
        },
        webhook_event={
            "page": _page_block(page),
            "incident": incident_payload(incident, page=page),
        },
    )


def _event_component(pk: int, page: PageSettings) -> _Event | None:
    change = ComponentStatusChange.objects.select_related("component").filter(pk=pk).first()
    if change is None:
        return None
    component = change.component
    # A change made by a public incident or maintenance reaches email subscribers through that
    # incident's own updates; webhooks get every component change, as Statuspage sends them.
    kinds: tuple[str, ...] = (Subscriber.Kind.WEBHOOK,)
    if change.public_incident_id is None:
        kinds = (Subscriber.Kind.EMAIL, Subscriber.Kind.WEBHOOK)
    new_label = _component_label(change.new_status)
    update_id = webhooks.webhook_message_id(change.pk).removeprefix("msg_")[:12]
    return _Event(
        key=f"component:{pk}",
        kinds=kinds,
        component_ids={component.pk},
        subject=f"[{page.name}] {component.name}: {new_label}",
        email_context={
            "kind": "component",
            "title": component.name,
            "status_label": new_label,
            "old_status_label": _component_label(change.old_status) if change.old_status else "",
            "when": _format_time(change.changed_at, page),
            "link": public_link(page=page),
        },
        webhook_event={
            "page": _page_block(page),
            "component_update": {
                "created_at": change.changed_at.astimezone(page_time_zone(page)).isoformat(
                    timespec="milliseconds"
                ),
                "new_status": change.new_status,
                "old_status": change.old_status or None,
                "id": update_id,
                "component_id": component.public_id,
            },
            "component": component_payload(component, page=page),
        },
    )


def _event_maintenance(pk: int, key: str, page: PageSettings) -> _Event | None:
    maintenance = PublicIncident.objects.filter(pk=pk, kind=PublicIncident.Kind.MAINTENANCE).first()
    if maintenance is None or maintenance.is_finished:
        return None
    latest = maintenance.updates.order_by("-display_at", "-id").first()
    # A reminder goes by email only: a webhook receiver already got the maintenance's
    # updates, and the Statuspage webhook shape has no reminder event.
    return _Event(
        key=key,
        kinds=(Subscriber.Kind.EMAIL,),
        component_ids=set(maintenance.components.values_list("pk", flat=True)),
        subject=(
            f"[{page.name}] Scheduled maintenance: {maintenance.name} "
            f"starts {_format_time(maintenance.scheduled_for, page)}"
        ),
        email_context={
            "kind": "maintenance",
            "title": maintenance.name,
            "status_label": _status_label(maintenance.status),
            "is_maintenance": True,
            "body": latest.body if latest is not None else "",
            "scheduled_for": _format_time(maintenance.scheduled_for, page),
            "scheduled_until": _format_time(maintenance.scheduled_until, page),
            "affected": [
                {"name": component.name, "status": ""} for component in maintenance.components.all()
            ],
            "link": incident_link(maintenance, page=page),
        },
    )


def _event_load(event_key: str, page: PageSettings) -> _Event | None:
    kind, _, rest = event_key.partition(":")
    number = rest.partition(":")[0]
    if not number.isdigit():
        raise ValueError(f"Unknown event key {event_key!r}.")
    if kind == "update" and rest.isdigit():
        return _event_update(int(rest), page)
    if kind == "component" and rest.isdigit():
        return _event_component(int(rest), page)
    if kind == "maintenance":
        # `maintenance:<pk>` may carry a suffix (the window) so a rescheduled one reminds again.
        return _event_maintenance(int(number), event_key, page)
    raise ValueError(f"Unknown event key {event_key!r}.")


# --- Messages -------------------------------------------------------------------------------------


def _rendered_email(event: _Event, page: PageSettings) -> dict[str, str]:
    context = {
        **event.email_context,
        "page": page,
        "page_url": public_link(page=page),
        "unsubscribe_url": _UNSUBSCRIBE_PLACEHOLDER,
    }
    return {
        "subject": event.subject,
        "text": render_to_string("statuspage/email/notification.txt", context),
        "html": render_to_string("statuspage/email/notification.html", context),
    }


def _payload(
    subscriber: Subscriber, event: _Event, email: dict[str, str], page: PageSettings
) -> dict[str, Any]:
    unsubscribe = unsubscribe_url(subscriber, page=page)
    if subscriber.kind == Subscriber.Kind.WEBHOOK:
        body = webhooks.webhook_body(
            unsubscribe_url=unsubscribe,
            documentation_url=_documentation_url(page),
            event=event.webhook_event,
        )
        return {"body": body}
    return {
        "subject": email["subject"],
        "text": email["text"].replace(_UNSUBSCRIBE_PLACEHOLDER, unsubscribe),
        "html": email["html"].replace(_UNSUBSCRIBE_PLACEHOLDER, unsubscribe),
        "unsubscribe": unsubscribe,
    }
