"""The blameless hint: sentences that blame people, found before a postmortem is published.

A sentence is flagged when it names a person (a responder's name or username, or a word for a
person such as "the engineer") close before a counterfactual or fault phrase ("Alice forgot
to…", "Bob, who was on call, should have…", "a mistake by Carol"), or when it uses words that
blame whoever is meant ("human error", "careless", "his fault"). It is a hint, never a block:
it suggests asking what made the mistake easy to make instead.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.html import format_html
from django.utils.safestring import SafeString

from .models import Postmortem

GENERAL_SUGGESTION = (
    "Rephrase toward the system: what made this easy to get wrong, and what would have caught it?"
)

# Phrases that blame only when a person does them ("the check failed to fire" is fine).
PERSON_FAULT_PHRASES = (
    r"should(?:n'?t| not)? have",
    r"could have",
    r"forgot(?:ten)?(?: to)?",
    r"failed to",
    r"neglected(?: to)?",
    r"ignored",
    r"overlooked",
    r"missed",
    r"didn'?t (?:check|test|notice|read|follow|verify|look|think|ask|wait)",
    r"did not (?:check|test|notice|read|follow|verify|look|think|ask|wait)",
    r"(?:was|were) supposed to",
    r"made an? (?:mistake|error)",
    r"mistakes?",
    r"messed up",
    r"screwed up",
    r"(?:is|are|was|were) to blame",
    r"wrongly",
    r"by mistake",
    r"accidentally",
)
# Phrases that blame whoever they are about.
BLAMING_PHRASES = (
    r"human errors?",
    r"operator errors?",
    r"user errors?",
    r"careless(?:ly|ness)?",
    r"negligen(?:t|ce)",
    r"sloppy",
    r"lazy",
    r"incompeten(?:t|ce)",
    r"didn'?t bother",
    r"did not bother",
    r"(?:his|her|their) (?:own )?fault",
    r"fault of",
    r"(?:his|her|their) (?:own )?(?:mistake|error)",
    r"should have known better",
)
# Words that stand for a person when no name is used.
PERSON_WORDS = (
    r"he",
    r"she",
    r"someone",
    r"somebody",
    r"the (?:on-?call )?(?:engineer|developer|operator|responder|admin|administrator|sre)",
    r"the on-?call",
    r"the (?:incident )?commander",
    r"the ic",
)
# How far a name may stand before the fault phrase ("Bob, who was on call, forgot to…").
WORDS_BEFORE = 6
# How far after it in the passive ("a mistake made by Carol").
WORDS_AFTER = 3
# Where a clause ends; a name beyond it is about something else.
CLAUSE_BREAK = re.compile(
    r"[;:]|\b(?:but|while|whereas|although|because|so|then|and (?:the|a|an|our|this|that))\b",
    re.IGNORECASE,
)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
MIN_NAME_LENGTH = 3

_PERSON_FAULT = re.compile(r"\b(?:" + "|".join(PERSON_FAULT_PHRASES) + r")\b", re.IGNORECASE)
_BLAMING = re.compile(r"\b(?:" + "|".join(BLAMING_PHRASES) + r")\b", re.IGNORECASE)


@dataclass(frozen=True)
class BlameHint:
    """A sentence that may blame a person, the phrase that made it so, and a suggestion."""

    sentence: str
    phrase: str
    start: int
    end: int
    person: str
    suggestion: str

    def highlighted(self) -> SafeString:
        """Return the sentence as HTML with the blaming phrase marked (the text is escaped)."""
        return format_html(
            "{}<mark>{}</mark>{}",
            self.sentence[: self.start],
            self.sentence[self.start : self.end],
            self.sentence[self.end :],
        )


@dataclass(frozen=True)
class SectionHint:
    """A blame hint in one section of a postmortem."""

    section: str
    label: str
    hint: BlameHint


def _suggestion(phrase: str) -> str:
    lowered = phrase.lower()
    if "error" in lowered or "mistake" in lowered:
        return (
            "A person's error is where the investigation starts, not its root cause: what made "
            "the error possible, and hard to notice?"
        )
    if any(word in lowered for word in ("careless", "sloppy", "lazy", "bother", "negligen")):
        return (
            "Judging effort won't prevent the next incident: describe the conditions instead "
            "(time pressure, tooling, missing guard rails)."
        )
    if "fault" in lowered or "blame" in lowered:
        return "Name the gap in the process or the system rather than whose fault it was."
    return (
        "Say what the system made easy to miss: which check, alert, default or runbook step "
        "would have caught it? What made this easy to get wrong?"
    )


def _sentences(text: str) -> list[str]:
    sentences = []
    for part in SENTENCE_END.split(text):
        # Markdown list markers and headings are not part of what a sentence says.
        part = re.sub(r"^\s*(?:[-*+]|\d+[.)]|#+)\s+", "", part).strip()
        if part:
            sentences.append(part)
    return sentences


def _person_pattern(names: Iterable[str]) -> re.Pattern[str]:
    words = sorted(
        {name.strip() for name in names if len(name.strip()) >= MIN_NAME_LENGTH},
        key=len,
        reverse=True,
    )
    alternatives = [re.escape(word) for word in words] + list(PERSON_WORDS)
    # A possessive counts: "Alice's change".
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")(?:'s)?\b", re.IGNORECASE)


def _word_count(text: str) -> int:
    return len(re.findall(r"[\w'-]+", text))


def _person_near(sentence: str, fault: re.Match[str], people: re.Pattern[str]) -> str:
    """Return the person referred to close around the fault phrase, or ""."""
    for person in people.finditer(sentence):
        if person.end() <= fault.start():
            between = sentence[person.end() : fault.start()]
            if _word_count(between) <= WORDS_BEFORE and not CLAUSE_BREAK.search(between):
                return person.group(0)
        elif person.start() >= fault.end():
            between = sentence[fault.end() : person.start()]
            if _word_count(between) <= WORDS_AFTER and not CLAUSE_BREAK.search(between):
                return person.group(0)
    return ""


def blame_hints(text: str, *, names: Iterable[str] = ()) -> list[BlameHint]:
    """Return the sentences of the text that blame a person, each with a suggestion."""
    people = _person_pattern(names)
    hints: list[BlameHint] = []
    for sentence in _sentences(text or ""):
        found: BlameHint | None = None
        blaming = _BLAMING.search(sentence)
        if blaming:
            person_match = people.search(sentence)
            found = BlameHint(
                sentence=sentence,
                phrase=blaming.group(0),
                start=blaming.start(),
                end=blaming.end(),
                person=person_match.group(0) if person_match else "",
                suggestion=_suggestion(blaming.group(0)),
            )
        else:
            for fault in _PERSON_FAULT.finditer(sentence):
                person = _person_near(sentence, fault, people)
                if person:
                    found = BlameHint(
                        sentence=sentence,
                        phrase=fault.group(0),
                        start=fault.start(),
                        end=fault.end(),
                        person=person,
                        suggestion=_suggestion(fault.group(0)),
                    )
                    break
        if found is not None:
            hints.append(found)
    return hints


def incident_people_names(postmortem: Postmortem) -> set[str]:
    """Return the names and usernames of the incident's people: role holders, actors, authors."""
    from django.contrib.auth import get_user_model

    incident = postmortem.incident
    user_ids = set(incident.role_assignments.values_list("user_id", flat=True))
    user_ids |= set(
        incident.timeline.filter(actor__isnull=False).values_list("actor_id", flat=True)
    )
    user_ids |= set(postmortem.authors.values_list("pk", flat=True))
    if incident.declared_by_id:
        user_ids.add(incident.declared_by_id)
    names: set[str] = set()
    for user in get_user_model().objects.filter(pk__in=user_ids):
        names.add(user.get_username())
        for part in (user.first_name, user.last_name, user.get_full_name()):
            if part and part.strip():
                names.add(part.strip())
    return names


CHECKED_SECTIONS = (("root_cause", "Root Cause"), ("contributing_factors", "Contributing Factors"))


def postmortem_blame_hints(postmortem: Postmortem) -> list[SectionHint]:
    """Return the blame hints of the postmortem's Root Cause and Contributing Factors."""
    texts = {name: getattr(postmortem, name) for name, _ in CHECKED_SECTIONS}
    if not any(text.strip() for text in texts.values()):
        return []
    names = incident_people_names(postmortem)
    return [
        SectionHint(section=name, label=label, hint=hint)
        for name, label in CHECKED_SECTIONS
        for hint in blame_hints(texts[name], names=names)
    ]
