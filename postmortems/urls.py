"""The responders' postmortem and action-item pages, under /postmortems/."""

from django.urls import include, path

app_name = "postmortems"

urlpatterns = [
    path("", include("postmortems.postmortem_urls")),
    path("action-items/", include("postmortems.action_item_urls")),
]
