"""Template helpers of the on-call health pages."""

from django import template

register = template.Library()


@register.filter
def percent(rate: float | None) -> str:
    """Render a rate (0.042) as a percentage with one decimal ("4.2 %"), or an em dash."""
    return "—" if rate is None else f"{rate * 100:.1f} %"
