from django.apps import AppConfig


class PostmortemsConfig(AppConfig):
    """Blameless postmortems and action items (built on the incident timeline)."""

    name = "postmortems"
    verbose_name = "Postmortems"
