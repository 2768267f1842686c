"""Acknowledge links from pages: mounted at /ack/, usable without signing in."""

from django.urls import path

from . import ack_views

app_name = "oncall_ack"

urlpatterns = [
    path("<str:token>/", ack_views.acknowledge_link, name="confirm"),
]
