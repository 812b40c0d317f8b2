"""``python -m bench.hostile_provider``: what a hostile provider costs the bot.

Three measurements against the provider double (in this process, on 127.0.0.1):
- peak memory while a task query is answered with a 50 MB chunked JSON body, with the
  client's capped reading and, for comparison, with a plain ``resp.read()`` (the old way);
  tracemalloc peak (Python allocations) and the rise of VmRSS sampled every 5 ms;
- how long a task query answered one byte every 50 ms takes to be cut (one attempt, then
  a whole call with retries);
- how long after its ``SORA_JOB_TIMEOUT`` a job whose download hangs ends (refunded).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench.probes import PeakRSS
from sora_bot.models import Requester, VideoOptions
from sora_bot.provider.client import ProviderClient
from sora_bot.provider.errors import ProviderError
from tests.doubles import (
    TASKS_PATH,
    RecordingDelivery,
    running_core,
    running_provider,
    wait_terminal,
)

MIB = 1024 * 1024
HUGE = 50 * 1024 * 1024
JOB_TIMEOUT = 2.0


async def _peaks(call: Callable[[], Awaitable[Any]]) -> tuple[float, float]:
    """(tracemalloc peak MiB, VmRSS rise MiB) while ``call()`` runs."""
    gc.collect()
    probe = PeakRSS()
    with probe.running():
        before = probe.peak
        tracemalloc.start()
        with contextlib.suppress(ProviderError):
            await call()
        traced = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return traced / MIB, (probe.peak - before) / MIB


async def huge_answer() -> dict[str, tuple[float, float]]:
    """Memory while reading a 50 MB chunked answer: capped (the client) and whole."""
    async with running_provider() as double, aiohttp.ClientSession() as session:
        client = ProviderClient(session, base_url=double.base_url, api_key="k", max_retries=0)
        double.inject("GET", TASKS_PATH, 200, stream_bytes=HUGE)
        capped = await _peaks(lambda: client.get_task("task-unified-1-huge"))

        async def whole() -> None:
            headers = {"Authorization": "Bearer k"}
            url = f"{double.base_url}{TASKS_PATH}task-unified-1-huge"
            async with session.get(url, headers=headers) as resp:
                await resp.read()

        double.inject("GET", TASKS_PATH, 200, stream_bytes=HUGE)
        return {"capped": capped, "whole": await _peaks(whole)}


async def trickle_cut() -> dict[str, float]:
    """Seconds until a trickling query is given up: one attempt, and a call with retries."""
    cut: dict[str, float] = {}
    async with running_provider() as double, aiohttp.ClientSession() as session:
        for label, retries, budget in (
            ("attempt (request_timeout=2)", 0, 120.0),
            ("call (request_timeout=2, call_timeout=5)", 10, 5.0),
        ):
            client = ProviderClient(
                session,
                base_url=double.base_url,
                api_key="k",
                request_timeout=2,
                call_timeout=budget,
                max_retries=retries,
                backoff_base=0.1,
            )
            double.faults.clear()
            double.inject("GET", TASKS_PATH, 200, trickle=0.05, times=1000)
            started = time.monotonic()
            with contextlib.suppress(ProviderError):
                await client.get_task("task-unified-1-trickle")
            cut[label] = time.monotonic() - started
    return cut


async def hanging_download() -> float:
    """Seconds from a job's timeout to its end while its download trickles."""
    delivery = RecordingDelivery()
    with tempfile.TemporaryDirectory() as folder:
        async with (
            running_provider(task_seconds=0.3, estimated_time=1) as double,
            running_core(
                Path(folder), double.base_url, delivery, SORA_JOB_TIMEOUT=str(JOB_TIMEOUT)
            ) as core,
        ):
            double.inject("GET", "/files/", 200, trickle=0.02, times=1000)
            job = await core.jobs.submit(Requester("g1", "c1", "bench"), VideoOptions("a fox"))
            done = await wait_terminal(core, job.id, timeout=60)
    assert done.submitted_at is not None and done.finished_at is not None
    assert done.error_code == "timeout", done.error_code
    return done.finished_at - (done.submitted_at + JOB_TIMEOUT)


async def main() -> None:
    logging.basicConfig(level=logging.ERROR)  # the retries' warnings are expected here
    memory = await huge_answer()
    for label, (traced, rss) in memory.items():
        print(
            f"50 MB chunked JSON answer, {label} read: tracemalloc peak {traced:.2f} MiB, "
            f"VmRSS rise {rss:.1f} MiB"
        )
    for label, seconds in (await trickle_cut()).items():
        print(f"trickling task query (1 byte / 50 ms) cut after {seconds:.2f} s: {label}")
    late = await hanging_download()
    print(
        f"hanging download: job ended {late:.3f} s after SORA_JOB_TIMEOUT={JOB_TIMEOUT:g} s "
        "(failed: timeout, refunded)"
    )


if __name__ == "__main__":
    asyncio.run(main())
