"""The blameless hint: sentences that blame people are found; systemic sentences are not."""

import pytest

from incidents.services import incident_resolve, incident_role_assign
from postmortems.blameless import blame_hints, postmortem_blame_hints
from postmortems.models import Postmortem
from postmortems.services import postmortem_update

NAMES = {"alice", "Alice", "bob", "Bob", "Bob Stone", "Stone", "carol", "Carol"}

BLAMING = [
    ("Alice forgot to restart the workers after the deploy.", "forgot to", "Alice"),
    ("Bob should have checked the dashboard before merging.", "should have", "Bob"),
    ("Bob, who was on call, failed to notice the alert.", "failed to", "Bob"),
    ("The root cause was a mistake made by bob.", "mistake", "bob"),
    ("Alice's mistake took payments down.", "mistake", "Alice's"),
    ("Bob Stone didn't check the migration.", "didn't check", "Bob Stone"),
    ("The on-call engineer didn't bother to read the runbook.", "didn't bother", ""),
    ("He ignored the warning in the deploy log.", "ignored", "He"),
    ("- Carol missed the page.", "missed", "Carol"),
    ("The outage was caused by human error.", "human error", ""),
    ("Carol was careless with the production config.", "careless", "Carol"),
    ("In the end it was his fault.", "his fault", ""),
    ("The IC should have declared a P1 earlier.", "should have", "The IC"),
]

SYSTEMIC = [
    "The health check failed to detect the stuck workers.",
    "The alert should have fired at 5% errors, but its threshold was 20%.",
    "Alice deployed the change and the canary check failed to catch it.",
    "A config push removed the connection pool limit.",
    "Nothing in CI tested the migration against production-sized data.",
    "Bob rolled back within two minutes.",
    "The deploy tool made it easy to skip the staging step.",
    "Runbook step 4 assumed a manual approval that no longer exists.",
    "We had no canary deployment for the payments service.",
]


@pytest.mark.parametrize("sentence, phrase, person", BLAMING)
def test_a_blaming_sentence_is_found(sentence, phrase, person):
    hints = blame_hints(sentence, names=NAMES)
    assert len(hints) == 1
    hint = hints[0]
    assert hint.phrase.lower() == phrase.lower()
    if person:
        assert hint.person.lower() == person.lower()
    assert hint.suggestion
    assert hint.sentence[hint.start : hint.end] == hint.phrase


@pytest.mark.parametrize("sentence", SYSTEMIC)
def test_a_systemic_sentence_is_left_alone(sentence):
    assert blame_hints(sentence, names=NAMES) == []


def test_each_sentence_of_a_text_is_judged_on_its_own():
    text = (
        "A config push removed the pool limit. Alice forgot to run the load test!\n"
        "- No canary deployment\n- Bob should have paged the database team"
    )
    hints = blame_hints(text, names=NAMES)
    assert [hint.sentence for hint in hints] == [
        "Alice forgot to run the load test!",
        "Bob should have paged the database team",
    ]


def test_the_suggestion_points_at_the_system():
    (hint,) = blame_hints("It was human error.", names=())
    assert "what made the error possible" in hint.suggestion
    (hint,) = blame_hints("Carol forgot to rotate the key.", names={"Carol"})
    assert "What made this easy to get wrong?" in hint.suggestion


def test_the_highlight_escapes_what_people_wrote():
    (hint,) = blame_hints("<b>Alice</b> forgot to <i>check</i>.", names={"Alice"})
    html = str(hint.highlighted())
    assert "<b>" not in html and "&lt;b&gt;" in html
    assert "<mark>forgot to</mark>" in html


@pytest.mark.django_db
def test_a_postmortem_is_checked_with_its_people_s_names(incident_of, alice, bob):
    incident = incident_of(alice, "P1", resolve=False)
    incident_role_assign(incident=incident, actor=alice, role="investigator", user=bob)
    incident_resolve(incident=incident, actor=alice)
    postmortem = postmortem_update(
        postmortem=Postmortem.objects.get(incident=incident),
        actor=alice,
        root_cause="The pool limit was removed. bob forgot to load test it.",
        contributing_factors="- Alice should have waited for the canary.\n- No canary stage.",
        what_went_well="Nobody forgot to page: Bob should have been proud.",
    )
    hints = postmortem_blame_hints(postmortem)
    assert [(hint.label, hint.hint.person) for hint in hints] == [
        ("Root Cause", "bob"),
        ("Contributing Factors", "Alice"),
    ]
