"""The `/incident` text, parsed: every form, and every mistake answered with how to fix it."""

import pytest

from incidents.chat.commands import (
    USAGE,
    Acknowledge,
    AssignRole,
    ChangeSeverity,
    CommandError,
    Declare,
    Help,
    Mitigate,
    PageMore,
    PostUpdate,
    Resolve,
    command_parse,
)

CODES = ["P1", "P2", "P3", "P4"]


def parse(text: str):
    return command_parse(text, severity_codes=CODES)


def refusal(text: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        parse(text)
    return caught.value


@pytest.mark.parametrize(
    "text",
    [
        'P1 "payment service down"',
        'declare P1 "payment service down"',
        "P1 “payment service down”",
        "p1 ‘payment service down’",  # noqa: RUF001
        "P1 'payment service down'",
        'DECLARE p1 "payment service down"',
        "P1 payment service down",
        '  P1   "payment service down"  ',
        'P1 "payment service down”',
    ],
)
def test_declare_forms(text):
    assert parse(text) == Declare(severity="P1", title="payment service down")


def test_title_keeps_inner_quotes_and_apostrophes():
    assert parse('P2 "the "ledger" queue is stuck"') == Declare("P2", 'the "ledger" queue is stuck')
    assert parse("P3 Bob's dashboard is slow") == Declare("P3", "Bob's dashboard is slow")


def test_title_is_unescaped_the_way_people_read_it():
    command = parse('P1 "checkout &amp; payments down, see <https://status.example.com|status>"')
    assert command == Declare(
        "P1", "checkout & payments down, see status (https://status.example.com)"
    )


def test_unknown_severity_lists_the_valid_ones():
    error = refusal('P9 "payments down"')
    assert "P9 is not a severity" in error.message
    assert "P1, P2, P3, P4" in error.message
    assert USAGE in error.reply()


def test_the_severity_codes_come_from_the_table():
    assert command_parse('SEV1 "db down"', severity_codes=["SEV1", "SEV2"]) == Declare(
        "SEV1", "db down"
    )
    error = refusal('SEV1 "db down"')
    assert "SEV1 is not a severity; use one of P1, P2, P3, P4." in error.message


def test_bare_unknown_severity_is_refused():
    assert "P9 is not a severity" in refusal("P9").message


@pytest.mark.parametrize("text", ["P1", 'P1 ""', "P1 “  ”", "declare P1", "P1 ''"])
def test_empty_title_is_refused(text):
    error = refusal(text)
    assert "title" in error.message
    assert '/incident P1 "payment service down"' in error.message


def test_declare_without_anything_says_what_to_write():
    assert "severity and the title" in refusal("declare").message


@pytest.mark.parametrize(
    "text",
    [
        'P1 "payments down',
        "P1 “payments down",
        'P1 "payments" down',
        'P1 payments down"',
        'P1 "',
    ],
)
def test_unbalanced_quotes_are_refused(text):
    error = refusal(text)
    assert "quotes are not balanced" in error.message
    assert "Put the whole title in quotes" in error.message


@pytest.mark.parametrize("text", ["", "   ", "help", "HELP me please"])
def test_help(text):
    assert parse(text) == Help()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ack", Acknowledge()),
        ("Acknowledge", Acknowledge()),
        ("update", PostUpdate()),
        ("severity P2", ChangeSeverity("P2")),
        ("severity p3 blast radius is smaller", ChangeSeverity("P3", "blast radius is smaller")),
        ("sev P1", ChangeSeverity("P1")),
        ("mitigated", Mitigate()),
        ("mitigated rolled back to v41", Mitigate("rolled back to v41")),
        ("resolve", Resolve()),
        ("resolved fixed &amp; verified", Resolve("fixed & verified")),
    ],
)
def test_incident_channel_commands(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("role scribe <@U024BE7LH|bob>", AssignRole("scribe", "U024BE7LH")),
        ("role scribe <@U024BE7LH>", AssignRole("scribe", "U024BE7LH")),
        ("role IC <@U1|ann lee>", AssignRole("commander", "U1")),
        ("role commander <@W0ENTERPRISE|x>", AssignRole("commander", "W0ENTERPRISE")),
        ("role investigator me", AssignRole("investigator")),
        ("role communicator", AssignRole("communicator")),
    ],
)
def test_role(text, expected):
    assert parse(text) == expected


def test_role_refusals_say_how():
    assert "not a role; use one of commander (or ic), investigator" in (
        refusal("role janitor <@U1>").message
    )
    assert "Say which role and who" in refusal("role").message
    assert "is not a mention" in refusal("role scribe @bob").message
    assert "one person at a time" in refusal("role scribe <@U1> <@U2>").message


def test_page_one_or_more_people():
    assert parse("page <@U1|ann>") == PageMore(("U1",))
    assert parse("page <@U1|ann>, <@U2|bo b> and <@U3> <@U1>") == PageMore(("U1", "U2", "U3"))


def test_page_refusals_say_how():
    assert "Say whom to page" in refusal("page").message
    assert "@bob is not a mention" in refusal("page <@U1> @bob").message


def test_severity_refusals():
    assert "Say the new severity, one of P1, P2, P3, P4" in refusal("severity").message
    assert "P7 is not a severity" in refusal("severity P7").message


def test_ack_with_extra_words_is_a_typo():
    assert "takes nothing after it" in refusal("ack P2").message


def test_unknown_command_shows_the_usage():
    error = refusal("deploy payments")
    assert "I don't know `deploy`" in error.message
    assert error.reply().endswith(USAGE)
