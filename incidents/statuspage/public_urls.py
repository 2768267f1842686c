"""Everything public, mounted at /status/: the page, its JSON, feeds and subscriptions."""

from django.urls import include, path

app_name = "status"

urlpatterns = [
    path("", include("incidents.statuspage.urls_pages")),
    path("", include("incidents.statuspage.urls_subscribe")),
]
