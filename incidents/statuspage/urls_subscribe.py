"""Subscribe, confirm and unsubscribe."""

from django.urls import path

from . import subscribe_views

urlpatterns = [
    path("subscribe/", subscribe_views.subscribe, name="subscribe"),
    path("subscribe/sent/", subscribe_views.subscribe_sent, name="subscribe-sent"),
    path(
        "subscribe/confirm/<str:token>/",
        subscribe_views.subscribe_confirm,
        name="subscribe-confirm",
    ),
    path("unsubscribe/<str:token>/", subscribe_views.unsubscribe, name="unsubscribe"),
]
