from django.urls import path

from . import views

app_name = "heartbeat_hooks"
urlpatterns = [
    path("<str:secret>/", views.heartbeat_ping_hook, name="ping"),
    # Senders often leave the slash out; a redirect would lose a POST's ping.
    path("<str:secret>", views.heartbeat_ping_hook),
]
