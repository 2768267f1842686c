from django.urls import path

from . import views

app_name = "oncall"

urlpatterns = [
    path("", views.schedule_list, name="list"),
    path("calendar-link/", views.calendar_feed_link, name="calendar_feed_link"),
    path("ical/<str:token>.ics", views.calendar_feed, name="calendar_feed"),
    path("incidents/<int:pk>/page/", views.page_more, name="page_more"),
    path("incidents/pages/<int:pk>/mark/", views.page_mark, name="page_mark"),
    path("<slug:slug>/", views.schedule_detail, name="detail"),
    path("<slug:slug>/overrides/", views.override_add, name="override_add"),
    path("<slug:slug>/overrides/<int:pk>/delete/", views.override_delete, name="override_delete"),
]
