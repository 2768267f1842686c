"""Managers add, edit, pause and delete heartbeats in the back-office."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MANAGER_PERMISSIONS = [f"{verb}_heartbeat" for verb in ("view", "add", "change", "delete")]


def grant(apps, schema_editor):
    # Permissions are normally created after all migrations ran; create this app's now.
    app_config = apps.get_app_config("heartbeats")
    previous = getattr(app_config, "models_module", None)
    app_config.models_module = previous or True  # a migration state's app stub has none
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = previous
    group = apps.get_model("auth", "Group").objects.get(name="managers")
    permission_model = apps.get_model("auth", "Permission")
    group.permissions.add(
        *permission_model.objects.filter(
            content_type__app_label="heartbeats", codename__in=MANAGER_PERMISSIONS
        )
    )


def revoke(apps, schema_editor):
    group = apps.get_model("auth", "Group").objects.filter(name="managers").first()
    if group:
        group.permissions.remove(
            *group.permissions.filter(
                content_type__app_label="heartbeats", codename__in=MANAGER_PERMISSIONS
            )
        )


class Migration(migrations.Migration):
    dependencies = [("heartbeats", "0001_initial"), ("portal", "0002_groups")]

    operations = [migrations.RunPython(grant, revoke)]
