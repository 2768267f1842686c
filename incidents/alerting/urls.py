from django.urls import path

from . import views

app_name = "alerting"
urlpatterns = [
    path("", views.triage, name="triage"),
    path("<int:pk>/open-incident/", views.open_incident, name="open_incident"),
    path("<int:pk>/attach/", views.attach, name="attach"),
    path("<int:pk>/actionable/", views.actionable, name="actionable"),
]
