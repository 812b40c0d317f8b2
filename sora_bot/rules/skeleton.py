"""Text folded for comparison: what a reader sees, not which code points spell it.

Invisible characters (Unicode's Default_Ignorable_Code_Point set plus every format character)
and marks are dropped, and confusable letters fold to their prototype from UTS #39's table
(``confusables.tsv``, made by ``tools/make_confusables.py``: see there for its source and for
why plain ASCII is left as it is). Python's ``unicodedata`` has no confusables data.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

# Default_Ignorable_Code_Point (DerivedCoreProperties.txt): joiners, fillers, variation
# selectors, tag characters... all render as nothing.
_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
_IGNORABLE = frozenset(cp for low, high in _IGNORABLE_RANGES for cp in range(low, high + 1))
_BLANK = frozenset({0x2800})  # braille pattern blank: shows as a space, is not whitespace
_MARKS = frozenset({"Mn", "Me"})
TABLE_PATH = Path(__file__).with_name("confusables.tsv")


def is_invisible(ch: str) -> bool:
    """Whether ``ch`` renders as nothing at all (ignorable, or a format character)."""
    return ord(ch) in _IGNORABLE or unicodedata.category(ch) == "Cf"


def visible_text(text: str) -> str:
    """``text`` without its invisible characters, blank look-alikes as spaces."""
    return "".join(" " if ord(ch) in _BLANK else ch for ch in text if not is_invisible(ch))


def skeleton(text: str) -> str:
    """NFKC, case-folded, invisible characters and marks gone, confusables at their prototype."""
    # The table is keyed by lowercase letters (a letter and its capital share a prototype).
    bare = _bare(unicodedata.normalize("NFKC", text).casefold())
    return _bare(bare.translate(CONFUSABLES).casefold())


def _bare(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", visible_text(text))
    return "".join(ch for ch in decomposed if unicodedata.category(ch) not in _MARKS)


def load_confusables(path: Path = TABLE_PATH) -> dict[int, str]:
    """The table as ``str.translate`` wants it: source code point to prototype."""
    table: dict[int, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            source, prototype = line.split("\t")
            table[int(source, 16)] = "".join(chr(int(cp, 16)) for cp in prototype.split())
    return table


CONFUSABLES = load_confusables()
