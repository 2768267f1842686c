"""Mirror what happens in the portal into the incident's channel (connected in ChatConfig.ready).

Importing this module also registers the chat timer kinds (open, post, invite, archive).
"""

from typing import Any

from django.dispatch import receiver

from incidents.models import Incident, TimelineEvent
from incidents.oncall.models import Page
from incidents.oncall.paging import pages_created
from incidents.signals import timeline_recorded

from .platform import chat_configured
from .services import channels, outbox  # noqa: F401 - registers the timer handlers
from .services.mirroring import chat_pages_mirror, chat_timeline_event_mirror


@receiver(timeline_recorded, sender=TimelineEvent, dispatch_uid="chat.mirror_timeline_event")
def mirror_timeline_event(sender: Any, event: TimelineEvent, **kwargs: Any) -> None:
    if chat_configured():
        chat_timeline_event_mirror(event=event)


@receiver(pages_created, sender=Page, dispatch_uid="chat.mirror_pages")
def mirror_pages(sender: Any, incident: Incident, pages: list[Page], **kwargs: Any) -> None:
    if chat_configured():
        chat_pages_mirror(incident=incident, pages=pages)
