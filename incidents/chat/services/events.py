"""Events API deliveries: each event handled once by its id, the work done after commit."""

import logging
from typing import Any

from django.db import IntegrityError, transaction

from portal.integrations.slack_inbound import pin_added_parse

from ..models import ChatEvent, IncidentChannel

logger = logging.getLogger(__name__)


def chat_event_receive(
    *, platform: str, event_id: str, event_type: str, event: dict[str, Any]
) -> bool:
    """Record one event delivery by its id and schedule what it asks for; False if seen before.

    Only pins in incident channels lead anywhere; other events are recorded and ignored.
    """
    from ..tasks import chat_pin_record_task

    try:
        with transaction.atomic():
            ChatEvent.objects.create(platform=platform, event_id=event_id, kind=event_type[:60])
            pin = pin_added_parse(event) if event_type == "pin_added" else None
            if pin is not None and (
                IncidentChannel.objects.filter(
                    platform=platform, channel_id=pin.channel_id
                ).exists()
            ):
                transaction.on_commit(
                    lambda: chat_pin_record_task.delay(
                        pin.channel_id,
                        pin.message_ts,
                        pin.pinned_by,
                        pin.author_member_id,
                        pin.text,
                    )
                )
    except IntegrityError:
        logger.info("%s event %s delivered again; handled once already", platform, event_id)
        return False
    return True
