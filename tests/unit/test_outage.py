"""The worker's pause while the database cannot be written: capped backoff, few log lines."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from sora_bot.engine.outage import StorageOutage
from sora_bot.storage.database import StorageUnavailable

READONLY = sqlite3.OperationalError("attempt to write a readonly database")


class Probe:
    """A write probe that fails ``failures`` times, on a clock that sleeping moves."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.now = 0.0
        self.waits: list[float] = []

    async def __call__(self) -> None:
        if self.failures:
            self.failures -= 1
            raise StorageUnavailable(READONLY)

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


async def test_backoff_doubles_to_its_cap_and_logs_start_reminders_and_end(
    caplog: pytest.LogCaptureFixture,
) -> None:
    probe = Probe(failures=20)
    outage = StorageOutage(probe, monotonic=lambda: probe.now, sleep=probe.sleep)
    caplog.set_level(logging.INFO, logger="sora_bot.engine.outage")
    outage.began(StorageUnavailable(READONLY))
    outage.began(StorageUnavailable(READONLY))  # other steps hitting it: no second line
    await outage.wait_until_writable()
    assert probe.waits[:8] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert len(probe.waits) == 21 and outage.probes == 21 and not outage.active
    messages = [r.getMessage() for r in caplog.records]
    # 20 failed probes over ~17 minutes: one line at the start, one per 5 minutes, one at the end.
    assert messages[0].startswith("database cannot be written")
    assert messages.count("database still cannot be written; worker paused") == 3
    assert messages[-1] == "database writable again; worker resumed"
    assert len(messages) == 5


async def test_a_writable_database_is_not_waited_for() -> None:
    probe = Probe(failures=0)
    outage = StorageOutage(probe, monotonic=lambda: probe.now, sleep=probe.sleep)
    await outage.wait_until_writable()
    assert probe.waits == [] and outage.probes == 0


async def test_a_relapse_right_after_recovery_backs_off_further() -> None:
    probe = Probe(failures=5)
    outage = StorageOutage(probe, monotonic=lambda: probe.now, sleep=probe.sleep)
    outage.began(StorageUnavailable(READONLY))
    await outage.wait_until_writable()  # waits 1, 2, 4, 8, 16, 32
    probe.failures = 1
    outage.began(StorageUnavailable(READONLY))  # the probe passed, the next real write did not
    await outage.wait_until_writable()
    assert probe.waits[6:] == [60, 60]  # not back to 1 s: further (32 doubled, capped)
    probe.now += 61
    outage.began(StorageUnavailable(READONLY))  # a new outage much later starts short again
    await outage.wait_until_writable()
    assert probe.waits[-1] == 1


async def test_a_flapping_disk_backs_off_further_and_logs_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The small probe keeps passing while real writes keep failing (a nearly full disk).
    probe = Probe(failures=0)
    outage = StorageOutage(probe, monotonic=lambda: probe.now, sleep=probe.sleep)
    caplog.set_level(logging.INFO, logger="sora_bot.engine.outage")
    for _ in range(8):
        outage.began(StorageUnavailable(READONLY))
        await outage.wait_until_writable()
    assert probe.waits == [1, 2, 4, 8, 16, 32, 60, 60]
    assert len(caplog.records) == 2  # paused, resumed: the flaps are the same outage


async def test_an_unexpected_probe_error_keeps_backing_off() -> None:
    probe = Probe(failures=0)
    errors = [sqlite3.DatabaseError("database disk image is malformed")]

    async def corrupt_once() -> None:
        if errors:
            raise errors.pop()

    outage = StorageOutage(corrupt_once, monotonic=lambda: probe.now, sleep=probe.sleep)
    outage.began(StorageUnavailable(READONLY))
    await outage.wait_until_writable()  # returns once a probe passes; the loop lives on
    assert probe.waits == [1, 2] and not outage.active
