"""``python -m bench [--quick]``: every measurement in one run, printed as one table."""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time

from bench.load import run_load
from bench.polls import compare
from bench.resume import run_resume
from bench.transfer import MB, run_transfer


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"


async def main(quick: bool) -> None:
    started = time.monotonic()
    rows: list[tuple[str, str, str, str]] = []

    def row(what: str, value: str, target: str = "", verdict: str = "") -> None:
        rows.append((what, value, target, verdict))

    for seconds in (60, 300, 900):
        c = await compare(seconds, (0.5, 2.5, 4.5) if quick else (0.5, 1.5, 2.5, 3.5, 4.5))
        row(
            f"polls/job, {seconds}s job (ours / naive 5s)",
            f"{c.polls:.1f} / {c.naive_polls:.1f} = {c.ratio:.1f}x fewer",
            ">= 5x fewer",
            "met" if c.ratio >= 5 else "MISSED",
        )
        row(
            f"completion->download, {seconds}s job (ours / naive)",
            f"{c.delay:.1f}s / {c.naive_delay:.1f}s",
            "no later",
            "met"
            if c.delay <= c.naive_delay + 0.05
            else f"MISSED by {c.delay - c.naive_delay:.1f}s",
        )
    load = await run_load(1000, 20.0 if quick else 60.0)
    row(
        f"1,000 jobs in flight ({load.task_seconds:.0f}s each): loop lag p50 / p99 / max",
        f"{load.lag_p50_ms:.1f} / {load.lag_p99_ms:.1f} / {load.lag_max_ms:.1f} ms",
        "p99 < 25 ms",
        "met" if load.lag_p99_ms < 25 else "MISSED",
    )
    row(
        "1,000 jobs in flight: resident memory (before -> peak)",
        f"{load.rss_before_mb:.0f} -> {load.rss_peak_mb:.0f} MiB",
    )
    row(
        "1,000 jobs in flight: provider requests/s (avg over run)",
        f"{load.requests_per_s:.0f}/s ({load.requests} requests in {load.wall:.0f}s, "
        f"{load.delivered} delivered)",
    )
    size = 20 * MB if quick else 99 * MB
    t = await run_transfer(size)
    peak = max(t.download_peak_mb, t.upload_peak_mb)
    row(
        f"{size // MB} MB video: peak memory added, download / upload",
        f"{t.download_peak_mb:.1f} / {t.upload_peak_mb:.1f} MiB",
        "< 16 MiB",
        "met" if peak < 16 else "MISSED",
    )
    row(
        f"{size // MB} MB video: throughput download / upload / plain copy",
        f"{t.rate(t.download_s):.0f} / {t.rate(t.upload_s):.0f} / {t.rate(t.copy_s):.0f} MB/s",
    )
    r = await run_resume(2_000 if quick else 10_000)
    row(f"restart with {r.jobs:,} unfinished jobs: schedule read", f"{r.loaded_s * 1000:.0f} ms")
    row(
        f"restart with {r.jobs:,} unfinished jobs (all due): every job polled once",
        f"{r.all_polled_s:.2f} s",
        "< 3 s" if r.jobs == 10_000 else "(10,000 in the full run)",
        ("met" if r.all_polled_s < 3 else f"MISSED by {r.all_polled_s - 3:.1f}s")
        if r.jobs == 10_000
        else "",
    )
    header = ("measure", "result", "target", "verdict")
    widths = [max(len(x[i]) for x in [*rows, header]) for i in range(4)]
    print(f"| {' | '.join(h.ljust(w) for h, w in zip(header, widths, strict=True))} |")
    print(f"|{'|'.join('-' * (w + 2) for w in widths)}|")
    for line in rows:
        print(f"| {' | '.join(v.ljust(w) for v, w in zip(line, widths, strict=True))} |")
    print(f"\n{_machine()}; measured in {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller runs (under a minute)")
    asyncio.run(main(parser.parse_args().quick))
