"""The one Markdown renderer of postmortems and action items: Markdown in, safe HTML out.

Raw HTML typed into a field is shown as the text it is, never passed through; what Markdown
itself produces is then cleaned by nh3 against an allow-list, so scripts, event handlers,
`javascript:` links and frames never reach a page even if the Markdown library had a gap.
"""

import markdown as markdown_lib
import nh3
from markdown.extensions import Extension

ALLOWED_TAGS = frozenset(
    {
        "a",
        "abbr",
        "b",
        "blockquote",
        "br",
        "code",
        "del",
        "em",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "i",
        "img",
        "li",
        "ol",
        "p",
        "pre",
        "s",
        "strong",
        "sub",
        "sup",
        "table",
        "tbody",
        "td",
        "th",
        "thead",
        "tr",
        "ul",
    }
)
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "td": {"align"},
    "th": {"align"},
}
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener noreferrer nofollow"


class _NoRawHtml(Extension):
    """Treat raw HTML blocks and inline tags as text (Python-Markdown has no safe mode)."""

    def extendMarkdown(self, md: markdown_lib.Markdown) -> None:
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")


def _converter() -> markdown_lib.Markdown:
    return markdown_lib.Markdown(
        extensions=[_NoRawHtml(), "tables", "fenced_code", "sane_lists"],
        extension_configs={"tables": {"use_align_attribute": True}},
        output_format="html",
    )


def sanitize_html(html: str) -> str:
    """Return the HTML with everything outside the allow-list removed."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render_markdown(text: str) -> str:
    """Return the Markdown text as sanitized HTML, safe to put in a page as is."""
    if not text or not text.strip():
        return ""
    # A fresh converter per call: Markdown instances keep state (references, footnotes).
    return sanitize_html(_converter().convert(text))
