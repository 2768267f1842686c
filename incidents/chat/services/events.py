"""Events API deliveries: each event handled once by its id, its work a timer written with it."""

import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.integrations.slack_inbound import pin_added_parse
from portal.timers import timer_schedule

from ..models import ChatEvent, IncidentChannel

logger = logging.getLogger(__name__)

# Timer kind (handler in ..tasks): record a pinned message on the incident's timeline.
PIN_RECORD_KIND = "chat.pin_record"


def chat_event_receive(
    *, platform: str, event_id: str, event_type: str, event: dict[str, Any]
) -> bool:
    """Record one event delivery by its id and schedule what it asks for; False if seen before.

    Only pins in incident channels lead anywhere; other events are recorded and ignored.
    """
    try:
        with transaction.atomic():
            ChatEvent.objects.create(platform=platform, event_id=event_id, kind=event_type[:60])
            pin = pin_added_parse(event) if event_type == "pin_added" else None
            if pin is not None and (
                IncidentChannel.objects.filter(
                    platform=platform, channel_id=pin.channel_id
                ).exists()
            ):
                timer_schedule(
                    kind=PIN_RECORD_KIND,
                    key=f"chat.pin-{platform}-{event_id}"[:200],
                    due_at=timezone.now(),
                    payload={
                        "channel_id": pin.channel_id,
                        "message_ts": pin.message_ts,
                        "pinned_by": pin.pinned_by,
                        "author_member_id": pin.author_member_id,
                        "text": pin.text,
                    },
                    fresh=True,
                )
    except IntegrityError:
        logger.info("%s event %s delivered again; handled once already", platform, event_id)
        return False
    return True
