from __future__ import annotations

import pytest

from sora_bot.errors import InvalidInput
from sora_bot.rules.terms import MAX_TERM_CHARS, TermMatcher, blocked_term, normalize


def matcher(*terms: str) -> TermMatcher:
    return TermMatcher(blocked_term(t) for t in terms)


def matched(terms: tuple[str, ...], prompt: str) -> str | None:
    rule = matcher(*terms).first_match(prompt)
    return rule.term if rule else None


@pytest.mark.parametrize(
    ("term", "prompt"),
    [
        ("cafe", "A cozy CAFÉ at dawn"),
        ("Crème Brûlée", "a giant creme brulee on a plate"),
        ("naïve", "NAIVE art style"),
        ("straße", "a quiet STRASSE in Berlin"),  # casefold: ß == ss
        ("fire", "a ﬁre in the hearth"),  # NFKD splits the ligature
        ("kill", "k\u200bill the lights"),  # invisible characters do not split words
    ],
)
def test_case_and_accent_insensitive(term: str, prompt: str) -> None:
    assert matched((term,), prompt) == term


@pytest.mark.parametrize(
    "prompt",
    ["concatenate the cats", "a scatter plot", "bobcat", "catalog", "cat_walk"],
)
def test_no_match_inside_words(prompt: str) -> None:
    assert matched(("cat",), prompt) is None


@pytest.mark.parametrize("prompt", ["a cat.", "Cat!", "(cat) on a mat", "cat", "dog/cat"])
def test_whole_word_at_punctuation_and_edges(prompt: str) -> None:
    assert matched(("cat",), prompt) == "cat"


def test_phrase_matches_across_whitespace_runs_only() -> None:
    terms = ("red fox",)
    assert matched(terms, "a RED \n\t  fox jumps") == "red fox"
    assert matched(terms, "a redfox") is None
    assert matched(terms, "red foxes everywhere") is None
    assert matched(terms, "red, fox") is None


def test_first_matching_rule_is_named() -> None:
    assert matched(("alpha", "beta", "gamma"), "gamma then beta") == "beta"
    assert matched(("alpha",), "nothing here") is None


def test_terms_with_punctuation_and_regex_characters() -> None:
    assert matched(("c++",), "write c++ code") == "c++"
    assert matched(("a.b",), "aXb") is None  # escaped, not a regex


def test_term_is_stored_as_typed_and_normalized() -> None:
    term = blocked_term("  Crème   Brûlée ")
    assert term.term == "Crème Brûlée"
    assert term.normalized == "creme brulee" == normalize("CRÈME brûlée")


@pytest.mark.parametrize("text", ["", "   ", "!!!", "\u200b"])
def test_empty_terms_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        blocked_term(text)


def test_overlong_term_is_refused() -> None:
    blocked_term("a" * MAX_TERM_CHARS)
    with pytest.raises(InvalidInput, match=str(MAX_TERM_CHARS)):
        blocked_term("a" * (MAX_TERM_CHARS + 1))
