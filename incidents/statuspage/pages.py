"""The public HTML pages: the status page, its history and one incident.

Rendered without the request (no session, no user, no CSRF token), so one rendering serves
everyone from the shared cache, and in the page's time zone whoever asks.
"""

from datetime import timedelta
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_safe

from .models import PageSettings
from .publiccache import public_cached
from .selectors import (
    UPTIME_DAYS,
    history_get,
    page_settings_get,
    page_time_zone,
    public_incident_get,
    status_page_get,
)
from .version import status_version_current

# The page shows today's uptime bar and the history this month: render them again at least
# this often, even when nothing was published.
TIME_SLOT = timedelta(minutes=15)


def _render(template: str, page: PageSettings, context: dict[str, Any]) -> HttpResponse:
    with timezone.override(page_time_zone(page)):
        html = render_to_string(
            template,
            {"page": page, "last_updated": status_version_current().changed_at, **context},
        )
    return HttpResponse(html)


@require_safe
@public_cached(refresh_every=TIME_SLOT)
def status_page(request: HttpRequest) -> HttpResponse:
    data = status_page_get()
    state = data.state
    return _render(
        "statuspage/public/page.html",
        state.page,
        {
            "status": state.status,
            "incidents": state.incidents,
            "active_maintenances": state.active_maintenances,
            "upcoming_maintenances": state.upcoming_maintenances,
            "sections": data.sections,
            "uptime_days": UPTIME_DAYS,
        },
    )


@require_safe
@public_cached(query=("page",), refresh_every=TIME_SLOT)
def history(request: HttpRequest) -> HttpResponse:
    try:
        page_number = int(request.GET.get("page", "1"))
    except ValueError:
        page_number = 0
    page = page_settings_get()
    result = history_get(page_number=page_number, page=page)
    if result.out_of_range:
        raise Http404("No history this old.")
    return _render("statuspage/public/history.html", page, {"history": result})


@require_safe
@public_cached
def incident(request: HttpRequest, public_id: str) -> HttpResponse:
    record = public_incident_get(public_id=public_id)
    if record is None:
        raise Http404("No such incident.")
    return _render("statuspage/public/incident.html", page_settings_get(), {"incident": record})
