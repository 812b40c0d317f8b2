"""Blocked-term matching on a skeleton of the text: whole words and phrases.

Both the admin's term and the prompt are reduced the same way (``normalize``): NFKC (fullwidth
and mathematical letters become plain ones), invisible code points removed, letters that look
alike folded to one prototype (Unicode TR39 confusables, ``confusables.tsv``), casefolded,
accents dropped. So "cаt" with a Cyrillic "а", "c\u200bat" or "ｃａｔ" all read "cat".

Known limits: ASCII keeps its identity (TR39's own ``m``→``rn``, ``1``→``l`` would make "burn"
match "bum"), so digit spellings ("c4t") are not caught; real words of other scripts that
look like a Latin word fold onto it (Russian "сор" reads "cop", "мама" reads "mama"), and
words that differ only by a combining mark (an accent, an Indic vowel sign) read the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sora_bot.errors import InvalidInput
from sora_bot.rules import refusals
from sora_bot.rules.skeleton import skeleton, visible_text

MAX_TERM_CHARS = 100


def strip_invisible(text: str) -> str:
    """``text`` without invisible code points (default-ignorables and format characters Cf)."""
    return visible_text(text)


def normalize(text: str) -> str:
    """The form terms and prompts are compared in: their skeleton, whitespace runs as one space."""
    return " ".join(skeleton(text).split())


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

    @classmethod
    def stored(cls, term: str) -> BlockedTerm:
        """A rule read back from the database, normalized again from its text.

        The stored form may come from an older ``normalize``; the text is what the admin meant.
        """
        return cls(term, normalize(term))


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
