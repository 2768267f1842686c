"""Telling subscribers about public changes, durably, once the publish commits."""

from portal import events

from ..events import StatusPublished


def subscribers_notify_on_commit(*, event_key: str) -> None:
    """Publish the public change, so subscribers are told once the caller's transaction commits.

    The fan-out is a durable subscriber of `StatusPublished` (incidents.statuspage.subscribers):
    a timer row written in the publishing transaction, so a broker that is down when the publish
    commits neither fails the publish nor loses the notification.
    """
    events.publish(StatusPublished(event_key=event_key))
