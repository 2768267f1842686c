"""Template helpers of the portal: times with UTC on hover, durations, people, badges."""

from datetime import UTC, datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from portal.auth import AnyUser, is_manager, is_responder, is_staff
from portal.people import display_name

register = template.Library()


@register.filter
def when(value: datetime | None, style: str = "") -> SafeString | str:
    """Render a time in the viewer's time zone, with the ISO instant and UTC on hover.

    `style` "time" leaves out the date; "short" leaves it out only when the time is today in
    the viewer's zone, so a deadline from another day still says which day.
    """
    if value is None:
        return ""
    local = timezone.localtime(value)
    today = timezone.localdate()
    time_only = style == "time" or (style == "short" and local.date() == today)
    shown = local.strftime("%H:%M %Z" if time_only else "%Y-%m-%d %H:%M %Z")
    return format_html(
        '<time datetime="{}" title="{}">{}</time>',
        value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        shown,
    )


@register.filter
def duration(value: timedelta | None) -> str:
    """Render a duration as its two largest units, for example "1 h 5 min".

    Seconds show only under a minute: "overdue by 3 min", not "overdue by 3 min 12 s".
    """
    if value is None:
        return ""
    seconds = max(int(value.total_seconds()), 0)
    if seconds < 60:
        return f"{seconds} s"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    units = [(days, "d"), (hours, "h"), (minutes, "min")]
    while len(units) > 1 and units[0][0] == 0:
        units.pop(0)
    first, second = units[0], units[1] if len(units) > 1 else None
    text = f"{first[0]} {first[1]}"
    if second and second[0]:
        text += f" {second[0]} {second[1]}"
    return text


@register.filter
def person(user: AnyUser | None, fallback: str = "—") -> str:
    """Render a user as their full name, else their username."""
    return display_name(user, fallback=fallback)


@register.filter
def may_use_admin(user: AnyUser) -> bool:
    """Return whether the back-office is open to the user (staff and managers)."""
    return is_staff(user) or (user.is_authenticated and user.is_active and is_manager(user))


@register.filter
def may_declare(user: AnyUser) -> bool:
    """Return whether the user may declare incidents."""
    return is_responder(user)


@register.simple_tag
def severity_badge(severity: object) -> SafeString | str:
    """Render a severity as a coloured badge that also says its code and name."""
    if severity is None:
        return ""
    code = str(getattr(severity, "code", ""))
    return format_html(
        '<span class="badge sev sev-{}" title="{}">{} {}</span>',
        code.lower(),
        getattr(severity, "description", ""),
        code,
        getattr(severity, "name", ""),
    )


@register.simple_tag
def status_badge(incident: object) -> SafeString:
    """Render an incident's status as a badge with its name."""
    status = str(getattr(incident, "status", ""))
    return format_html(
        '<span class="badge status status-{}">{}</span>',
        status,
        incident.get_status_display(),  # type: ignore[attr-defined]
    )
