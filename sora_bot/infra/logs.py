"""Structured logging: one logfmt line per event, secrets redacted as a last line of defence.

Prompts stay out of the logs unless ``SORA_LOG_PROMPTS=1``: the bot adds them on purpose only
then, and the libraries that echo payloads at DEBUG are kept quiet (``PAYLOAD_LOGGERS``).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

from sora_bot.outside_text import SecretRedactor

FIELDS_ATTR = "fields"
_BARE = re.compile(r"^[A-Za-z0-9_.:/@+-]+$")
# Libraries whose DEBUG lines carry what users typed: aiosqlite logs every call with its SQL
# parameters (a job's INSERT holds the prompt); discord.py logs HTTP payloads and gateway
# events (an interaction carries the prompt as typed, a status embed shows it).
PAYLOAD_LOGGERS = ("aiosqlite", "discord")


def event(logger: logging.Logger, level: int, msg: str, **fields: Any) -> None:
    """Log ``msg`` with key=value fields (None values are left out)."""
    if logger.isEnabledFor(level):
        clean = {k: v for k, v in fields.items() if v is not None}
        logger.log(level, msg, extra={FIELDS_ATTR: clean}, stacklevel=2)


def logfmt_value(value: Any) -> str:
    """A value as logfmt writes it: bare when safe, else quoted with escapes."""
    text = str(value)
    if text and _BARE.match(text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped.replace("\r", "\\r").replace("\t", "\\t") + '"'


class LogfmtFormatter(logging.Formatter):
    """One line per record: ``ts=… level=info logger=… msg="…" job=12 guild=… user=…``."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        parts = {
            "ts": ts.replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields: Mapping[str, Any] = getattr(record, FIELDS_ATTR, None) or {}
        line = " ".join(f"{k}={logfmt_value(v)}" for k, v in {**parts, **fields}.items())
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += f" exc={logfmt_value(record.exc_text)}"
        return line


class RedactingFilter(logging.Filter):
    """Replaces every configured secret in the message, its fields and any traceback."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret containing another is replaced whole.
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)
        self._redactor = SecretRedactor(self.secrets)

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced, in any shape (encoded, escaped, split…)."""
        return self._redactor.redact(text)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        record.msg, record.args = self.redact(record.getMessage()), None
        fields = getattr(record, FIELDS_ATTR, None)
        if fields:
            setattr(record, FIELDS_ATTR, {k: self.redact(str(v)) for k, v in fields.items()})
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        return True


class PayloadFilter(logging.Filter):
    """Drops the DEBUG records of ``PAYLOAD_LOGGERS``, whatever level a library sets itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG:
            return True
        return not any(
            record.name == name or record.name.startswith(name + ".") for name in PAYLOAD_LOGGERS
        )


def configure_logging(
    level: str | int,
    secrets: Iterable[str] = (),
    *,
    log_prompts: bool = False,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every log record to ``stream`` (stderr) as logfmt, redacted; returns the handler.

    Unless ``log_prompts``, the payload-echoing libraries log at INFO and above only.
    """
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(LogfmtFormatter())
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in PAYLOAD_LOGGERS:
        # The level spares building records that would be dropped; the filter is the guard.
        capped = logging.NOTSET if log_prompts else max(logging.INFO, root.level)
        logging.getLogger(name).setLevel(capped)
    if not log_prompts:
        handler.addFilter(PayloadFilter())
    return handler
