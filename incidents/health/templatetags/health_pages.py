"""Template helpers of the on-call health pages."""

from datetime import timedelta

from django import template

register = template.Library()


@register.filter
def percent(rate: float | None) -> str:
    """Render a rate (0.042) as a percentage with one decimal ("4.2 %"), or an em dash."""
    return "—" if rate is None else f"{rate * 100:.1f} %"


@register.filter
def health_duration(value: timedelta | None) -> str:
    """Render a response time with seconds under an hour ("4 min 30 s", "1 h 5 min"), or ""."""
    # The portal's "4 min" hides what the 5-minute MTTA target is about: 4 min 59 s is not
    # 4 min. Whole seconds are cut, never rounded up, so a time under the target never reads
    # as the target itself.
    if value is None:
        return ""
    seconds = max(int(value.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        units = [(days, "d"), (hours, "h")]
    elif hours:
        units = [(hours, "h"), (minutes, "min")]
    elif minutes:
        units = [(minutes, "min"), (seconds, "s")]
    else:
        return f"{seconds} s"
    (first, first_unit), (second, second_unit) = units
    return f"{first} {first_unit}" + (f" {second} {second_unit}" if second else "")
