"""What the portal says in the team chat, as platform-neutral Messages (the adapter formats them).

Each builder takes the records it reports and a `mention` function that turns a portal user into
a chat Person (with a member id when one is known), so nothing here calls the chat.
"""

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from incidents.models import (
    Incident,
    IncidentRole,
    IncidentStatus,
    ServiceLink,
    StatusUpdate,
    TimelineEvent,
)
from incidents.oncall.models import Page
from portal.integrations.chat import Button, Field, Inline, Link, Message, Person, Text, text
from portal.links import absolute_url

Mention = Callable[[User], Person]

# The buttons' action ids, answered by the interactivity endpoint.
ACTION_INCIDENT_ACK = "incident_ack"
ACTION_INCIDENT_UPDATE = "incident_update"
ACTION_INCIDENT_RESOLVE = "incident_resolve"
ACTION_PAGE_ACK = "page_ack"

# The runbook's status update template, as its placeholders read.
TEMPLATE_FIELDS = (
    ("Status", "INVESTIGATING | MITIGATING | RESOLVED"),
    ("Impact", "[describe what's broken and who's affected]"),
    ("Last Action", "[what we just tried]"),
    ("Next Action", "[what we're doing now]"),
    ("ETA", '[estimate if known, "unknown" if not]'),
)


def incident_url(incident: Incident) -> str:
    """Return the absolute address of the incident's page in the portal."""
    return absolute_url(f"/incidents/{incident.pk}/")


def _every(interval: timedelta) -> str:
    minutes = int(interval.total_seconds() // 60)
    if minutes % 60 == 0 and minutes >= 60:
        hours = minutes // 60
        return "hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} minutes"


def _joined(people: Sequence[Person]) -> tuple[Inline, ...]:
    """Return people as `a, b and c`, each a mention."""
    parts: list[Inline] = []
    for index, person in enumerate(people):
        if index:
            parts.append(" and " if index == len(people) - 1 else ", ")
        parts.append(person)
    return tuple(parts)


def _context(incident: Incident, extra: str = "") -> str:
    severity = incident.severity
    head = f"{incident.reference} · {severity.code} {severity.name}"
    return f"{head} · {extra}" if extra else head


def _incident_link(incident: Incident) -> Link:
    return Link(f"Open {incident.reference} in Firebreak", incident_url(incident))


def _incident_buttons(incident: Incident) -> tuple[Button, ...]:
    value = str(incident.pk)
    return (
        Button(ACTION_INCIDENT_ACK, "Acknowledge", value),
        Button(ACTION_INCIDENT_UPDATE, "Post update", value, style="primary"),
        Button(ACTION_INCIDENT_RESOLVE, "Resolve", value, style="danger"),
    )


def announcement(
    *, incident: Incident, commander: Person | None, channel: Link | None = None
) -> Message:
    """Return the runbook's post in #incidents: "⚠️ INCIDENT: <title>. Investigating. IC: @…"."""
    title = incident.title.rstrip(". ")
    state = incident.get_status_display()
    headline: Text = text(
        f"⚠️ INCIDENT: {title}. {state}. IC: ",
        *((commander,) if commander else ("nobody yet",)),
    )
    lines: list[Text] = []
    if incident.impact:
        lines.append(text(f"Impact: {incident.impact}"))
    links = [_incident_link(incident)]
    if channel is not None:
        lines.append(text("War room: ", channel))
    return Message(
        headline=headline, lines=tuple(lines), links=tuple(links), context=_context(incident)
    )


def welcome(
    *,
    incident: Incident,
    commander: Person | None,
    service_links: Iterable[ServiceLink] = (),
) -> Message:
    """Return the incident channel's first message: template, bridge, dashboards, buttons."""
    severity = incident.severity
    lines: list[Text] = [
        text("Incident Commander: ", commander)
        if commander
        else text("Incident Commander: nobody yet; take the role in Firebreak."),
    ]
    if severity.update_interval:
        lines.append(
            text(
                f"Post a status update every {_every(severity.update_interval)} "
                f"({severity.code}) in the runbook's template:"
            )
        )
    else:
        lines.append(text("Post status updates in the runbook's template:"))
    links: list[Link] = []
    if incident.bridge_url:
        links.append(Link("Join the bridge", incident.bridge_url))
    else:
        lines.append(text("No bridge yet: the IC opens one and adds it on the incident page."))
    ordered = sorted(service_links, key=lambda link: (link.kind != "dashboard", link.position))
    for link in ordered:
        links.append(Link(f"{link.get_kind_display()}: {link.title}", link.url))
    links.append(_incident_link(incident))
    return Message(
        headline=text(f"{incident.reference} · {severity.code} {severity.name}: {incident.title}"),
        lines=tuple(lines),
        fields=tuple(Field(label, text(value)) for label, value in TEMPLATE_FIELDS),
        links=tuple(links),
        buttons=_incident_buttons(incident),
        context=_context(incident, incident.get_status_display()),
    )


def _by(actor: User | None, mention: Mention, nobody: str) -> tuple[Inline, ...]:
    return (" by ", mention(actor)) if actor is not None else (nobody,)


def _user_named(username: object) -> User | None:
    if not username:
        return None
    return User.objects.filter(username=username).first()


def timeline_event(
    *, event: TimelineEvent, mention: Mention, archive_at: datetime | None = None
) -> Message:
    """Return one timeline event (a transition, severity or role change) as a channel message."""
    incident = event.incident
    kind = event.kind
    actor = event.actor
    K = TimelineEvent.Kind
    lines: list[Text] = []
    note = event.message.strip()
    if kind == K.ACKNOWLEDGED:
        headline = text("✅ Acknowledged", *_by(actor, mention, " by the alert source"))
    elif kind == K.INVESTIGATING:
        again = event.from_value == IncidentStatus.MITIGATED
        verb = (
            "🔎 Investigating again: the mitigation did not hold" if again else "🔎 Investigating"
        )
        headline = text(verb, *_by(actor, mention, ""))
        if note:
            lines.append(text(note))
    elif kind == K.MITIGATED:
        headline = text("🩹 Mitigated", *_by(actor, mention, ""), ": service restored, monitoring")
        if note:
            lines.append(text(note))
    elif kind == K.RESOLVED:
        headline = text("✅ Resolved", *_by(actor, mention, " by the alert source"))
        if note:
            lines.append(text(note))
    elif kind == K.REOPENED:
        headline = text("↩️ Reopened", *_by(actor, mention, ""))
        if note:
            lines.append(text(f"Why: {note}"))
    elif kind == K.CLOSED:
        headline = text("🔒 Closed", *_by(actor, mention, ""))
        if archive_at is not None:
            local = timezone.localtime(archive_at)
            lines.append(text(f"This channel will be archived after {local:%Y-%m-%d %H:%M %Z}."))
    elif kind == K.SEVERITY_CHANGED:
        raised = note.startswith("Raised")
        arrow = "⬆️ Severity raised" if raised else "⬇️ Severity lowered"
        headline = text(f"{arrow} {event.from_value} → {event.to_value}", *_by(actor, mention, ""))
        _, _, reason = note.partition(": ")
        if reason:
            lines.append(text(f"Why: {reason}"))
    elif kind == K.ROLE_ASSIGNED:
        headline = _role_assigned(event, mention)
    elif kind == K.ROLE_RELEASED:
        headline = _role_released(event, mention)
    else:
        headline = text(note or event.get_kind_display(), *_by(actor, mention, ""))
    return Message(
        headline=headline,
        lines=tuple(lines),
        context=_context(incident, f"via {event.get_source_display()}"),
    )


def _role_label(value: object) -> str:
    try:
        return IncidentRole(str(value)).label
    except ValueError:
        return str(value)


def _role_assigned(event: TimelineEvent, mention: Mention) -> Text:
    role = _role_label(event.data.get("role") or event.to_value)
    user = _user_named(event.data.get("user"))
    previous = _user_named(event.data.get("previous"))
    holder: Inline = mention(user) if user else str(event.data.get("user") or "someone")
    if previous is not None:
        head = text(f"👥 {role} handed over from ", mention(previous), " to ", holder)
    else:
        head = text("👥 ", holder, f" is {role}")
    if event.actor is not None and (user is None or event.actor.pk != user.pk):
        head += (" (assigned by ", mention(event.actor), ")")
    return head


def _role_released(event: TimelineEvent, mention: Mention) -> Text:
    role = _role_label(event.data.get("role") or event.from_value)
    user = _user_named(event.data.get("user"))
    holder: Inline = mention(user) if user else str(event.data.get("user") or "someone")
    if event.actor is not None and user is not None and event.actor.pk != user.pk:
        return text("👥 ", holder, f" was relieved as {role} by ", mention(event.actor))
    return text("👥 ", holder, f" left the {role} role")


def status_update(*, update: StatusUpdate, mention: Mention) -> Message:
    """Return an internal status update in the runbook's template."""
    incident = update.incident
    author = update.author
    values = (
        ("Status", update.status),
        ("Impact", update.impact),
        ("Last Action", update.last_action),
        ("Next Action", update.next_action),
        ("ETA", update.eta),
    )
    return Message(
        headline=text(
            f"📣 Status update on {incident.reference}",
            *((" from ", mention(author)) if author else ()),
        ),
        fields=tuple(Field(label, text(value)) for label, value in values),
        links=(_incident_link(incident),),
        context=_context(incident, f"via {update.get_source_display()}"),
    )


def pages(
    *,
    incident: Incident,
    kind: str,
    people: Sequence[Person],
    step_number: int | None = None,
    requested_by: Person | None = None,
) -> Message:
    """Return who was just paged or notified, as "📟 Paged @olga (step 1)"."""
    if kind == Page.Kind.NOTIFY:
        headline = text("📨 Notified ", *_joined(people), f" ({incident.severity.code})")
    elif kind == Page.Kind.MANUAL:
        asked = (" (asked by ", requested_by, ")") if requested_by else ()
        headline = text("📟 Paged ", *_joined(people), *asked)
    else:
        # Steps count from 0 in the plan and from 1 for people, as on the incident page.
        step = f" (step {step_number + 1})" if step_number is not None else ""
        headline = text("📟 Paged ", *_joined(people), step)
    return Message(headline=headline, context=_context(incident))


def page_dm(*, page: Page, ack_url: str | None) -> Message:
    """Return a page as a direct message: the incident, an Acknowledge button and the ack link.

    Without an ack link (an FYI page, or a recipient who may not acknowledge) there is no
    button either.
    """
    incident = page.incident
    verb = "FYI" if page.kind == Page.Kind.NOTIFY else "PAGE"
    severity = incident.severity
    lines: list[Text] = [text(f"{severity.code} {severity.name} · {incident.get_status_display()}")]
    if page.kind == Page.Kind.ESCALATION and page.step_number is not None:
        lines.append(text(f"You are paged by escalation step {page.step_number + 1}."))
    elif page.kind == Page.Kind.NOTIFY:
        lines.append(text(f"You are told of every {severity.code} incident of your team."))
    links = [Link("Open the incident", incident_url(incident))]
    buttons: tuple[Button, ...] = ()
    if ack_url is not None:
        links.append(Link("Acknowledge by link (once, for a limited time)", ack_url))
        buttons = (Button(ACTION_PAGE_ACK, "Acknowledge", str(page.pk), style="primary"),)
    return Message(
        headline=text(f"[{severity.code}] {verb} {incident.reference}: {incident.title}"),
        lines=tuple(lines),
        links=tuple(links),
        buttons=buttons,
        context=_context(incident),
        marker=page.delivery_id,
    )


def archived_notice(*, incident: Incident) -> Message:
    """Return the last message of an incident channel, posted just before it is archived."""
    return Message(
        headline=text(f"🗄️ {incident.reference} is closed: this channel is archived now."),
        lines=(text("The timeline, status updates and postmortem stay in Firebreak."),),
        links=(_incident_link(incident),),
        context=_context(incident),
    )


def storm(*, incident: Incident, kind: str, where: str, alerts: int, since: datetime) -> Message:
    """Return the one message of an alert storm (or a grouping rule's incident), edited as it grows.

    "🌩 Alert storm on Payments: 57 alerts since 10:02 UTC · P3 · INC-12", and once the incident
    is resolved "✅ Alert storm on Payments resolved: 312 alerts from 10:02 to 10:40 UTC".
    """
    what = "Alert storm" if kind == "storm" else "Grouped alerts"
    count = f"{alerts} alert{'' if alerts == 1 else 's'}"
    start = timezone.localtime(since)
    link = Link(incident.reference, incident_url(incident))
    severity = incident.severity.code
    if incident.status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED) and incident.resolved_at:
        end = timezone.localtime(incident.resolved_at)
        headline = text(
            f"✅ {what} on {where} resolved: {count} from {start:%H:%M} to {end:%H:%M %Z}"
            f" · {severity} · ",
            link,
        )
    else:
        icon = "🌩" if kind == "storm" else "🧩"
        headline = text(
            f"{icon} {what} on {where}: {count} since {start:%H:%M %Z} · {severity} · ", link
        )
    return Message(
        headline=headline,
        lines=(text(incident.title),),
        links=(_incident_link(incident),),
        context=_context(incident, incident.get_status_display()),
    )
