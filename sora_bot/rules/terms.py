"""Blocked-term matching: case- and accent-insensitive, whole words and phrases."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from sora_bot.errors import InvalidInput
from sora_bot.rules import refusals

MAX_TERM_CHARS = 100


def normalize(text: str) -> str:
    """Casefold, drop accents and invisible format characters, collapse whitespace."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    # Cf covers zero-width joiners and spaces that would otherwise split a word invisibly.
    kept = "".join(
        ch
        for ch in decomposed
        if not unicodedata.combining(ch) and unicodedata.category(ch) != "Cf"
    )
    return " ".join(kept.split())


def term_pattern(normalized: str) -> re.Pattern[str]:
    """A regex for a normalized term: whole words, any whitespace run between words."""
    words = normalized.split()
    if not words:
        raise ValueError("a blocked term needs at least one word")
    body = r"\s+".join(re.escape(word) for word in words)
    # Look-arounds instead of \b so terms that start or end with punctuation still work.
    return re.compile(rf"(?<!\w){body}(?!\w)")


@dataclass(frozen=True, slots=True)
class BlockedTerm:
    """One guild rule: the text as the admin typed it and its normalized form."""

    term: str
    normalized: str


class TermMatcher:
    """Finds the first blocked term in a prompt."""

    def __init__(self, terms: Iterable[BlockedTerm]) -> None:
        self._rules = [(t, term_pattern(t.normalized)) for t in terms if t.normalized]

    def first_match(self, text: str) -> BlockedTerm | None:
        """The first rule (in list order) that the text contains, or None."""
        haystack = normalize(text)
        for rule, pattern in self._rules:
            if pattern.search(haystack):
                return rule
        return None


def blocked_term(text: str) -> BlockedTerm:
    """Check an admin's new term and return it with its normalized form (or InvalidInput)."""
    shown = " ".join(text.split())
    normalized = normalize(text)
    if not re.search(r"\w", normalized):
        raise InvalidInput(refusals.term_invalid("empty", MAX_TERM_CHARS))
    if len(shown) > MAX_TERM_CHARS:
        raise InvalidInput(refusals.term_invalid("too_long", MAX_TERM_CHARS))
    return BlockedTerm(shown, normalized)
