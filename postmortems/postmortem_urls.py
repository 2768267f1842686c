"""Postmortem pages."""

urlpatterns: list = []
