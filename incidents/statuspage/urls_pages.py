"""Public pages, Statuspage v2 JSON and feeds."""

from django.urls import path
from django.views.decorators.http import require_safe

from . import api_v2, pages
from .feeds import StatusHistoryAtomFeed, StatusHistoryRssFeed
from .publiccache import public_cached

urlpatterns = [
    path("", pages.status_page, name="page"),
    path("history/", pages.history, name="history"),
    path("incidents/<slug:public_id>/", pages.incident, name="incident"),
    path("history.rss", require_safe(public_cached(StatusHistoryRssFeed())), name="feed-rss"),
    path("history.atom", require_safe(public_cached(StatusHistoryAtomFeed())), name="feed-atom"),
    path("api/v2/summary.json", api_v2.summary, name="api-summary"),
    path("api/v2/status.json", api_v2.status, name="api-status"),
    path("api/v2/components.json", api_v2.components, name="api-components"),
    path("api/v2/incidents.json", api_v2.incidents, name="api-incidents"),
    path(
        "api/v2/incidents/unresolved.json",
        api_v2.incidents_unresolved,
        name="api-incidents-unresolved",
    ),
    path("api/v2/scheduled-maintenances.json", api_v2.maintenances, name="api-maintenances"),
    path(
        "api/v2/scheduled-maintenances/upcoming.json",
        api_v2.maintenances_upcoming,
        name="api-maintenances-upcoming",
    ),
    path(
        "api/v2/scheduled-maintenances/active.json",
        api_v2.maintenances_active,
        name="api-maintenances-active",
    ),
]
