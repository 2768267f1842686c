"""RSS and Atom feeds of the page's history: one entry per public update."""

from datetime import datetime

from django.contrib.syndication.views import Feed
from django.http import HttpRequest
from django.template.defaultfilters import linebreaksbr
from django.utils.feedgenerator import Atom1Feed

from .models import PageSettings, PublicUpdate
from .selectors import page_settings_get, public_update_list_recent
from .serializers import incident_link, public_link


class StatusHistoryRssFeed(Feed):
    """The last public updates, newest first, each linking to its incident page."""

    file_name = "history.rss"

    def get_object(self, request: HttpRequest, *args: object, **kwargs: object) -> PageSettings:
        return page_settings_get()

    def title(self, obj: PageSettings) -> str:
        return f"{obj.name}: incident history"

    def link(self, obj: PageSettings) -> str:
        return public_link(page=obj)

    def feed_url(self, obj: PageSettings) -> str:
        # The page's public address, not whichever host the first (cached) request named.
        return public_link(self.file_name, page=obj)

    def description(self, obj: PageSettings) -> str:
        return f"Incidents and scheduled maintenance reported on {obj.name}."

    def items(self, obj: PageSettings) -> list[PublicUpdate]:
        updates = public_update_list_recent()
        for update in updates:
            # Links are absolute and need the page; set once here rather than per item lookup.
            update.feed_link = (  # type: ignore[attr-defined]
                f"{incident_link(update.public_incident, page=obj)}#update-{update.public_id}"
            )
        return updates

    def item_title(self, item: PublicUpdate) -> str:
        return f"{item.public_incident.name}: {item.get_status_display()}"

    def item_description(self, item: PublicUpdate) -> str:
        # Feed readers take the description as HTML; the body is plain text.
        return linebreaksbr(item.body, autoescape=True)

    def item_link(self, item: PublicUpdate) -> str:
        return item.feed_link  # type: ignore[attr-defined]

    def item_guid(self, item: PublicUpdate) -> str:
        return item.feed_link  # type: ignore[attr-defined]

    item_guid_is_permalink = True

    def item_pubdate(self, item: PublicUpdate) -> datetime:
        return item.display_at

    def item_updateddate(self, item: PublicUpdate) -> datetime:
        return item.updated_at


class StatusHistoryAtomFeed(StatusHistoryRssFeed):
    feed_type = Atom1Feed
    file_name = "history.atom"

    def subtitle(self, obj: PageSettings) -> str:
        return self.description(obj)
