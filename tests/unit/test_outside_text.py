"""Text from outside: provider messages cleaned where they enter, prompts readied for display."""

from __future__ import annotations

import base64
import json
import logging
import time
from urllib.parse import quote

import pytest

from sora_bot.infra.logs import RedactingFilter
from sora_bot.outside_text import (
    MAX_OUTSIDE_CHARS,
    REDACTED,
    SecretRedactor,
    clean_outside_code,
    clean_outside_text,
    display_prompt,
)
from sora_bot.provider.answers import parse_task

KEY = "sk-live-0123456789abcdef"
TOKEN = "MTIzNDU2Nzg5MDEy.GhIjKl.abcdefghijklmnopqrstuvwxyz0123"
REDACTOR = SecretRedactor([KEY, TOKEN])
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


MIME = b64(f"Authorization: Bearer {KEY}".encode())
SHAPES = {
    "exact": KEY,
    "upper case": KEY.upper(),
    "mixed case": KEY.swapcase(),
    "percent-encoded": quote(KEY, safe=""),
    "every byte percent-encoded": "".join(f"%{b:02X}" for b in KEY.encode()),
    "percent-encoded twice": quote(quote(KEY, safe=""), safe=""),
    "JSON string": json.dumps(KEY)[1:-1],
    "JSON unicode escapes": "".join(f"\\u{ord(c):04x}" for c in KEY),
    "JSON inside JSON": json.dumps(json.dumps({"k": KEY}))[1:-1],
    "backslash-escaped": "".join("\\" + c for c in KEY),
    "split by spaces": " ".join(KEY),
    "split by newlines": "\n".join([KEY[:5], KEY[5:12], KEY[12:]]),
    "split by zero-width spaces": "\u200b".join(KEY),
    "split by soft hyphens and joiners": "\u00ad\u2060".join(KEY),
    "hex": KEY.encode().hex(),
    "HTML entities": "".join(f"&#{ord(c)};" for c in KEY),
    "base64": b64(KEY.encode()),
    "base64 of the header": b64(f"Bearer {KEY}".encode()),
    "base64 at offset 1": b64(b"x" + KEY.encode()),
    "base64 at offset 2": b64(b'{"' + KEY.encode() + b'"}'),
    "base64 url-safe": base64.urlsafe_b64encode(b"~~" + TOKEN.encode()).decode(),
    "base64 wrapped like MIME": "\n".join(MIME[i : i + 8] for i in range(0, len(MIME), 8)),
    "the other secret": TOKEN.lower(),
    "fullwidth": "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in KEY),
}


def leaks(text: str) -> bool:
    """Whether any recognisable piece of a secret is left (8 characters in a row)."""
    squeezed = "".join(ch for ch in text.lower() if ch.isalnum())
    return any(
        secret.lower()[i : i + 8].replace("-", "").replace(".", "") in squeezed
        for secret in (KEY, TOKEN)
        for i in range(0, len(secret) - 8)
    )


@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_every_shape_of_a_secret_is_redacted(shape: str) -> None:
    text = clean_outside_text(f"denied: {shape} (see docs)", REDACTOR)
    assert REDACTED in text and not leaks(text)
    assert text.startswith("denied: ") and text.endswith("(see docs)")


@pytest.mark.parametrize("shape", [s for k, s in SHAPES.items() if k != "fullwidth"])
def test_the_log_filter_redacts_the_same_shapes(shape: str) -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "auth=%s", (shape,), None)
    record.__dict__["fields"] = {"detail": f"x{shape}y"}
    RedactingFilter([KEY, TOKEN]).filter(record)
    assert REDACTED in record.getMessage() and not leaks(record.getMessage())
    assert not leaks(record.__dict__["fields"]["detail"])


def test_ordinary_text_and_short_secrets_are_left_alone() -> None:
    text = "task-unified-1757169743-7cvnl5zw failed: retry after 60 seconds"
    assert REDACTOR.redact(text) == text
    short = SecretRedactor(["abcd1"])
    assert short.redact("x abcd1 y ABCD1 a b c d 1") == f"x {REDACTED} y ABCD1 a b c d 1"


def test_provider_text_loses_pings_markup_and_invisible_characters() -> None:
    hostile = (
        "# Heading\n> quoted\n-# small\n```py\ncode\n``` **bold** __under__ ~~gone~~ ||spoiler|| "
        "@everyone @here <@123> <@!4> <@&5> <#6> </cmd:7> [free nitro](https://evil.example/x) "
        f"{BIDI}evil\x00\x07\x1b[31m ＠everyone"
    )
    text = clean_outside_text(hostile)
    for mark in ("```", "`", "**", "__", "~~", "||", "# ", "](", BIDI[0], "\x1b"):
        assert mark not in text, mark
    assert not any(line.startswith((">", "#", "-#")) for line in text.splitlines())
    for ping in ("@everyone", "@here", "<@123>", "<@!4>", "<@&5>", "<#6>", "</cmd:7>"):
        assert ping not in text, ping
    assert not any(ch in text for ch in BIDI + "\x00\x07")
    assert "free nitro (https://evil.example/x)" in text  # the real target, in plain sight
    assert text.startswith("Heading\nquoted\nsmall\n")


def test_provider_text_is_capped() -> None:
    assert len(clean_outside_text("y" * 10_000)) == MAX_OUTSIDE_CHARS
    assert clean_outside_text("a\n\n\n  b  ") == "a\nb"


def test_codes_keep_only_code_characters() -> None:
    assert clean_outside_code(" content_policy_violation ") == "content_policy_violation"
    assert clean_outside_code(f"x`<@1>`{KEY}", REDACTOR) == "x1redacted"
    assert clean_outside_code("<>") is None


def test_a_failed_tasks_error_is_cleaned_where_it_is_read() -> None:
    body = {
        "id": "task-1",
        "status": "failed",
        "error": {"code": f"bad`{KEY}`", "message": f"**no** @everyone {quote(KEY)}\u202e"},
    }
    task = parse_task(json.dumps(body).encode(), REDACTOR)
    assert task is not None and task.error_message is not None
    assert task.error_code == "badredacted"
    assert task.error_message == f"no @\u200beveryone {REDACTED}"


def test_prompts_show_their_links_and_cannot_reorder_ping_or_mark_up() -> None:
    prompt = (
        f"a fox [cute cat](https://evil.example/x) {BIDI}4pm.exe @everyone <@&5>\n"
        "# big ```py || **x"
    )
    shown = display_prompt(prompt)
    assert "cute cat (https://evil.example/x)" in shown and "](" not in shown
    assert not any(ch in shown for ch in BIDI)
    assert "@everyone" not in shown and "<@&5>" not in shown
    assert "\\# big \\`\\`\\`py \\|\\| \\*\\*x" in shown  # shown as typed, opens nothing
    assert "https://evil.example/x" in shown  # a URL is not escaped (that would change it)


def test_thread_names_get_plain_text() -> None:
    name = display_prompt(f"a [b](https://e.example) {BIDI}c\n**d** @here", 90, markdown=False)
    assert name == "a b (https://e.example) c **d** @\u200bhere"
    assert len(display_prompt("z" * 500, 90, markdown=False)) == 90


def test_redaction_stays_linear_on_runs_that_look_like_escapes() -> None:
    # A secret starting with n, r or t meets a long run of "\n": each position could start an
    # escaped letter or a split. Quadratic matching froze the loop for minutes on 200 KB.
    redactor = SecretRedactor(["ntoken1234567890abcdefXYZ"])
    hostile = "\\n" * 100_000
    started = time.perf_counter()
    clean_outside_text(hostile, redactor)
    redactor.redact(hostile)
    assert time.perf_counter() - started < 2.0
    assert redactor.redact("a \\ntoken1234567890abcdefXYZ b") == f"a {REDACTED} b"
