"""Mirror the portal into incident channels, and page by direct message (ChatConfig.ready).

Both subscribers run inside the transaction of the change they mirror and write outbox rows
there; timers post them. Importing this module also registers the chat timer kinds (open,
post, invite, archive).
"""

from incidents.events import TimelineRecorded
from incidents.oncall.channels import PageChannel, page_channel_register
from incidents.oncall.events import PagesCreated
from incidents.oncall.models import ContactMethod, Page
from portal.events import subscribe

from .platform import chat_configured
from .services import channels, outbox  # noqa: F401 - registers the timer handlers
from .services.dms import page_dm_send
from .services.mirroring import chat_pages_mirror, chat_timeline_event_mirror

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
