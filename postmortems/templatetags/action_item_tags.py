"""The action items block of a postmortem page, and small helpers for action item templates."""

from typing import Any

from django import template
from django.contrib.auth.models import AnonymousUser
from django.utils.html import format_html
from django.utils.safestring import SafeString

from postmortems.action_item_forms import ActionItemForm
from postmortems.action_item_selectors import action_items_of_postmortem
from postmortems.models import ActionItem, Postmortem
from postmortems.policies import can_add_action_item, can_edit_action_item

register = template.Library()


@register.inclusion_tag("postmortems/action_item_panel.html", takes_context=True)
def action_items_panel(context: template.Context, postmortem: Postmortem) -> dict[str, Any]:
    """Render the postmortem's action items, with the add form and status changes for editors."""
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user") or AnonymousUser()
    items = list(action_items_of_postmortem(postmortem=postmortem))
    rows = [{"item": item, "may_edit": can_edit_action_item(user, item)} for item in items]
    may_add = can_add_action_item(user, postmortem)
    return {
        "postmortem": postmortem,
        "rows": rows,
        "may_add": may_add,
        "form": ActionItemForm(auto_id="new-action-item-%s") if may_add else None,
        "status_choices": ActionItem.Status.choices,
        "here": request.get_full_path() if request else "",
        "csrf_token": context.get("csrf_token"),
        "request": request,
        "user": user,
    }


@register.simple_tag
def action_item_status_badge(item: ActionItem) -> SafeString:
    """Render the item's status as a badge that says it in words."""
    classes: dict[str, str] = {
        ActionItem.Status.OPEN: "status-acknowledged",
        ActionItem.Status.IN_PROGRESS: "status-mitigated",
        ActionItem.Status.DONE: "status-resolved",
        ActionItem.Status.WONT_DO: "status-closed",
    }
    css = classes.get(str(item.status), "")
    return format_html('<span class="badge status {}">{}</span>', css, item.get_status_display())


@register.filter
def web_link(url: str) -> str:
    """Return the address if it is an http(s) link, else an empty string (never javascript:)."""
    text = (url or "").strip()
    return text if text.lower().startswith(("https://", "http://")) else ""
