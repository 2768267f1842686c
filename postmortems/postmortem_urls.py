"""Postmortem pages, under /postmortems/."""

from django.urls import path

from . import views

urlpatterns = [
    path("", views.postmortem_list, name="list"),
    path("preview/", views.postmortem_preview, name="preview"),
    path("start/<int:incident_pk>/", views.postmortem_start, name="start"),
    path("<int:pk>/", views.postmortem_detail, name="detail"),
    path("<int:pk>/timeline/<int:row_pk>/", views.timeline_row_update, name="row_update"),
    path("<int:pk>/submit/", views.postmortem_submit, name="submit"),
    path("<int:pk>/reviews/<int:review_pk>/", views.review_decide, name="review_decide"),
    path("<int:pk>/publish/", views.postmortem_publish, name="publish"),
    path("<int:pk>/public-summary/", views.public_summary_post, name="public_summary_post"),
    path("<int:pk>/meeting/", views.review_meeting_schedule, name="meeting_schedule"),
    path("<int:pk>/authors/", views.author_add, name="author_add"),
    path("<int:pk>/export.md", views.postmortem_export, name="export"),
    path("<int:pk>/print/", views.postmortem_print, name="print"),
]
