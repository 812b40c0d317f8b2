"""What the provider's JSON answers mean, read defensively: a body that is not the documented
shape is "no answer" (None or empty), never an exception or a guess."""

from __future__ import annotations

import email.utils
import json
import math
import re
from datetime import UTC, datetime
from typing import Any, TypeVar

from sora_bot.models import Task, TaskStatus
from sora_bot.outside_text import NO_SECRETS, SecretRedactor, clean_outside_code, clean_outside_text
from sora_bot.provider.links import MAX_LINK_CHARS

_SUGGESTED_WAIT = re.compile(r"retry\s+after\s+(\d+(?:\.\d+)?)", re.IGNORECASE)
# Bounds of believable values; anything outside is ignored, as if the field were absent.
TASK_ID = re.compile(r"[!-~]{1,200}")  # printable ASCII without spaces, as documented ids are
MAX_ESTIMATE = 24 * 3600  # seconds; the provider's typical estimate is 300
MAX_CREDITS = 10_000.0  # provider credits one task may reserve (a task costs about 10)
MAX_RESULTS = 4  # result links kept (the bot uses the first)
LATEST_CREATED = 4_102_444_800  # 2100-01-01: a creation time past this is nonsense
MAX_WAIT = 3600.0  # seconds; a longer Retry-After is capped to this

_N = TypeVar("_N", int, float)


def parse_task(raw: bytes, redactor: SecretRedactor = NO_SECRETS) -> Task | None:
    """A Task from a query/create body, or None when the body is not the documented shape.

    The error's code and message are provider text: cleaned here, before anything stores,
    logs or shows them (``redactor`` knows the secrets).
    """
    data = _json(raw)
    if not isinstance(data, dict) or not _is_task_id(data.get("id")):
        return None
    try:
        status = TaskStatus(data["status"] if isinstance(data.get("status"), str) else "")
    except ValueError:
        return None
    info = _mapping(data.get("task_info"))
    error = _mapping(data.get("error"))
    usage = _mapping(data.get("usage"))
    return Task(
        id=data["id"],
        status=status,
        progress=max(0, min(100, _int(data.get("progress")) or 0)),
        estimated_time=_within(_int(info.get("estimated_time")), 1, MAX_ESTIMATE),
        results=_links(data.get("results")),
        error_code=_outside(error.get("code"), redactor, code=True),
        error_message=_outside(error.get("message"), redactor),
        credits_reserved=_within(_number(usage.get("credits_reserved")), 0, MAX_CREDITS),
        created=_within(_int(data.get("created")), 1, LATEST_CREATED),
        raw=data,
    )


def error_envelope(raw: bytes) -> dict[str, Any]:
    """The ``error`` object of an error answer (empty when there is none)."""
    data = _json(raw)
    return _mapping(data.get("error")) if isinstance(data, dict) else {}


def _json(raw: bytes) -> Any:
    """The decoded body, or None when it is not JSON (NaN and Infinity decode to None)."""
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python allows
        return None


def _no_constant(_name: str) -> None:
    return None  # NaN, Infinity, -Infinity: not JSON, and no use as a number


def _is_task_id(value: Any) -> bool:
    return isinstance(value, str) and TASK_ID.fullmatch(value) is not None


def _links(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    kept = (v for v in value if isinstance(v, str) and 0 < len(v) <= MAX_LINK_CHARS)
    return tuple(kept)[:MAX_RESULTS]


def retry_after(header: str | None, suggestion: str | None) -> float | None:
    """Seconds to wait per a Retry-After header (seconds or HTTP date), else the suggestion."""
    if header:
        header = header.strip()
        try:
            seconds = float(header)
        except ValueError:
            seconds = None
        if seconds is not None:
            return _wait(seconds) if math.isfinite(seconds) else None
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError, OverflowError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return _wait((when - datetime.now(UTC)).total_seconds())
    match = _SUGGESTED_WAIT.search(suggestion or "")
    return _wait(float(match.group(1))) if match else None


def _wait(seconds: float) -> float:
    return max(0.0, min(MAX_WAIT, seconds))


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) else None


def _within(value: _N | None, low: float, high: float) -> _N | None:
    """``value`` when it lies in ``[low, high]``, else None (not believable)."""
    return value if value is not None and low <= value <= high else None


def _str(value: Any) -> str | None:
    # Scalars only: a nested structure is no text (and its str() could recurse too deep).
    if isinstance(value, str):
        return value
    return str(value) if isinstance(value, int | float) else None


def _outside(value: Any, redactor: SecretRedactor, *, code: bool = False) -> str | None:
    text = _str(value)
    if text is None:
        return None
    if code:
        return clean_outside_code(text, redactor)
    return clean_outside_text(text, redactor) or None
