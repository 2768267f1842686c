"""Pages sent to someone directly (the IC paging more people, an escalation step naming a user)
count for that person against the weekly target, and every view says they reached no rotation."""

import csv
import html
import io
import re

import pytest

from incidents.oncall.models import Page

from .builders import at

pytestmark = pytest.mark.django_db


def text(response) -> str:
    words = re.sub(r"<[^>]+>", " ", response.content.decode())
    return " ".join(html.unescape(words).split())


def rotation_card(page: str) -> str:
    start = page.index("Actionable pages per rotation per week")
    return page[start : page.index("Mean time to resolve", start)]


@pytest.fixture
def paged_directly(build, frozen_now, alice, bob):
    """Six actionable pages to Alice through no rotation this week, one to Bob via a rotation."""
    payments = build.team("Payments")
    incident = build.incident(at("2026-11-16 09:00"), team=payments, code="P1")
    for hour in range(10, 13):
        # The IC paged Alice ("page more people") ...
        build.page(
            incident, alice, at(f"2026-11-16 {hour}:00"), kind=Page.Kind.MANUAL, actionable=True
        )
        # ... and an escalation step names her, not a rotation.
        build.page(incident, alice, at(f"2026-11-17 {hour}:00"), actionable=True)
    primary = build.rotation("Payments primary", payments)
    build.page(incident, bob, at("2026-11-16 09:01"), schedule=primary, actionable=True)
    return payments


def test_the_weekly_figure_counts_people_paged_directly(as_manager, paged_directly, alice):
    page = text(as_manager.get("/health/?team=payments"))

    card = rotation_card(page)
    assert "Busiest: Alice, paged directly (no rotation), 2026-W47" in card
    assert "1 week of a rotation or person at 5 or more" in card
    assert "Target < 5 a week: missed" in card
    # The per-rotation table (weeks W46, W47, the period): Alice's own line beside the rotation.
    assert "Payments primary — 1 of 1 1 of 1 Alice (paged directly) — 6 of 6 6 of 6" in page


def test_the_drill_down_and_the_export_say_which_pages_reached_no_rotation(
    as_manager, paged_directly, alice
):
    listed = text(as_manager.get(f"/health/pages/?team=payments&schedule=none&person={alice.pk}"))
    assert "reached no rotation (paged directly) to Alice" in listed
    assert listed.count("none: paged directly") == 6

    export = as_manager.get("/health/export.csv?team=payments&kind=pages")
    table = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert sorted((row["recipient"], row["schedule"], row["paged"]) for row in table) == [
        ("Alice", "", "directly")
    ] * 6 + [("Bob", "Payments primary", "through rotation")]
