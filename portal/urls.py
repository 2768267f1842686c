from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/profile/", views.profile, name="profile"),
    path("accounts/profile/api-token/", views.api_token, name="api-token"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("portal.api.urls")),
    path("incidents/", include("incidents.urls")),
    path("alerts/", include("incidents.alerting.urls")),
    path("schedules/", include("incidents.oncall.urls")),
    path("hooks/slack/", include("incidents.chat.hook_urls")),
    path("hooks/heartbeat/", include("incidents.heartbeats.hook_urls")),
    path("hooks/", include("incidents.alerting.hook_urls")),
    path("ack/", include("incidents.oncall.ack_urls")),
    path("status/", include("incidents.statuspage.public_urls")),
    path("postmortems/", include("postmortems.urls")),
    path("health/", include("incidents.health.urls")),
]
