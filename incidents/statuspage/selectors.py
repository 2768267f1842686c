"""Reads for the public status page."""

from .models import PageSettings


def page_settings_get() -> PageSettings:
    """Return the status page's settings, created with defaults on first use."""
    page = PageSettings.objects.order_by("pk").first()
    if page is None:
        page = PageSettings.objects.create()
    return page
