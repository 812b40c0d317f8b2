"""Rate-limited log lines: one per kind per interval, the next one counting those held back."""

from __future__ import annotations

import logging

import pytest

from sora_bot.infra.log_limit import LimitedLogger, LogLimiter, LogWindow
from sora_bot.infra.logs import FIELDS_ATTR
from tests.doubles import FakeClock


def lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, object]]:
    return [(r.getMessage(), getattr(r, FIELDS_ATTR, {}).get("suppressed")) for r in caplog.records]


def test_one_line_per_kind_per_interval_with_the_count_held_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    clock = FakeClock()
    limiter = LogLimiter(logging.getLogger("test.flood"), LogWindow(interval=60, clock=clock))
    for _ in range(500):
        limiter.event(logging.INFO, "refused: unknown token", client="10.0.0.1")
        limiter.event(logging.INFO, "refused: rate limited")
    clock.advance(59)
    limiter.event(logging.INFO, "refused: unknown token")
    clock.advance(1)
    limiter.event(logging.INFO, "refused: unknown token")
    limiter.event(logging.DEBUG, "not enabled: costs nothing")
    assert lines(caplog) == [
        ("refused: unknown token", None),
        ("refused: rate limited", None),
        ("refused: unknown token", 500),  # 499 in the flood and one at 59 s
    ]


def test_a_library_logger_is_limited_per_message_template(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    clock = FakeClock()
    adapter = LimitedLogger(logging.getLogger("test.lib"), LogWindow(interval=10, clock=clock))
    for n in range(100):
        adapter.exception("Error handling request from %s", f"10.0.0.{n}")
        adapter.debug("Ignored premature client disconnection")
    clock.advance(10)
    adapter.exception("Error handling request from %s", "10.0.0.200")
    assert lines(caplog) == [
        ("Error handling request from 10.0.0.0", None),
        ("Ignored premature client disconnection", None),
        ("Error handling request from 10.0.0.200", 99),
    ]
    assert caplog.records[0].levelno == logging.ERROR


def test_kinds_kept_stay_bounded() -> None:
    window = LogWindow(interval=60, clock=FakeClock())
    for n in range(5_000):
        assert window.allow(f"kind {n}") == 0
    assert len(window) <= 1_000
