from django.urls import path

from . import hooks

app_name = "hooks"
urlpatterns = [
    path("alertmanager/<int:source_id>/", hooks.alertmanager_hook, name="alertmanager"),
    path("grafana/<int:source_id>/", hooks.grafana_hook, name="grafana"),
    path("generic/<int:source_id>/", hooks.generic_hook, name="generic"),
    # PagerDuty's own address is …/v2/enqueue; senders configured for it may add a slash.
    path("pagerduty/v2/enqueue", hooks.pagerduty_enqueue, name="pagerduty"),
    path("pagerduty/v2/enqueue/", hooks.pagerduty_enqueue),
]
