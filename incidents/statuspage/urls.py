"""The incident page's status page panel (responders' portal, under /incidents/<pk>/)."""

from django.urls import path

from . import views

# No app namespace: these names join the incident pages' (`incidents:public_update`).
urlpatterns = [
    path("", views.public_update, name="public_update"),
]
