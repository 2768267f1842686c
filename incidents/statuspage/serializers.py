"""Statuspage public API v2 shapes (FORMATS.md), built from public records only.

Plain functions returning dicts, shared by the v2 JSON views, the snapshots and the subscriber
webhooks. They read public fields only: never the linked internal incident, who published an
update, or anything else internal. Times are ISO 8601 in the page's time zone, with its offset.
"""

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from django.urls import reverse

from portal.links import absolute_url

from .models import Component, PageSettings, PublicIncident, PublicUpdate
from .selectors import (
    ComponentGroupEntry,
    Indicator,
    PublicState,
    page_settings_get,
    page_time_zone,
    status_get,
)
from .version import status_version_current

Payload = dict[str, Any]


def _time(value: datetime | None, page: PageSettings) -> str | None:
    if value is None:
        return None
    return value.astimezone(page_time_zone(page)).isoformat(timespec="milliseconds")


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def public_link(path: str = "", *, page: PageSettings | None = None) -> str:
    """Return the absolute public URL of a path below the status page ("" for the page itself).

    The page's own address when one is configured (a status host of its own), else the portal's
    base URL with /status/.
    """
    page = page or page_settings_get()
    base = page.url or absolute_url(reverse("status:page"))
    return base.rstrip("/") + "/" + path.lstrip("/")


def incident_link(public_incident: PublicIncident, *, page: PageSettings | None = None) -> str:
    """Return the absolute public URL of an incident's page (its Statuspage `shortlink`)."""
    return public_link(f"incidents/{public_incident.public_id}/", page=page)


def page_payload(page: PageSettings | None = None) -> Payload:
    """Return the `page` object; `updated_at` is when the public status last changed."""
    page = page or page_settings_get()
    return {
        "id": page.public_id,
        "name": page.name,
        "url": public_link(page=page),
        "time_zone": page.time_zone,
        "updated_at": _time(status_version_current().changed_at, page),
    }


def status_payload(indicator: Indicator | None = None) -> Payload:
    """Return the `status` object (indicator and description)."""
    indicator = indicator or status_get()
    return {"indicator": indicator.indicator, "description": indicator.description}


def component_payload(component: Component, *, page: PageSettings | None = None) -> Payload:
    """Return one component as Statuspage shows it (`group` is false: it is not a group)."""
    page = page or page_settings_get()
    group = component.group if component.group_id else None
    return {
        "id": component.public_id,
        "name": component.name,
        "status": component.status,
        "created_at": _time(component.created_at, page),
        "updated_at": _time(component.updated_at, page),
        "position": component.position,
        "description": component.description or None,
        "showcase": component.showcase,
        "start_date": _day(component.start_date),
        "group_id": group.public_id if group else None,
        "page_id": page.public_id,
        "group": False,
        "only_show_if_degraded": component.only_show_if_degraded,
    }


def component_group_payload(
    entry: ComponentGroupEntry, *, page: PageSettings | None = None
) -> Payload:
    """Return a group as Statuspage lists it among components: `group` true, child ids."""
    page = page or page_settings_get()
    group = entry.group
    return {
        "id": group.public_id,
        "name": group.name,
        "status": entry.status,
        "created_at": _time(group.created_at, page),
        "updated_at": _time(group.updated_at, page),
        "position": group.position,
        "description": group.description or None,
        "showcase": False,
        "start_date": None,
        "group_id": None,
        "page_id": page.public_id,
        "group": True,
        "only_show_if_degraded": False,
        "components": [c.public_id for c in entry.components],
    }


def components_payload(
    layout: Sequence[Component | ComponentGroupEntry], *, page: PageSettings
) -> list[Payload]:
    """Return the `components` list: each group followed by its components, in position order."""
    result = []
    for entry in layout:
        if isinstance(entry, ComponentGroupEntry):
            result.append(component_group_payload(entry, page=page))
            result.extend(component_payload(c, page=page) for c in entry.components)
        else:
            result.append(component_payload(entry, page=page))
    return result


def incident_update_payload(
    update: PublicUpdate,
    *,
    public_incident: PublicIncident | None = None,
    page: PageSettings | None = None,
) -> Payload:
    """Return one `incident_updates` entry with its affected components."""
    page = page or page_settings_get()
    public_incident = public_incident or update.public_incident
    return {
        "id": update.public_id,
        "status": update.status,
        "body": update.body,
        "incident_id": public_incident.public_id,
        "created_at": _time(update.created_at, page),
        "updated_at": _time(update.updated_at, page),
        "display_at": _time(update.display_at, page),
        "affected_components": [
            {
                "code": change.component.public_id,
                "name": change.component.name,
                "old_status": change.old_status,
                "new_status": change.new_status,
            }
            for change in update.affected_components.all()
        ],
        "deliver_notifications": update.deliver_notifications,
    }


def incident_payload(
    public_incident: PublicIncident, *, page: PageSettings | None = None
) -> Payload:
    """Return a public incident, or a scheduled maintenance (with `scheduled_for`/`_until`)."""
    page = page or page_settings_get()
    pi = public_incident
    payload: Payload = {
        "id": pi.public_id,
        "name": pi.name,
        "status": pi.status,
        "impact": pi.impact,
        "shortlink": incident_link(pi, page=page),
        "started_at": _time(pi.started_at, page),
        "monitoring_at": _time(pi.monitoring_at, page),
        "resolved_at": _time(pi.resolved_at, page),
        "created_at": _time(pi.created_at, page),
        "updated_at": _time(pi.updated_at, page),
        "page_id": page.public_id,
        "components": [
            component_payload(c, page=page)
            for c in sorted(pi.components.all(), key=lambda c: (c.position, c.name, c.pk))
        ],
        "incident_updates": [
            incident_update_payload(u, public_incident=pi, page=page) for u in pi.updates.all()
        ],
    }
    if pi.kind == PublicIncident.Kind.MAINTENANCE:
        payload["scheduled_for"] = _time(pi.scheduled_for, page)
        payload["scheduled_until"] = _time(pi.scheduled_until, page)
    return payload


def incidents_payload(records: Sequence[PublicIncident], *, page: PageSettings) -> list[Payload]:
    """Return a list of incidents or maintenances."""
    return [incident_payload(r, page=page) for r in records]


def summary_payload(state: PublicState) -> Payload:
    """Return summary.json: page, components, unresolved incidents, maintenance and status."""
    page = state.page
    return {
        "page": page_payload(page),
        "components": components_payload(state.layout, page=page),
        "incidents": incidents_payload(state.incidents, page=page),
        "scheduled_maintenances": incidents_payload(state.maintenances, page=page),
        "status": status_payload(state.status),
    }
