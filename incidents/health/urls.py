"""On-call health pages, under /health/."""

from django.urls import path, register_converter

from . import views, views_toil


class IsoWeekConverter:
    """An ISO week written 2026-W05 (two-digit week), passed to the view as that text."""

    regex = r"[0-9]{4}-W[0-9]{2}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(IsoWeekConverter, "isoweek")

app_name = "health"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("incidents/", views.incident_list, name="incidents"),
    path("pages/", views.page_list, name="pages"),
    path("alerts/", views.alert_list, name="alerts"),
    path("export.csv", views.export_csv, name="export"),
    path("report/<slug:team>/<isoweek:week>/", views.weekly_report, name="report"),
    path("toil/follow-up/", views_toil.toil_follow_up, name="toil_follow_up"),
]
