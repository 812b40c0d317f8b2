"""The one place text from outside is made safe: provider messages, and prompts on display.

``clean_outside_text`` is applied where provider text enters (the HTTP client and the task
parser), so what is stored, logged and shown is already clean: secrets redacted whatever
their shape, control and bidi characters removed, pings defused, Discord markup stripped,
length capped. ``display_prompt`` readies a member's prompt for an embed, a list line or a
thread name. ``SecretRedactor`` is also the log filter's redactor.
"""

from __future__ import annotations

import base64
import re
import unicodedata
from collections.abc import Iterable

__all__ = [
    "MAX_OUTSIDE_CHARS",
    "REDACTED",
    "SecretRedactor",
    "clean_outside_code",
    "clean_outside_text",
    "display_prompt",
]

MAX_OUTSIDE_CHARS = 500  # provider text kept per field: enough for any real explanation
MAX_CODE_CHARS = 64
REDACTED = "[redacted]"
MIN_SHAPED_SECRET = 8  # shorter secrets are only matched exactly (loose shapes would overmatch)
MIN_BASE64_CHARS = 8

ZWSP = "\u200b"
# Overrides, embeddings, isolates and marks that reorder what a reader sees.
_BIDI = "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
# What may sit between the characters of a secret without a reader noticing: whitespace,
# invisible format characters, C0/C1 controls, and their escaped or percent-encoded forms.
_SPLIT = (
    r"(?:[\s\x00-\x1f\x7f-\x9f\u00ad\u034f\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]"
    r"|%(?:25){0,3}(?:20|09|0a|0d)|\\{1,8}[nrt]|&nbsp;){0,8}+"
)  # bounded and possessive: a run of "\\n" (a split, or an escaped n) stays linear to match
_B64_SPLIT = r"\s*"


def _char_pattern(char: str) -> str:
    """``char`` as itself, percent-encoded (even twice), escaped in JSON/C, or as an entity."""
    code = ord(char)
    forms = [re.escape(char), r"\\{1,8}" + re.escape(char)]
    forms.append("".join(f"%(?:25){{0,3}}{byte:02x}" for byte in char.encode()))
    if code <= 0xFFFF:
        forms.append(rf"\\{{1,8}}u{code:04x}")
    if code <= 0xFF:
        forms.append(rf"\\{{1,8}}x{code:02x}")
    forms.append(rf"&#0*{code};|&#x0*{code:x};")
    return "(?:" + "|".join(forms) + ")"


def _base64_runs(plain: bytes) -> Iterable[str]:
    """The base64 characters that depend on ``plain`` alone, at each of the 3 byte offsets."""
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + plain).decode()
        start = -(-8 * offset // 6)  # first character with no prefix bits
        end = 8 * (offset + len(plain)) // 6  # last character with no bits of what follows
        if end - start >= MIN_BASE64_CHARS:
            yield encoded[start:end]


def _base64_pattern(run: str) -> str:
    # The standard and the URL-safe alphabets; MIME wraps lines, so whitespace may split it.
    alphabet = {"+": "[+-]", "/": "[/_]"}
    return _B64_SPLIT.join(alphabet.get(ch, re.escape(ch)) for ch in run)


def _secret_patterns(secret: str) -> tuple[list[str], set[str]]:
    """The patterns of every shape of ``secret``, and the characters any of them starts with."""
    if len(secret) < MIN_SHAPED_SECRET:
        return [re.escape(secret)], {secret[0]}
    first = {secret[0].lower(), secret[0].upper(), "\\", "%", "&"}
    text = "(?i:" + _SPLIT.join(_char_pattern(ch) for ch in secret) + ")"
    hex_digits = secret.encode().hex()
    first |= {hex_digits[0], hex_digits[0].upper()}
    runs = [
        run
        for plain in (f"Bearer {secret}".encode(), f"Bot {secret}".encode(), secret.encode())
        for run in _base64_runs(plain)
    ]
    first |= {ch for run in runs for ch in {"+": "+-", "/": "/_"}.get(run[0], run[0])}
    return [text, f"(?i:{hex_digits})", *(_base64_pattern(run) for run in runs)], first


class SecretRedactor:
    """Replaces the configured secrets in any text, in every shape they could travel in.

    The exact string, any change of case, split by whitespace or invisible characters,
    percent-encoded, JSON/backslash-escaped, HTML entities, hex, and base64 (standard or
    URL-safe, of the secret and of ``Bearer <secret>``, at the 3 alignments a secret can have
    inside a longer base64 text).
    """

    def __init__(self, secrets: Iterable[str]) -> None:
        unique = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        self.longest = len(unique[0]) if unique else 0
        patterns: list[str] = []
        first: set[str] = set()
        for secret in unique:
            shapes, starts = _secret_patterns(secret)
            patterns += shapes
            first |= starts
        # Longest first, so a secret containing another is replaced whole. The look-ahead on
        # the first character lets most positions of a log line fail at once (3x faster).
        patterns.sort(key=len, reverse=True)
        starts_with = "[" + "".join(re.escape(ch) for ch in sorted(first)) + "]"
        joined = f"(?={starts_with})(?:{'|'.join(patterns)})"
        self._pattern = re.compile(joined) if patterns else None

    def __bool__(self) -> bool:
        return self._pattern is not None

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of a secret replaced by ``REDACTED``."""
        if self._pattern is None:
            return text
        return self._pattern.sub(REDACTED, text)


NO_SECRETS = SecretRedactor(())

_MASKED_LINK = re.compile(r"\[([^\]\n]*)\]\(\s*<?([^()<>\s]*)>?[^()\n]*\)")
_LINK_JOIN = re.compile(r"\]\s*\(")
_PINGS = re.compile(r"@(?=everyone|here)|<(?=[@#/:]|a:|t:)", re.IGNORECASE)
_LINE_MARKUP = re.compile(r"^[ \t]*(?:>>>|>|#{1,6}|-#)[ \t]*", re.MULTILINE)
_INLINE_MARKUP = re.compile(r"```|`|\*+|__+|~~+|\|\|+")
_URL = re.compile(r"https?://[^\s<>()\[\]]+")
_ESCAPED = re.compile(r"([\\*_~|`\[\]])")
_LINE_START = re.compile(r"^([ \t]*)(>|#|-#)", re.MULTILINE)


def _strip_invisible(text: str, *, keep_newlines: bool) -> str:
    """Controls, bidi controls and other invisible format characters removed (ZWJ kept)."""
    out = []
    for ch in text.replace("\r\n", "\n"):
        if ch == "\n":
            out.append("\n" if keep_newlines else " ")
        elif ch in "\t\r\x0b\x0c":
            out.append(" ")
        elif ch == "\u200d" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co"):
            out.append(ch)
    return "".join(out)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _unmask_links(text: str) -> str:
    """``[label](url)`` shown as ``label (url)``: the real target stays in plain sight."""
    text = _MASKED_LINK.sub(lambda m: f"{m[1]} ({m[2]})" if m[2] else m[1], text)
    return _LINK_JOIN.sub("] (", text)


def _defuse_pings(text: str) -> str:
    """``@everyone``, ``@here`` and ``<@id>``-style mentions broken by a zero-width space."""
    return _PINGS.sub(lambda m: m[0] + ZWSP, text)


def clean_outside_text(
    text: str, redactor: SecretRedactor = NO_SECRETS, *, limit: int = MAX_OUTSIDE_CHARS
) -> str:
    """Provider text made safe to store, log and show: plain, short, and without secrets."""
    # Only the head can be kept: cut first, so a 256-KiB answer costs a few KiB of matching
    # (with room for a secret in any shape that straddles the cut: up to 16 characters a letter).
    text = text[: limit * 4 + redactor.longest * 16]
    text = redactor.redact(unicodedata.normalize("NFKC", text))
    text = redactor.redact(_strip_invisible(text, keep_newlines=True))
    text = _LINE_MARKUP.sub("", _unmask_links(text))
    text = _INLINE_MARKUP.sub(lambda m: "'" if m[0].startswith("`") else "", text)
    text = _defuse_pings(re.sub(r"[ \u00a0]{2,}", " ", text))
    lines = [line.strip() for line in text.split("\n")]
    return _clip("\n".join(line for line in lines if line), limit)


def clean_outside_code(value: str, redactor: SecretRedactor = NO_SECRETS) -> str | None:
    """A provider's error code or type, only ``[A-Za-z0-9_.:-]`` kept (None: nothing left)."""
    code = re.sub(r"[^A-Za-z0-9_.:-]", "", clean_outside_text(value, redactor, limit=200))
    return code[:MAX_CODE_CHARS] or None


def display_prompt(text: str, limit: int | None = None, *, markdown: bool = True) -> str:
    """A member's prompt (or any typed text) as the bot shows it back.

    Bidi and control characters removed, masked links shown with their real URL, pings
    defused, cut to ``limit``. With ``markdown`` (embeds, message lines), markup characters
    are escaped so the text shows as typed and cannot open a code block, spoiler, heading or
    quote over what follows; without (thread names, where Discord renders no markup), no
    backslashes are added.
    """
    text = _strip_invisible(text, keep_newlines=markdown)
    text = _clip(text, limit) if limit else text
    text = _unmask_links(text)
    if markdown:
        text = _escape_markdown(text)
    text = _defuse_pings(text)
    if limit and len(text) > limit:  # escapes and defused pings add characters: cut again
        text = text[: limit - 1].rstrip("\\ ") + "…"
    return text


def _escape_markdown(text: str) -> str:
    """Markup characters backslash-escaped, outside URLs (escaping would change the link)."""
    parts, last = [], 0
    for url in _URL.finditer(text):
        parts.append(_ESCAPED.sub(r"\\\1", text[last : url.start()]))
        parts.append(url[0])
        last = url.end()
    parts.append(_ESCAPED.sub(r"\\\1", text[last:]))
    return _LINE_START.sub(lambda m: m[1] + "\\" + m[2], "".join(parts))
