"""Alerts on an incident without a service of their own get the incident's service.

The on-call health figures filter alert episodes by their service (and its team). Triage now
gives an alert it attaches the service the incident was opened for (the first of the incident's
services owned by its team, else its first service); this gives the alerts attached before (from
triage, or joining their group's incident without a routing rule) the same service. Alerts of
incidents without services are left as they are.
"""

from django.db import migrations
from django.db.models import Case, When


def give_incident_service(apps, schema_editor):
    Alert = apps.get_model("alerting", "Alert")
    Incident = apps.get_model("incidents", "Incident")
    IncidentServices = Incident.services.through
    incident_ids = list(
        Alert.objects.filter(service__isnull=True, incident__isnull=False)
        .values_list("incident_id", flat=True)
        .distinct()
        .order_by("incident_id")
    )
    for incident_id in incident_ids:
        team_id = Incident.objects.filter(pk=incident_id).values_list("team_id", flat=True).first()
        first = (
            IncidentServices.objects.filter(incident_id=incident_id)
            .order_by(Case(When(service__team_id=team_id, then=0), default=1), "pk")
            .values_list("service_id", flat=True)
            .first()
        )
        if first is not None:
            Alert.objects.filter(incident_id=incident_id, service__isnull=True).update(
                service_id=first
            )


class Migration(migrations.Migration):
    dependencies = [
        ("alerting", "0002_alert_first_seen_covering_index"),
        ("incidents", "0007_incident_detected_at_index"),
    ]

    operations = [migrations.RunPython(give_incident_service, migrations.RunPython.noop)]
