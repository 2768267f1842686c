"""Acknowledge links: signed, expiring, single-use; they act as the paged person, without login.

The token signs the page id and the page's own nonce with a timestamp; the page's `used_at` makes
it single-use. Its lifetime is the FIREBREAK_ACK_LINK_MAX_AGE_SECONDS setting (default one hour).

Only a page that asks its recipient to act carries a link: an FYI page (a manager told of an
incident) and a page to someone who may not acknowledge (a viewer) go out without one. A link
of an incident that is resolved or closed by the time it is used acknowledges nothing and says so.
"""

from django.conf import settings
from django.contrib.auth.models import User
from django.core import signing
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from incidents.models import IncidentStatus, Source
from incidents.policies import Action, can
from incidents.services import incident_acknowledge
from portal.errors import ApplicationError, PermissionDeniedError
from portal.links import absolute_url
from portal.people import display_name

from .models import Page

SALT = "firebreak.oncall.ack-link"
DEFAULT_MAX_AGE_SECONDS = 3600
ACK_PREFIX = "/ack/"


class AckLinkInvalid(ApplicationError):
    """The link is not one Firebreak made (mistyped, cut short or forged)."""

    status_code = 400


class AckLinkExpired(ApplicationError):
    """The link is older than its lifetime."""

    status_code = 410


class PageGone(ApplicationError):
    """The page was deleted (with its incident)."""

    status_code = 404


class AckLinkUsed(ApplicationError):
    """The link was used already."""

    status_code = 410


class IncidentAlreadyResolved(ApplicationError):
    """The page's incident is resolved or closed: there is nothing left to acknowledge."""

    status_code = 409

    def __init__(self, page: Page) -> None:
        incident = page.incident
        super().__init__(
            f"{incident.reference} is already {incident.get_status_display().lower()}: "
            "there is nothing to acknowledge.",
            extra={"incident_id": incident.pk},
        )
        self.page = page


def page_may_acknowledge(page: Page) -> bool:
    """Return whether the page asks its recipient to acknowledge (and they may).

    An FYI page only tells; a viewer may not acknowledge at all. Neither gets a link or button.
    """
    return page.kind != Page.Kind.NOTIFY and can(page.recipient, Action.ACKNOWLEDGE, page.incident)


def ack_link_max_age() -> int:
    """Return how many seconds an acknowledge link stays valid."""
    return int(getattr(settings, "FIREBREAK_ACK_LINK_MAX_AGE_SECONDS", DEFAULT_MAX_AGE_SECONDS))


def ack_token(page: Page) -> str:
    """Return the signed token of the page's acknowledge link."""
    return signing.TimestampSigner(salt=SALT).sign(f"{page.pk}.{page.nonce}")


def ack_url(page: Page) -> str:
    """Return the absolute acknowledge link of the page."""
    token = ack_token(page)
    try:
        path = reverse("oncall_ack:confirm", kwargs={"token": token})
    except NoReverseMatch:
        # The root URLconf mounts the links at ACK_PREFIX; a deployment that leaves them out
        # still sends links that point there.
        path = f"{ACK_PREFIX}{token}/"
    return absolute_url(path)


def page_ack_url(page: Page) -> str | None:
    """Return the page's acknowledge link, or None when the page may not acknowledge."""
    return ack_url(page) if page_may_acknowledge(page) else None


def page_from_ack_token(*, token: str) -> Page:
    """Return the page a valid, unexpired, unused token names; raise a clear error otherwise."""
    signer = signing.TimestampSigner(salt=SALT)
    try:
        value = signer.unsign(token, max_age=ack_link_max_age())
    except signing.SignatureExpired:
        raise AckLinkExpired(
            "This acknowledge link has expired. Open the incident in Firebreak to acknowledge it."
        ) from None
    except signing.BadSignature:
        raise AckLinkInvalid(
            "This acknowledge link is not valid. Check that the whole link was copied."
        ) from None
    page_id, _, nonce = value.partition(".")
    page = (
        Page.objects.select_related("incident__severity", "recipient")
        .filter(pk=int(page_id) if page_id.isdigit() else 0)
        .first()
    )
    if page is None or not constant_time_compare(page.nonce, nonce):
        raise AckLinkInvalid("This acknowledge link is not valid any more.")
    if page.used_at is not None:
        raise AckLinkUsed(
            f"This acknowledge link was already used at {timezone.localtime(page.used_at):%H:%M}."
        )
    if not page.incident.is_open:
        raise IncidentAlreadyResolved(page)
    return page


def _acknowledge_locked(page: Page, *, actor: User, source: str) -> bool:
    """Acknowledge the page's incident if still triggered and spend the page; return if it acted."""
    incident = page.incident
    acted = incident.status == IncidentStatus.TRIGGERED
    if acted:
        incident = incident_acknowledge(incident=incident, actor=actor, source=source)
    now = timezone.now()
    # Either way of answering a page (its link, a chat button) spends it: the other one then
    # says it was used instead of acknowledging again.
    page.used_at = page.used_at or now
    page.acknowledged_at = page.acknowledged_at or now
    page.save(update_fields=["used_at", "acknowledged_at"])
    page.incident = incident
    return acted


def page_acknowledge(*, token: str) -> Page:
    """Acknowledge the paged incident as the paged person through the link; the link is spent."""
    page = page_from_ack_token(token=token)
    with transaction.atomic():
        page = (
            Page.objects.select_for_update(of=("self",))
            .select_related("incident", "recipient")
            .get(pk=page.pk)
        )
        if page.used_at is not None:
            raise AckLinkUsed("This acknowledge link was already used.")
        if not page.incident.is_open:  # resolved since the confirm page was shown
            raise IncidentAlreadyResolved(page)
        _acknowledge_locked(page, actor=page.recipient, source=Source.WEB)
    return page


def page_acknowledge_as(*, page_id: int, actor: User, source: str) -> tuple[Page, bool]:
    """Acknowledge a page as a signed-in person (its recipient or a responder); spend its link.

    Return the page and whether this acknowledged the incident (False: it was already).
    Raises IncidentAlreadyResolved when the incident was resolved before anyone acknowledged it.
    """
    with transaction.atomic():
        page = (
            Page.objects.select_for_update(of=("self",))
            .select_related("incident", "recipient")
            .filter(pk=page_id)
            .first()
        )
        if page is None:
            raise PageGone("That page no longer exists.")
        if page.recipient_id != actor.pk and not can(actor, Action.ACKNOWLEDGE, page.incident):
            recipient = display_name(page.recipient)
            raise PermissionDeniedError(
                f"This page was for {recipient}; only they or a responder can acknowledge it."
            )
        if page.acknowledged_at is not None:
            return page, False
        if not page.incident.is_open:
            raise IncidentAlreadyResolved(page)
        acted = _acknowledge_locked(page, actor=actor, source=source)
    return page, acted
