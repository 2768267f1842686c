from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from . import views

urlpatterns = [
    path("", views.ApiRootView.as_view(), name="api-root"),
    path("", include("incidents.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    # Last: any other address under /api/v1/ (an id with a dot, say) is a JSON 404, not a page.
    # Only addresses ending in a slash, so that a missing slash is still redirected to one.
    re_path(r"^.*/$", views.not_found, name="api-not-found"),
]
