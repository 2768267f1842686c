"""Slack's request URLs (mounted at /hooks/slack/; listed in deploy/slack-app-manifest.yml)."""

from django.urls import path

from . import hooks

app_name = "slack_hooks"
urlpatterns = [
    path("commands/", hooks.slack_command, name="commands"),
    path("interactivity/", hooks.slack_interactivity, name="interactivity"),
    path("events/", hooks.slack_events, name="events"),
]
