"""SQL statements per job on the way from submit to the posted file (SQLite's trace).

Runs ``--jobs`` jobs one after another through the real core against the provider double
and counts what the database was asked, per job: re-reads of one job row by id (the row a
step had just written, before transitions returned it), writes to ``jobs``, every other
statement (schedule and queue reads), and commits.

    python -m bench.statements [--jobs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
from collections import Counter
from pathlib import Path

from sora_bot.models import Requester, VideoOptions
from tests.doubles import RecordingDelivery, running_core, running_provider

KINDS = (
    ("job re-read by id", re.compile(r"^SELECT \* FROM jobs WHERE id = ", re.I)),
    ("write to jobs", re.compile(r"^(UPDATE|INSERT INTO) jobs\b", re.I)),
    ("commit", re.compile(r"^(COMMIT|BEGIN)", re.I)),
)


def kind_of(sql: str) -> str:
    """The bucket a traced statement belongs to."""
    text = " ".join(sql.split())
    for name, pattern in KINDS:
        if pattern.search(text):
            return name
    return "other statement"


async def measure(jobs: int) -> Counter[str]:
    """Statements traced while ``jobs`` jobs run, one at a time, to delivery."""
    counts: Counter[str] = Counter()
    delivery = RecordingDelivery()
    async with running_provider(task_seconds=0.2, estimated_time=1) as double:
        with tempfile.TemporaryDirectory() as tmp:
            async with running_core(
                Path(tmp), double.base_url, delivery, SORA_POLL_INTERVAL="0.05"
            ) as core:
                conn = core.db._conn  # the one connection every statement goes through
                await conn.set_trace_callback(lambda sql: counts.update([kind_of(sql)]))
                for n in range(jobs):
                    delivery.finished.clear()
                    await core.jobs.submit(Requester("g", "c", f"u{n}"), VideoOptions("x"))
                    async with asyncio.timeout(30):  # waits without asking the database
                        await delivery.finished.wait()
                await asyncio.sleep(0.5)  # the last "delivered" commit
                await conn.set_trace_callback(lambda _sql: None)
                delivered = await core.db.fetchone(
                    "SELECT COUNT(*) FROM jobs WHERE state = 'delivered'"
                )
                assert delivered is not None and delivered[0] == jobs
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    args = parser.parse_args()
    counts = asyncio.run(measure(args.jobs))
    print(f"{args.jobs} jobs, submit to delivered; statements per job:")
    for name in (*(k for k, _ in KINDS), "other statement"):
        print(f"  {name:20} {counts[name] / args.jobs:6.1f}")


if __name__ == "__main__":
    main()
