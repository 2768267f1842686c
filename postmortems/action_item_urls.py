"""Action item pages, under /postmortems/action-items/."""

from django.urls import path

from . import action_item_views as views

urlpatterns = [
    path("mine/", views.my_action_items, name="my_action_items"),
    path("new/", views.action_item_new, name="action_item_new"),
    path("<int:pk>/", views.action_item_edit, name="action_item_edit"),
    path("<int:pk>/status/", views.action_item_status, name="action_item_status"),
]
