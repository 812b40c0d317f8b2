"""An unwritable database (read-only file, full disk): the worker waits, nothing is lost.

The faults are SQLite's own, on the core's own connection (``PRAGMA query_only`` answers
"attempt to write a readonly database", ``PRAGMA max_page_count`` "database or disk is
full"); the provider double makes the videos.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sora_bot.core import Core
from sora_bot.infra.logs import LogfmtFormatter
from sora_bot.models import CreditState, JobState
from sora_bot.storage.database import StorageUnavailable
from tests.doubles import (
    CREATE_PATH,
    ROOMY,
    DiscordDouble,
    ProviderDouble,
    RecordingDelivery,
    answer_text,
    answered,
    bot_messages,
    disk_full,
    options,
    running_bot,
    running_core,
    running_provider,
    unwritable,
    user,
    wait_for_job,
    wait_terminal,
)

ALICE = user("alice")


@contextmanager
def log_lines() -> Iterator[io.StringIO]:
    """Every log line at INFO and above, as the bot writes them."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(LogfmtFormatter())
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def quick_probes(core: Core) -> None:
    """Probe every 0.1 s (doubling to 0.4 s) so that the tests stay short."""
    core.worker.outage.first, core.worker.outage.cap = 0.1, 0.4


async def test_unwritable_database_pauses_the_worker_and_loses_no_job(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=2.0, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, **ROOMY) as core,
    ):
        quick_probes(core)
        jobs = [await core.jobs.submit(user(f"u{n}"), options(f"clip {n}")) for n in range(3)]
        for job in jobs:
            await wait_for_job(core, job.id, lambda j: j.task_id is not None)
        with log_lines() as out:
            async with unwritable(core.db):
                await asyncio.sleep(0.3)  # steps in progress find out, then the loop pauses
                polls_before = len(double.polls())
                await asyncio.sleep(1.5)
                polls_during = len(double.polls()) - polls_before
                during = out.getvalue().splitlines()
                rows = [await core.store.require(job.id) for job in jobs]
            done = [await wait_terminal(core, job.id) for job in jobs]
        lines = out.getvalue().splitlines()
    assert polls_during == 0  # at 0.05 s intervals, three jobs would poll ~90 times
    assert len(during) == 1 and "database cannot be written" in during[0], during
    assert all(r.state in (JobState.SUBMITTED, JobState.RUNNING) for r in rows)
    assert sum("database writable again" in line for line in lines) == 1
    assert not any("unexpected error" in line for line in lines)
    assert [j.state for j in done] == [JobState.DELIVERED] * 3
    assert all(j.credit_state is CreditState.SETTLED for j in done)
    assert len(double.creates()) == 3 and delivery.failures == []


async def test_create_answer_during_an_outage_is_kept_not_sent_again(tmp_path: Path) -> None:
    """The provider made the task while its id could not be stored: no refund, no second POST."""
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.3, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery, **ROOMY) as core,
    ):
        quick_probes(core)
        double.inject("POST", CREATE_PATH, 200, delay=0.5)  # a slow create answer
        job = await core.jobs.submit(ALICE, options("a slow heron"))
        async with asyncio.timeout(5):
            while not double.creates():
                await asyncio.sleep(0.01)
        async with unwritable(core.db):
            await asyncio.sleep(0.8)  # the answer arrives while nothing can be written
            assert core.worker.outage.active
        done = await wait_terminal(core, job.id)
    assert done.state is JobState.DELIVERED and done.credit_state is CreditState.SETTLED
    assert len(double.creates()) == 1 and delivery.videos == [(job.id, double.video_bytes)]


async def test_full_disk_refuses_new_jobs_cleanly(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider() as double,
        running_core(tmp_path, double.base_url, delivery, **ROOMY) as core,
    ):
        async with disk_full(core.db):
            with pytest.raises(StorageUnavailable, match="full"):
                # A long prompt: its row needs a new page, which the full disk refuses.
                await core.jobs.submit(ALICE, options("a wide valley " * 300))
        quota = await core.jobs.quota(ALICE)
    assert quota.used == 0 and quota.active_jobs == 0
    assert double.requests == []


async def test_video_command_on_an_unwritable_database_says_nothing_was_charged(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot, unwritable(bot.core.db):
        handle = await discord.invoke("video", {"prompt": "a lantern on a lake"})
        await handle.wait(answered)
    text = answer_text(handle)
    assert "can't record new jobs right now" in text and "nothing was charged" in text
    assert handle.ephemeral and provider.requests == []
    assert [m for m in bot_messages(discord) if not m.ephemeral] == []
