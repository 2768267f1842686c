"""CSV export of the rows behind the health figures: content, filters, formula escaping."""

import csv
import io

import pytest

from incidents.health.export import HEADERS, csv_filename, csv_lines, csv_safe, rows_csv
from incidents.models import IncidentStatus, Source, TimelineEvent
from incidents.oncall.models import Page
from tests import factories

from . import builders as b

pytestmark = pytest.mark.django_db

NOVEMBER = ("2026-11-01", "2026-12-01")


def rows(kind, window):
    """Return the export as a spreadsheet would read it back: CSV text parsed into rows."""
    text = "".join(csv_lines(rows_csv(kind=kind, window=window)))
    return list(csv.reader(io.StringIO(text)))


def by_first_column(table):
    return {row[0]: dict(zip(table[0], row, strict=True)) for row in table[1:]}


# --- incidents -------------------------------------------------------------------------------


def test_incident_rows_carry_the_figures_inputs(payments):
    checkout = factories.ServiceFactory(name="Checkout", slug="checkout", team=payments.team)
    incident = b.incident_at(
        code="P1",
        team=payments.team,
        services=(payments, checkout),
        impact_started="2026-11-02 09:50",
        detected="2026-11-02 10:00",
        acknowledged="2026-11-02 10:03",
        resolved="2026-11-02 11:30",
        title="Payments service returning 503",
    )
    table = rows("incidents", b.window(*NOVEMBER))
    assert table[0] == HEADERS["incidents"]
    row = by_first_column(table)[incident.reference]
    assert row == {
        "reference": incident.reference,
        "title": "Payments service returning 503",
        "team": "Payments",
        "services": "Checkout; Payments API",
        "peak severity": "P1",
        "source": "alert",
        "detected": "2026-11-02T10:00:00+00:00",
        "acknowledged": "2026-11-02T10:03:00+00:00",
        "resolved": "2026-11-02T11:30:00+00:00",
        "MTTA s": "180",
        "MTTR s": "5400",
        "time to detect s": "600",
        "reopened": "no",
    }


def test_declared_and_open_incidents_leave_what_does_not_apply_empty(alice):
    declared = b.incident_at(
        source=Source.WEB, acknowledged="2026-11-03 10:00", detected="2026-11-03 10:00"
    )
    still_open = b.incident_at(detected="2026-11-04 10:00", resolved=None)
    table = by_first_column(rows("incidents", b.window(*NOVEMBER)))
    # A declaration acknowledges itself: it is not in MTTA, so no MTTA on its row either.
    assert table[declared.reference]["MTTA s"] == ""
    assert table[declared.reference]["source"] == "web"
    assert table[still_open.reference]["resolved"] == ""
    assert table[still_open.reference]["MTTR s"] == ""
    assert table[still_open.reference]["MTTA s"] == ""


def test_a_reopened_incident_says_so(alice):
    incident = b.incident_at(resolved="2026-11-05 10:00")
    TimelineEvent.objects.create(
        incident=incident,
        kind=TimelineEvent.Kind.REOPENED,
        occurred_at=b.at("2026-11-02 12:00"),
        source=Source.WEB,
    )
    row = by_first_column(rows("incidents", b.window(*NOVEMBER)))[incident.reference]
    assert row["reopened"] == "yes"
    assert row["MTTR s"] == str(3 * 86400)  # to the final resolution


def test_times_are_written_in_the_windows_zone():
    incident = b.incident_at(detected="2026-11-02 10:00", resolved=None)
    window = b.window(*NOVEMBER, zone="Europe/Berlin")
    row = by_first_column(rows("incidents", window))[incident.reference]
    assert row["detected"] == "2026-11-02T11:00:00+01:00"


def test_incidents_are_bounded_by_detection_in_the_window_and_filtered(payments):
    team = payments.team
    other = factories.TeamFactory(name="Search", slug="search")
    inside = b.incident_at(code="P2", team=team, services=(payments,), detected="2026-11-01 00:00")
    b.incident_at(code="P2", team=team, detected="2026-12-01 00:00")  # the end is open
    b.incident_at(code="P2", team=team, detected="2026-10-31 23:59")
    other_team = b.incident_at(code="P2", team=other, detected="2026-11-10 10:00")
    p3 = b.incident_at(code="P3", team=team, detected="2026-11-11 10:00")

    def refs(**filters):
        return sorted(by_first_column(rows("incidents", b.window(*NOVEMBER, **filters))))

    assert refs() == sorted([inside.reference, other_team.reference, p3.reference])
    assert refs(team=team) == sorted([inside.reference, p3.reference])
    assert refs(service=payments) == [inside.reference]
    assert refs(severity="P3") == [p3.reference]


# --- pages -----------------------------------------------------------------------------------


def test_page_rows_are_the_pages_the_figures_count(payments, alice, bob):
    incident = b.incident_at(team=payments.team, detected="2026-11-02 10:00")
    primary = b.rotation("Payments primary", payments.team)
    b.page(
        incident,
        alice,
        "2026-11-02 10:00",
        schedule=primary,
        acknowledged="2026-11-02 10:02",
        actionable=True,
        manual=False,
    )
    b.page(incident, bob, "2026-11-02 10:05", kind=Page.Kind.MANUAL)
    b.page(incident, bob, "2026-11-02 10:06", kind=Page.Kind.NOTIFY)  # an FYI, not a page
    b.page(incident, bob, "2026-11-02 10:07", state=Page.State.FAILED)  # never reached anyone
    b.page(incident, bob, "2026-12-01 10:00")  # outside

    table = rows("pages", b.window(*NOVEMBER))
    assert table[0] == HEADERS["pages"]
    assert table[1:] == [
        [
            incident.reference,
            "Alice",
            "Payments primary",
            "through rotation",
            "escalation",
            "sent",
            "2026-11-02T10:00:00+00:00",
            "2026-11-02T10:02:00+00:00",
            "yes",
            "no",
        ],
        [
            incident.reference,
            "Bob",
            "",
            "directly",  # the IC paged Bob: counted for Bob, not for a rotation
            "manual",
            "sent",
            "2026-11-02T10:05:00+00:00",
            "",
            "unreviewed",
            "unreviewed",
        ],
    ]


def test_pages_follow_their_incidents_team(payments, alice):
    ours = b.incident_at(team=payments.team)
    theirs = b.incident_at(team=factories.TeamFactory(name="Search", slug="search"))
    b.page(ours, alice, "2026-11-02 10:00")
    b.page(theirs, alice, "2026-11-02 10:00")
    table = rows("pages", b.window(*NOVEMBER, team=payments.team))
    assert [row[0] for row in table[1:]] == [ours.reference]


# --- alert episodes ---------------------------------------------------------------------------


def test_alert_rows_say_source_name_verdict_and_incident(payments):
    am = b.source("prod-alertmanager")
    incident = b.incident_at()
    b.episode(
        am,
        "HighErrorRate",
        "2026-11-02 10:00",
        fingerprint="440d54076bcd8569",
        incident=incident,
        actionable=False,
        service=payments,
    )
    b.episode(am, "DiskFull", "2026-11-03 10:00", fingerprint="aa11", service=payments)
    b.episode(am, "DiskFull", "2026-12-03 10:00", fingerprint="aa11")  # outside
    table = rows("alerts", b.window(*NOVEMBER))
    assert table == [
        HEADERS["alerts"],
        [
            "prod-alertmanager",
            "HighErrorRate",
            "440d54076bcd8569",
            "2026-11-02T10:00:00+00:00",
            "firing",
            "no",
            incident.reference,
        ],
        [
            "prod-alertmanager",
            "DiskFull",
            "aa11",
            "2026-11-03T10:00:00+00:00",
            "firing",
            "unreviewed",
            "",
        ],
    ]


def test_alerts_filter_by_their_services_team_and_their_own_severity(payments):
    am = b.source()
    search = factories.ServiceFactory(name="Search API", slug="search-api")
    b.episode(am, "Ours", "2026-11-02 10:00", service=payments, code="P2")
    b.episode(am, "Theirs", "2026-11-02 10:00", service=search, code="P3")
    b.episode(am, "Triage", "2026-11-02 10:00", code="P3")

    def names(**filters):
        return sorted(row[1] for row in rows("alerts", b.window(*NOVEMBER, **filters))[1:])

    assert names() == ["Ours", "Theirs", "Triage"]
    assert names(team=payments.team) == ["Ours"]
    assert names(service=search) == ["Theirs"]
    assert names(severity="P3") == ["Theirs", "Triage"]


# --- CSV injection ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "written"),
    [
        (
            '=HYPERLINK("https://evil.example","click")',
            '\'=HYPERLINK("https://evil.example","click")',
        ),
        ("+1-555-0100", "'+1-555-0100"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\tcmd", "'\tcmd"),
        ("\r=1+1", "'\r=1+1"),
        ("Payments down = bad", "Payments down = bad"),
        ("", ""),
    ],
)
def test_cells_a_spreadsheet_would_run_are_quoted(text, written):
    assert csv_safe(text) == written


def test_an_incident_title_cannot_become_a_formula():
    incident = b.incident_at(title='=cmd|" /C calc"!A0', resolved=None)
    am = b.source("@evil")
    b.episode(am, "-1+2", "2026-11-02 10:00", fingerprint="=1+1")
    assert (
        by_first_column(rows("incidents", b.window(*NOVEMBER)))[incident.reference]["title"]
        == '\'=cmd|" /C calc"!A0'
    )
    assert rows("alerts", b.window(*NOVEMBER))[1][:3] == ["'@evil", "'-1+2", "'=1+1"]


def test_commas_quotes_and_line_breaks_survive_the_round_trip():
    title = 'Checkout, "cart" and\nlogin down'
    incident = b.incident_at(title=title, resolved=None)
    assert (
        by_first_column(rows("incidents", b.window(*NOVEMBER)))[incident.reference]["title"]
        == title
    )


# --- streaming and bounds ---------------------------------------------------------------------


def test_the_export_is_read_in_a_fixed_number_of_queries(django_assert_max_num_queries, payments):
    for day in range(1, 8):
        incident = b.incident_at(detected=f"2026-11-0{day} 10:00", services=(payments,))
        incident.status = IncidentStatus.CLOSED
        incident.save()
    with django_assert_max_num_queries(2):  # incidents (with reopened), their services
        assert len(rows("incidents", b.window(*NOVEMBER))) == 8


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="incidents, pages or alerts"):
        list(rows_csv(kind="people", window=b.window(*NOVEMBER)))  # type: ignore[arg-type]


def test_the_download_name_says_the_kind_and_the_days_covered():
    window = b.window("2026-10-31 23:00", "2026-11-30 23:00", zone="Europe/Berlin")
    assert csv_filename(kind="pages", window=window) == "health-pages-2026-11-01-2026-11-30.csv"
