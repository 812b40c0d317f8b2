"""Rate-limited log lines: a flood of one kind of event writes a line per interval, not per event.

A public endpoint refuses calls it cannot trust; logging each refusal would let anyone fill the
disk and bury the lines that matter. A kind is the message text (a constant in the code, never
built from what a client sent), so the kinds kept stay few. The line written after a quiet spell
carries ``suppressed=N``: how many of its kind were held back since the previous one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from sora_bot.infra.logs import FIELDS_ATTR, event

LOG_EVERY = 60.0  # seconds: one line per kind at most this often
MAX_KINDS = 1_000  # a bound in case a caller's messages vary after all


class LogWindow:
    """Decides per kind whether a line may be written now."""

    def __init__(
        self, interval: float = LOG_EVERY, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self.clock = clock
        self._kinds: dict[str, tuple[float, int]] = {}  # kind -> (last written at, held back)

    def __len__(self) -> int:
        """Kinds remembered."""
        return len(self._kinds)

    def allow(self, kind: str) -> int | None:
        """None: hold this line back; else write it, noting this many held back before it."""
        now = self.clock()
        last = self._kinds.get(kind)
        if last is not None and now - last[0] < self.interval:
            self._kinds[kind] = (last[0], last[1] + 1)
            return None
        if last is None and len(self._kinds) >= MAX_KINDS:
            self._kinds.clear()
        self._kinds[kind] = (now, 0)
        return last[1] if last is not None else 0


class LogLimiter:
    """``event()`` lines of one logger, at most one per message per interval."""

    def __init__(self, logger: logging.Logger, window: LogWindow | None = None) -> None:
        self.logger = logger
        self.window = window if window is not None else LogWindow()

    def event(self, level: int, msg: str, **fields: Any) -> None:
        """Log like ``logs.event`` unless a line of this ``msg`` was written lately."""
        if not self.logger.isEnabledFor(level):
            return
        held = self.window.allow(msg)
        if held is not None:
            event(self.logger, level, msg, **fields, suppressed=held or None)


class LimitedLogger(logging.LoggerAdapter[logging.Logger]):
    """A logger to hand to a library (aiohttp's server) that logs once per bad request."""

    def __init__(self, logger: logging.Logger, window: LogWindow | None = None) -> None:
        super().__init__(logger, {})
        self.window = window if window is not None else LogWindow()

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        held = self.window.allow(f"{level}:{msg}")  # the template, not the formatted text
        if held is None:
            return
        if held:
            extra = kwargs.get("extra") or {}
            fields = {**extra.get(FIELDS_ATTR, {}), "suppressed": held}
            kwargs["extra"] = {**extra, FIELDS_ATTR: fields}
        self.logger.log(level, msg, *args, **kwargs)
