"""The Markdown renderer (pages) and the Markdown export's escaping: useful Markdown, inert HTML."""

import re
from html.parser import HTMLParser

import markdown
import pytest

from postmortems.export import safe_markdown
from postmortems.markdown import render_markdown

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    '<iframe src="https://evil.example/"></iframe>',
    "![x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](javascript&#58;alert(1))",
    "[x](java\\script:alert(1))",
    "[x][ref]\n\n[ref]: javascript:alert(1)",
    "[x](<javascript:alert(1)>)",
    '<a href="javascript:alert(1)">x</a>',
    '<div onmouseover="alert(1)">hover</div>',
    "<svg><script>alert(1)</script></svg>",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<javascript:alert(1)>",
    "```\n</code></pre><script>alert(1)</script>\n```",
    "<style>body{display:none}</style>",
]


class DangerFinder(HTMLParser):
    """Collect what would run or load in a browser: scripts, frames, handlers, bad links."""

    DANGEROUS_TAGS = {"script", "iframe", "object", "embed", "style", "svg", "frame", "form"}
    SAFE_SCHEMES = ("http:", "https:", "mailto:", "#")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.DANGEROUS_TAGS:
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"{tag}[{name}]")
            if name in ("href", "src") and value is not None:
                # As a browser reads it: surrounding blanks, tabs and newlines don't count.
                address = re.sub(r"[\x00-\x20]", "", value).lower()
                scheme = re.match(r"[a-z][a-z0-9+.-]*:", address)
                if scheme and not address.startswith(self.SAFE_SCHEMES):
                    self.found.append(f"{tag}[{name}={value}]")


def dangers(html: str) -> list[str]:
    finder = DangerFinder()
    finder.feed(html)
    return finder.found


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_page_renderer_makes_payloads_inert(payload):
    assert dangers(render_markdown(payload)) == []


@pytest.mark.parametrize("payload", PAYLOADS)
def test_the_export_stays_inert_in_a_renderer_that_allows_html(payload):
    # Python-Markdown passes raw HTML through: the export must not rely on the reader's renderer.
    rendered = markdown.markdown(safe_markdown(payload), extensions=["tables", "fenced_code"])
    assert dangers(rendered) == []


def test_raw_html_is_shown_as_the_text_it_is():
    html = render_markdown("Do not type <script>alert(1)</script> here")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_markdown_still_works():
    html = render_markdown(
        "## Cause\n\n**Bold** and *em*, `code`, [docs](https://example.com/a_(b)) and "
        "<https://example.com/x>.\n\n- one\n- two\n\n| a | b |\n|:--|--:|\n| 1 | 2 |\n\n"
        "```\nif a < b: pass\n```\n\n> quoted\n\n[mail](mailto:ops@example.com)"
    )
    for fragment in (
        "<h2>Cause</h2>",
        "<strong>Bold</strong>",
        "<em>em</em>",
        "<code>code</code>",
        '<a href="https://example.com/a_(b)" rel="noopener noreferrer nofollow">docs</a>',
        '<a href="https://example.com/x" rel="noopener noreferrer nofollow">',
        "<li>one</li>",
        '<td align="right">2</td>',
        "<pre><code>if a &lt; b: pass",
        "<blockquote>",
        'href="mailto:ops@example.com"',
    ):
        assert fragment in html


def test_the_export_keeps_web_links_and_text():
    text = "See [the graph](https://grafana.example/d/1) and <https://example.com/?a=1&b=2>; a < b."
    exported = safe_markdown(text)
    assert "[the graph](https://grafana.example/d/1)" in exported
    assert "<https://example.com/?a=1&b=2>" in exported
    assert "a &lt; b" in exported
    rendered = markdown.markdown(exported)
    assert 'href="https://grafana.example/d/1"' in rendered
    assert "a &lt; b" in rendered


def test_an_empty_text_renders_nothing():
    assert render_markdown("") == render_markdown("   \n ") == ""


def test_the_payloads_would_run_if_nothing_made_them_inert():
    # Keeps the two tests above honest: the same finder does see danger in raw Markdown output.
    raw = [markdown.markdown(payload, extensions=["tables", "fenced_code"]) for payload in PAYLOADS]
    assert sum(1 for html in raw if dangers(html)) >= 13
