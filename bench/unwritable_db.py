"""``python -m bench.unwritable_db``: jobs in flight while the database cannot be written.

The real core runs against the provider double with ``--jobs`` jobs at the provider; then
its own connection refuses every write (``PRAGMA query_only``, SQLite's "attempt to write a
readonly database") for ``--outage`` seconds, during which the provider finishes the videos.
Printed: provider polls per second and log lines per second before and during the outage,
then how every job ended after recovery (each should be delivered, none refunded).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sora_bot.infra.logs import LogfmtFormatter
from sora_bot.models import CreditState, JobState, Requester, VideoOptions
from tests.doubles import RecordingDelivery, running_core, running_provider, unwritable


@dataclass(frozen=True)
class OutageRun:
    jobs: int
    outage_s: float
    polls_per_s_before: float
    polls_per_s_during: float
    log_lines_per_s_during: float
    probes: int
    recovered_s: float  # from the end of the outage until every job had ended
    delivered: int
    refunded: int


async def _rate(count: Callable[[], int], seconds: float) -> float:
    before = count()
    await asyncio.sleep(seconds)
    return (count() - before) / seconds


async def run_outage(jobs: int = 10, outage: float = 20.0, task_seconds: float = 8.0) -> OutageRun:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(LogfmtFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    delivery = RecordingDelivery()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with (
                running_provider(task_seconds=task_seconds, estimated_time=5) as double,
                running_core(
                    Path(tmp),
                    double.base_url,
                    delivery,
                    SORA_MAX_INFLIGHT_JOBS=str(jobs),
                    SORA_MAX_ACTIVE_PER_USER=str(jobs),
                    SORA_DAILY_CREDITS=str(10 * jobs),
                ) as core,
            ):
                submitted = [
                    await core.jobs.submit(
                        Requester("g", "c", "bench"),
                        VideoOptions(f"bench clip {n}", remove_watermark=False),
                    )
                    for n in range(jobs)
                ]
                async with asyncio.timeout(30):
                    while len(double.tasks) < jobs:  # noqa: ASYNC110 - the double has no event
                        await asyncio.sleep(0.05)
                before = await _rate(lambda: len(double.polls()), 1.0)
                async with unwritable(core.db):
                    lines_at = len(out.getvalue().splitlines())
                    polls_at = len(double.polls())
                    await asyncio.sleep(outage)
                    during = (len(double.polls()) - polls_at) / outage
                    lines = (len(out.getvalue().splitlines()) - lines_at) / outage
                ended_at = time.monotonic()
                async with asyncio.timeout(120):
                    rows = []
                    for job in submitted:
                        while True:
                            row = await core.store.require(job.id)
                            if row.state.terminal and row.outcome_posted:
                                break
                            await asyncio.sleep(0.05)
                        rows.append(row)
                recovered = time.monotonic() - ended_at
                probes = core.worker.outage.probes
    finally:
        root.removeHandler(handler)
    return OutageRun(
        jobs=jobs,
        outage_s=outage,
        polls_per_s_before=before,
        polls_per_s_during=during,
        log_lines_per_s_during=lines,
        probes=probes,
        recovered_s=recovered,
        delivered=sum(r.state is JobState.DELIVERED for r in rows),
        refunded=sum(r.credit_state is CreditState.REFUNDED for r in rows),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--outage", type=float, default=20.0, help="seconds unwritable")
    args = parser.parse_args()
    r = asyncio.run(run_outage(args.jobs, args.outage))
    print(f"{r.jobs} jobs in flight, database unwritable for {r.outage_s:.0f} s")
    print(f"provider polls/s: {r.polls_per_s_before:.1f} before, {r.polls_per_s_during:.2f} during")
    print(f"log lines/s during the outage: {r.log_lines_per_s_during:.2f} ({r.probes} probes)")
    print(
        f"after recovery ({r.recovered_s:.1f} s): {r.delivered}/{r.jobs} delivered, "
        f"{r.refunded} refunded"
    )


if __name__ == "__main__":
    main()
