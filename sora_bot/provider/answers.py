"""What the provider's JSON answers mean, read defensively: a body that is not the documented
shape is "no answer" (None or empty), never an exception or a guess."""

from __future__ import annotations

import email.utils
import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from sora_bot.models import Task, TaskStatus
from sora_bot.outside_text import NO_SECRETS, SecretRedactor, clean_outside_code, clean_outside_text

_SUGGESTED_WAIT = re.compile(r"retry\s+after\s+(\d+(?:\.\d+)?)", re.IGNORECASE)


def parse_task(raw: bytes, redactor: SecretRedactor = NO_SECRETS) -> Task | None:
    """A Task from a query/create body, or None when the body is not the documented shape.

    The error's code and message are provider text: cleaned here, before anything stores,
    logs or shows them (``redactor`` knows the secrets).
    """
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        return None
    try:
        status = TaskStatus(str(data.get("status")))
    except ValueError:
        return None
    info = _mapping(data.get("task_info"))
    error = _mapping(data.get("error"))
    usage = _mapping(data.get("usage"))
    results = data.get("results")
    links = tuple(r for r in results if isinstance(r, str)) if isinstance(results, list) else ()
    return Task(
        id=data["id"],
        status=status,
        progress=max(0, min(100, _int(data.get("progress")) or 0)),
        estimated_time=_int(info.get("estimated_time")),
        results=links,
        error_code=_outside(error.get("code"), redactor, code=True),
        error_message=_outside(error.get("message"), redactor),
        credits_reserved=_number(usage.get("credits_reserved")),
        created=_int(data.get("created")),
        raw=data,
    )


def error_envelope(raw: bytes) -> dict[str, Any]:
    """The ``error`` object of an error answer (empty when there is none)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return _mapping(data.get("error")) if isinstance(data, dict) else {}


def retry_after(header: str | None, suggestion: str | None) -> float | None:
    """Seconds to wait per a Retry-After header (seconds or HTTP date), else the suggestion."""
    if header:
        header = header.strip()
        try:
            seconds = float(header)
        except ValueError:
            seconds = None
        if seconds is not None:
            return max(0.0, seconds) if math.isfinite(seconds) else None
        try:
            when = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    match = _SUGGESTED_WAIT.search(suggestion or "")
    return float(match.group(1)) if match else None


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _outside(value: Any, redactor: SecretRedactor, *, code: bool = False) -> str | None:
    if value is None:
        return None
    if code:
        return clean_outside_code(str(value), redactor)
    return clean_outside_text(str(value), redactor) or None
