from django.urls import include, path

from . import views

app_name = "incidents"

urlpatterns = [
    path("", views.incident_list, name="list"),
    path("declare/", views.incident_declare, name="declare"),
    path("<int:pk>/", views.incident_detail, name="detail"),
    path("<int:pk>/acknowledge/", views.incident_acknowledge, name="acknowledge"),
    path(
        "<int:pk>/start-investigating/",
        views.incident_start_investigating,
        name="start_investigating",
    ),
    path("<int:pk>/mitigate/", views.incident_mitigate, name="mitigate"),
    path("<int:pk>/resolve/", views.incident_resolve, name="resolve"),
    path("<int:pk>/reopen/", views.incident_reopen, name="reopen"),
    path("<int:pk>/close/", views.incident_close, name="close"),
    path("<int:pk>/severity/", views.incident_change_severity, name="change_severity"),
    path("<int:pk>/roles/assign/", views.incident_role_assign, name="role_assign"),
    path("<int:pk>/roles/release/", views.incident_role_release, name="role_release"),
    path("<int:pk>/status-updates/", views.incident_status_update, name="status_update"),
    path("<int:pk>/notes/", views.incident_note_add, name="note_add"),
    path("<int:pk>/details/", views.incident_edit_details, name="edit_details"),
    path("<int:pk>/public-updates/", include("incidents.statuspage.urls")),
    path("<int:pk>/", include("incidents.runbooks.urls")),
    path("<int:pk>/chat/", include("incidents.chat.urls")),
]
