"""The runbook and job pages of an incident (under /incidents/<pk>/)."""

from django.urls import path

from . import views

# No app namespace: these names join the incident pages' (`incidents:runbook`, `incidents:job`).
urlpatterns = [
    path("runbooks/<slug:slug>/", views.runbook_detail, name="runbook"),
    path("runbooks/<slug:slug>/jobs/", views.job_request, name="job_request"),
    path("runbooks/<slug:slug>/flag/", views.runbook_flag, name="runbook_flag"),
    path("jobs/<int:job_id>/", views.job_detail, name="job"),
    path("jobs/<int:job_id>/confirm/", views.job_confirm, name="job_confirm"),
    path("jobs/<int:job_id>/cancel/", views.job_cancel, name="job_cancel"),
    path("jobs/<int:job_id>/refresh/", views.job_preview_refresh, name="job_refresh"),
]
