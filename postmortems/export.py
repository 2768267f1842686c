"""The postmortem as a Markdown file in the runbook's blameless template.

The file is read elsewhere (a wiki, a repository, a chat), by renderers we don't control, so the
people-written text in it is made inert first: no raw HTML (`&` and `<` are written as
entities, so a tag is shown as the text it is), and links or images whose address uses a scheme
other than http, https or mailto point nowhere.
"""

import html
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

from portal.people import display_name

from .markdown import ALLOWED_URL_SCHEMES
from .models import ActionItem, Postmortem
from .selectors import postmortem_action_items, postmortem_timeline

AUTOLINK = re.compile(r"<((?:https?://|mailto:)[^\s<>]*)>", re.IGNORECASE)
LINK_DESTINATION = re.compile(r"(\]\(\s*)([^\s()]*(?:\([^\s()]*\)[^\s()]*)*)")
REFERENCE_DEFINITION = re.compile(r"^( {0,3}\[[^\]\n]+\]:[ \t]*\n?[ \t]*)(\S+)", re.MULTILINE)
SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
# What a browser ignores or a renderer unescapes inside an address.
ADDRESS_NOISE = re.compile(r"[\\<>\x00-\x20\x7f]")
NOWHERE = "#"


def _unsafe_address(address: str) -> bool:
    candidate = ADDRESS_NOISE.sub("", html.unescape(address)).lower()
    scheme = SCHEME.match(candidate)
    return scheme is not None and scheme.group(1) not in ALLOWED_URL_SCHEMES


def _escape_html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;")


def safe_markdown(text: str) -> str:
    """Return people's Markdown with raw HTML made literal and unsafe link addresses removed."""
    pieces = []
    last = 0
    # Autolinks to web and mail addresses stay links; every other `<` becomes text.
    for link in AUTOLINK.finditer(text):
        pieces.append(_escape_html(text[last : link.start()]))
        pieces.append(link.group(0))
        last = link.end()
    pieces.append(_escape_html(text[last:]))
    escaped = "".join(pieces)

    def neutralize(match: re.Match[str]) -> str:
        address = match.group(2)
        return match.group(1) + (NOWHERE if _unsafe_address(address) else address)

    escaped = LINK_DESTINATION.sub(neutralize, escaped)
    return REFERENCE_DEFINITION.sub(neutralize, escaped)


def table_cell(text: str) -> str:
    """Return text safe for one cell of a Markdown table: one line, pipes escaped."""
    return safe_markdown(" ".join(text.split())).replace("|", "\\|") or "-"


def _zone(postmortem: Postmortem) -> ZoneInfo:
    team = postmortem.incident.team
    return ZoneInfo(team.time_zone if team else settings.TIME_ZONE)


def _local(at: datetime | None, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if at else "-"


def _section(title: str, text: str, empty: str = "_Not written._") -> list[str]:
    body = safe_markdown(text.strip()) if text.strip() else empty
    return [f"## {title}", "", body, ""]


def _action_item_rows(items: list[ActionItem]) -> list[str]:
    if not items:
        return ["_None yet._", ""]
    lines = ["| Action | Owner | Due | Priority | Status |", "|---|---|---|---|---|"]
    for item in items:
        title = item.title
        if item.tracker_url and not _unsafe_address(item.tracker_url):
            title = f"{title} ({item.tracker_url})"
        lines.append(
            "| "
            + " | ".join(
                [
                    table_cell(title),
                    table_cell(display_name(item.owner, fallback="-")),
                    item.due_date.isoformat() if item.due_date else "-",
                    item.priority,
                    item.get_status_display(),
                ]
            )
            + " |"
        )
    return [*lines, ""]


def export_filename(postmortem: Postmortem) -> str:
    """Return the file name the export downloads as."""
    return f"{postmortem.incident.reference}-postmortem.md"


def postmortem_markdown(*, postmortem: Postmortem) -> str:
    """Return the postmortem as Markdown in the runbook's template: hidden rows left out."""
    incident = postmortem.incident
    zone = _zone(postmortem)
    status = postmortem.get_status_display()
    if postmortem.is_published:
        published_by = display_name(postmortem.published_by, fallback="-")
        status += f" {_local(postmortem.published_at, zone)} by {published_by}"
    authors = ", ".join(display_name(author) for author in postmortem.authors.all()) or "-"
    lines = [
        f"# Postmortem: {incident.reference} {table_cell(incident.title)}",
        "",
        f"- Status: {table_cell(status)}",
        f"- Authors: {table_cell(authors)}",
        f"- Due: {_local(postmortem.due_at, zone)}",
        f"- Times in: {zone.key}",
        f"- Exported: {_local(timezone.now(), zone)}",
        "",
    ]
    lines += _section("Incident Summary", postmortem.summary, empty="")
    impact = [
        ("Users affected", postmortem.users_affected),
        ("Requests failed", postmortem.requests_failed),
        ("Revenue", postmortem.revenue_impact),
    ]
    lines.append(
        "- Impact: "
        + "; ".join(
            f"{label.lower()}: {table_cell(value) if value else 'unknown'}"
            for label, value in impact
        )
    )
    lines.append("")
    lines += ["## Timeline", "", "| Time | Event | Who |", "|-------|-------|-----|"]
    for row in postmortem_timeline(postmortem=postmortem, include_hidden=False):
        event = row.text
        if row.annotation:
            event += f" — Note: {row.annotation}"
        lines.append(
            f"| {_local(row.occurred_at, zone)} | {table_cell(event)} | {table_cell(row.who)} |"
        )
    lines.append("")
    lines += _section("Root Cause", postmortem.root_cause)
    lines += _section("Contributing Factors", postmortem.contributing_factors)
    lines += _section("What Went Well", postmortem.what_went_well)
    lines += ["## Action Items", ""]
    lines += _action_item_rows(list(postmortem_action_items(postmortem=postmortem)))
    if postmortem.public_summary.strip():
        lines += _section("Public Summary", postmortem.public_summary)
    return "\n".join(lines).rstrip() + "\n"
