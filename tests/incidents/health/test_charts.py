"""The server-rendered SVG trend charts: points, gaps for empty weeks, no data, accessibility."""

import xml.etree.ElementTree as ET

import pytest

from incidents.health.charts import BOTTOM, HEIGHT, LEFT, TOP, ChartPoint, chart_svg, nice_ceiling

SVG = "{http://www.w3.org/2000/svg}"
BASE_Y = HEIGHT - BOTTOM


def parse(svg: str) -> ET.Element:
    return ET.fromstring(str(svg))  # noqa: S314 - our own chart, not outside input


def points(*values: float | None) -> list[ChartPoint]:
    return [
        ChartPoint(
            label=f"2026-W{week:02d}",
            value=value,
            text="no data" if value is None else f"{value:g} min",
            axis_label=f"W{week:02d}",
        )
        for week, value in enumerate(values, start=40)
    ]


def titles(root: ET.Element, tag: str) -> list[str]:
    return [element.findtext(f"{SVG}title") or "" for element in root.iter(f"{SVG}{tag}")]


def polyline_points(root: ET.Element) -> list[list[tuple[float, float]]]:
    return [
        [tuple(float(n) for n in pair.split(",")) for pair in line.get("points", "").split()]
        for line in root.iter(f"{SVG}polyline")
    ]


def test_a_line_chart_has_one_hoverable_point_per_week_scaled_to_the_axis():
    root = parse(chart_svg(kind="line", title="MTTA", points=points(2, 4, 10), unit="min"))

    assert root.get("role") == "img"
    assert titles(root, "circle") == ["2026-W40: 2 min", "2026-W41: 4 min", "2026-W42: 10 min"]
    [line] = polyline_points(root)
    ys = [y for _, y in line]
    # 10 is the top of the scale (a "nice" 10), 0 the axis: 2 and 4 sit at a fifth and two.
    assert ys[2] == pytest.approx(TOP)
    plot = BASE_Y - TOP
    assert ys[0] == pytest.approx(BASE_Y - plot * 0.2, abs=0.1)
    assert ys[1] == pytest.approx(BASE_Y - plot * 0.4, abs=0.1)
    xs = [x for x, _ in line]
    assert xs == sorted(xs) and xs[0] > LEFT
    y_labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "y-label"]
    assert y_labels == ["0", "5", "10 min"]
    x_labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "x-label"]
    assert x_labels == ["W40", "W41", "W42"]


def test_an_empty_week_breaks_the_line_instead_of_drawing_a_zero():
    root = parse(chart_svg(kind="line", title="MTTA", points=points(3, None, 6, 9)))

    # W40 stands alone (its neighbour has nothing to measure); W42 and W43 are joined.
    assert titles(root, "circle") == ["2026-W40: 3 min", "2026-W42: 6 min", "2026-W43: 9 min"]
    segments = polyline_points(root)
    assert len(segments) == 1
    assert len(segments[0]) == 2


def test_a_zero_is_a_point_on_the_axis_not_a_gap():
    root = parse(chart_svg(kind="line", title="Rate", points=points(0, 0)))

    [line] = polyline_points(root)
    assert [y for _, y in line] == [pytest.approx(BASE_Y), pytest.approx(BASE_Y)]
    assert "No data" not in str(chart_svg(kind="line", title="Rate", points=points(0, 0)))


def test_bars_have_heights_in_proportion_and_a_title_each():
    root = parse(chart_svg(kind="bars", title="Incidents", points=points(1, 0, 5, None)))

    rects = list(root.iter(f"{SVG}rect"))
    assert titles(root, "rect") == ["2026-W40: 1 min", "2026-W41: 0 min", "2026-W42: 5 min"]
    heights = [float(rect.get("height", "0")) for rect in rects]
    assert heights[1] == 0
    assert heights[2] == pytest.approx(heights[0] * 5, abs=0.2)
    assert float(rects[2].get("y", "0")) == pytest.approx(TOP)


def test_all_weeks_empty_says_no_data_in_the_picture_and_to_screen_readers():
    svg = chart_svg(kind="line", title="Mean time to acknowledge", points=points(None, None))
    root = parse(svg)

    assert [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "no-data"] == ["No data"]
    assert not list(root.iter(f"{SVG}circle")) and not list(root.iter(f"{SVG}polyline"))
    assert root.get("aria-label") == "Mean time to acknowledge, 2026-W40 to 2026-W41: no data."


def test_no_weeks_at_all_still_renders_an_accessible_empty_chart():
    root = parse(chart_svg(kind="bars", title="Incidents per week", points=[]))

    assert root.get("aria-label") == "Incidents per week: no weeks to show."
    assert not list(root.iter(f"{SVG}rect"))


def test_the_label_says_the_span_the_latest_week_the_range_and_the_target():
    svg = chart_svg(
        kind="line",
        title="MTTA",
        points=points(7, 2, None),
        target=5,
        target_text="target < 5 min",
    )

    assert parse(svg).get("aria-label") == (
        "MTTA, 2026-W40 to 2026-W42. Latest 2026-W41: 2 min. "
        "Lowest 2 min (2026-W41), highest 7 min (2026-W40). Target < 5 min."
    )


def test_the_target_line_is_drawn_at_its_value_and_stretches_the_scale_when_above_the_data():
    root = parse(
        chart_svg(
            kind="line", title="Rate", points=points(1, 2), target=5, target_text="target < 5 %"
        )
    )

    target = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "target")
    line = target.find(f"{SVG}line")
    assert line is not None
    # The scale reaches 5 so the target is on the chart: at the very top.
    assert float(line.get("y1", "0")) == pytest.approx(TOP)
    assert target.findtext(f"{SVG}text") == "target < 5 %"


def test_many_weeks_get_thinned_axis_labels_but_keep_the_last():
    root = parse(chart_svg(kind="bars", title="Incidents", points=points(*range(13))))

    x_labels = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "x-label"]
    assert len(x_labels) <= 8
    assert x_labels[0] == "W40" and x_labels[-1] == "W52"
    assert len(list(root.iter(f"{SVG}rect"))) == 13


def test_text_from_the_data_is_escaped():
    svg = chart_svg(
        kind="bars",
        title='Alerts <script>alert("x")</script>',
        points=[ChartPoint(label="<b>W1</b>", value=1, text="1 & more")],
    )

    assert "<script>" not in svg and "<b>" not in svg
    root = parse(svg)
    assert titles(root, "rect") == ["<b>W1</b>: 1 & more"]


@pytest.mark.parametrize(
    ("value", "ceiling"),
    [(0, 1), (3, 5), (5, 5), (7, 10), (20, 20), (21, 25), (45, 50), (101, 200), (0.042, 0.05)],
)
def test_the_scale_rounds_up_to_a_readable_number(value, ceiling):
    assert nice_ceiling(value) == pytest.approx(ceiling)
