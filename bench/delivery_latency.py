"""Time from the provider reporting ``completed`` to the file appearing in the Discord thread.

Runs the real bot in this process against the Discord double and the provider double
(both on 127.0.0.1, sharing the wall clock):

    python -m bench.delivery_latency [--jobs N] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from tests.doubles import DiscordDouble, finished, running_bot, running_provider, wait_job


async def measure(jobs: int, seconds: float) -> list[tuple[float, float]]:
    """(completion → posted, completion-seen poll → posted) for each job, in seconds."""
    results = []
    async with (
        DiscordDouble() as discord,
        running_provider(
            clock=time.time, task_seconds=seconds, estimated_time=round(seconds)
        ) as provider,
    ):
        with tempfile.TemporaryDirectory() as tmp:
            async with running_bot(
                Path(tmp), discord, provider, SORA_POLL_INTERVAL="1", SORA_MAX_POLL_INTERVAL="5"
            ) as bot:
                for n in range(jobs):
                    await discord.invoke("video", {"prompt": f"latency probe {n}"})
                    job = await wait_job(bot.core, finished, timeout=seconds * 4 + 30)
                    task = provider.tasks[job.task_id or ""]
                    done_at = task.created_at + task.seconds
                    post = next(
                        m
                        for m in discord.messages.values()
                        if m.attachments and m.content.endswith(f" · job #{job.id}")
                    )
                    seen = min(r.time for r in provider.polls(task.id) if r.time >= done_at)
                    results.append((post.created_at - done_at, post.created_at - seen))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args()
    results = asyncio.run(measure(args.jobs, args.seconds))
    total = [r[0] for r in results]
    pipeline = [r[1] for r in results]
    print(f"{args.jobs} jobs of {args.seconds:.0f} s, SORA_POLL_INTERVAL=1")
    print(
        f"completed → file in thread: median {statistics.median(total):.2f} s, "
        f"max {max(total):.2f} s"
    )
    print(
        f"poll that saw it → file in thread (download + upload): median "
        f"{statistics.median(pipeline) * 1000:.0f} ms, max {max(pipeline) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
