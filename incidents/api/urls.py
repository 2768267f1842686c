"""Routes of the incident API, mounted at /api/v1/."""

from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("incidents", views.IncidentViewSet, basename="incident")
router.register("teams", views.TeamViewSet, basename="team")
router.register("services", views.ServiceViewSet, basename="service")
router.register("severities", views.SeverityViewSet, basename="severity")

urlpatterns = router.urls
