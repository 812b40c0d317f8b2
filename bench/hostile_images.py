"""Twelve hostile starting images through the real decode path at once: peak memory, wall time.

Each image goes through ``ImageGate.prepare`` (header checks, bounded decode in a worker
thread, at most ``--slots`` at a time) exactly as ``/video`` does after its cheap checks.
Peak RSS is the kernel's high-water mark, reset after the samples are built (Linux
``/proc/self/clear_refs``); tracemalloc counts Python's own allocations only (Pillow's pixel
buffers are outside it).

    python -m bench.hostile_images [--slots 2]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
import tracemalloc
from pathlib import Path

from sora_bot.errors import InvalidInput
from sora_bot.media import ImageGate
from tests.doubles import hostile_images

NAMES = [
    *("bomb-png", "png-8192x4096", "webp-canvas-16k", "jpeg-65k", "animated-webp", "apng"),
    *("ztxt-bomb", "iccp-bomb", "truncated-png", "png-polyglot", "jpeg-35mp", "png-4096x4096"),
]


def rss_mib(field: str) -> float:
    """A memory figure of this process from /proc (VmRSS now, VmHWM the peak), in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> bool:
    """Start a new RSS high-water mark; False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def run(slots: int) -> None:
    samples = {name: hostile_images.SAMPLES[name]() for name in NAMES}
    gate = ImageGate(slots)
    await gate.prepare(hostile_images.SAMPLES["jpeg-polyglot"]())  # warm the thread pool
    before = rss_mib("VmRSS")
    exact = reset_peak()
    tracemalloc.start()
    started = time.perf_counter()
    outcomes = await asyncio.gather(
        *(gate.prepare(data) for data in samples.values()), return_exceptions=True
    )
    wall = time.perf_counter() - started
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    peak = rss_mib("VmHWM")
    for name, outcome in zip(samples, outcomes, strict=True):
        if isinstance(outcome, InvalidInput):
            said = f"refused: {str(outcome)[:70]}"
        elif isinstance(outcome, BaseException):
            said = f"ERROR {type(outcome).__name__}: {outcome}"
        else:
            said = f"accepted {outcome.width}×{outcome.height} {len(outcome.data):,} bytes"
        print(f"  {name:16} {len(samples[name]):>10,} bytes  {said}")
    print(f"{len(samples)} hostile images at once, {slots} decode slot(s):")
    print(f"  wall time                  {wall:.2f} s")
    print(f"  RSS before                 {before:.0f} MiB")
    print(f"  peak RSS during the run    {peak:.0f} MiB ({'reset' if exact else 'process'} peak)")
    print(f"  peak RSS above the start   {peak - before:.0f} MiB")
    print(f"  peak Python heap (traced)  {traced_peak / 2**20:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", type=int, default=2)
    asyncio.run(run(parser.parse_args().slots))


if __name__ == "__main__":
    main()
