from __future__ import annotations

import pytest

from sora_bot.errors import InvalidInput
from sora_bot.rules.terms import (
    MAX_TERM_CHARS,
    BlockedTerm,
    TermMatcher,
    blocked_term,
    normalize,
)


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


# Dodges that read as the blocked word to a person: each must be caught.
DODGES = [
    "a c\u200bat on a mat",  # zero-width space inside the word
    "a c\u00adat on a mat",  # soft hyphen
    "a c\u2060a\u200dt",  # word joiner, zero-width joiner
    "a \u0441\u0430t",  # Cyrillic с and а
    "a \u0421\u0410\u0422",  # Cyrillic capitals С А Т
    "a c\u03b1t",  # Greek alpha
    "a ｃａｔ",  # fullwidth
    "a 𝐜𝐚𝐭",  # mathematical bold
    "a 𝖈𝖆𝖙",  # mathematical bold fraktur
    "a c\u0336a\u0336t\u0336",  # combining strike-through on every letter
    "a c\U000e0041at\U000e007f",  # tag characters
    "a c\ufe0fa\ufe00t",  # variation selectors
    "a c\u034fat",  # combining grapheme joiner
    "a c\u180eat",  # Mongolian vowel separator
]


@pytest.mark.parametrize("prompt", DODGES)
def test_dodges_are_caught(prompt: str) -> None:
    assert matched(("cat",), prompt) == "cat"


def test_a_term_typed_with_homoglyphs_catches_the_plain_word() -> None:
    assert matched(("\u0441\u0430t",), "a black cat") == "\u0441\u0430t"


@pytest.mark.parametrize(
    ("term", "prompt"),
    [
        ("cat", "a \u0441\u0430tegory of its own"),  # homoglyphs, but inside a longer word
        ("burn", "a bum on a bench"),  # TR39 maps ASCII m to rn; ASCII keeps its identity here
        ("modem", "a modern house"),
        ("icon", "a lcon"),  # TR39 maps I to l; casefolded text keeps i and l apart
        ("love", "1ove"),  # digits are not letters: leetspeak is out of scope
        ("cat", "a c.a.t"),
    ],
)
def test_different_words_do_not_collide(term: str, prompt: str) -> None:
    assert matched((term,), prompt) is None


def test_known_cross_script_collision() -> None:
    """Documented: a real Russian word that looks like an English one folds onto it."""
    assert normalize("\u0441\u043e\u0440") == "cop"  # Russian "сор" (litter)


def test_other_scripts_still_match_themselves() -> None:
    assert matched(("\u043c\u0430\u043c\u0430",), "\u041c\u0410\u041c\u0410 \u0438 \u044f")
    assert matched(("東京",), "東京の夜") is None  # no spaces between CJK words: not a whole word
    assert matched(("東京",), "夜の 東京 です") == "東京"


def test_rules_stored_by_the_old_normalize_still_match() -> None:
    # Before skeletons the stored form of "сат" (Cyrillic с, а) was itself.
    old = BlockedTerm("\u0441\u0430t", "\u0441\u0430t")
    assert TermMatcher([BlockedTerm.stored(old.term)]).first_match("a cat") is not None
