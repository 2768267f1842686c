"""The incident page's chat actions (responders' portal, under /incidents/<pk>/chat/)."""

from django.urls import path

from . import views

# No app namespace: these names join the incident pages' (`incidents:chat_open`).
urlpatterns = [
    path("open/", views.incident_channel_open_view, name="chat_open"),
]
