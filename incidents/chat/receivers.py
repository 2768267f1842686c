"""Mirror the portal into incident channels, and page by direct message (ChatConfig.ready).

The subscribers run inside the transaction of the change they mirror and write outbox rows
(or timers) there; timers post them. Importing this module also registers the chat timer kinds
(open, post, invite, archive, storm edit).
"""

from incidents.alerting.events import AlertsGrouped
from incidents.events import TimelineRecorded
from incidents.models import TimelineEvent
from incidents.oncall.channels import PageChannel, page_channel_register
from incidents.oncall.events import PagesCreated
from incidents.oncall.models import ContactMethod, Page
from portal.events import subscribe

from .platform import chat_configured, chat_platform
from .services import channels, outbox  # noqa: F401 - registers the timer handlers
from .services.dms import page_dm_send
from .services.mirroring import chat_pages_mirror, chat_timeline_event_mirror
from .services.storms import chat_storm_follow, chat_storm_incident_changed

# Changes the storm message shows: they edit it (the resolution a last time).
STORM_SHOWN_KINDS = frozenset(
    {
        TimelineEvent.Kind.RESOLVED,
        TimelineEvent.Kind.REOPENED,
        TimelineEvent.Kind.SEVERITY_CHANGED,
    }
)

# Pages reach people with a Slack contact method as direct messages, while Slack is set up.
page_channel_register(
    PageChannel(
        kind=ContactMethod.Kind.SLACK,
        send=lambda page, message: page_dm_send(page=page),
        available=chat_configured,
    )
)


@subscribe(TimelineRecorded, name="chat.mirror_timeline_event", durable=False)
def mirror_timeline_event(event: TimelineRecorded) -> None:
    if chat_configured():
        chat_timeline_event_mirror(event=event.recorded())


@subscribe(PagesCreated, name="chat.mirror_pages", durable=False)
def mirror_pages(event: PagesCreated) -> None:
    if chat_configured():
        pages: list[Page] = event.pages or list(Page.objects.filter(pk__in=event.page_ids))
        incident = event.incident or pages[0].incident
        chat_pages_mirror(incident=incident, pages=pages)


@subscribe(AlertsGrouped, name="chat.storm_message", durable=False)
def storm_message(event: AlertsGrouped) -> None:
    """One message per grouped incident in the announcement channel, edited as alerts join."""
    platform = chat_platform()
    if platform is not None:
        chat_storm_follow(
            incident_id=event.incident_id,
            kind=event.kind,
            service_id=event.service_id,
            platform=platform.name,
        )


@subscribe(
    TimelineRecorded,
    name="chat.storm_message_changed",
    durable=False,
    when=lambda event: event.kind in STORM_SHOWN_KINDS,
)
def storm_message_changed(event: TimelineRecorded) -> None:
    platform = chat_platform()
    if platform is not None:
        chat_storm_incident_changed(incident_id=event.incident_id, platform=platform.name)
