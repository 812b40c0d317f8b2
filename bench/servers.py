"""The doubles in a separate process, so that the bot's process measures only itself.

    python -m bench.servers provider --task-seconds 30 --video-bytes 65536 [--tasks N]
    python -m bench.servers discord --premium-tier 3

Each prints one JSON line with what a client needs (URLs, ids, token), then serves until its
standard input closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from tests.doubles import DiscordDouble, DoubleTask, ProviderDouble, default_video_bytes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRELOADED = "task-bench-{:06d}"  # ids of tasks the provider double knows from the start


async def _serve_provider(args: argparse.Namespace) -> dict[str, Any]:
    double = ProviderDouble(
        task_seconds=args.task_seconds,
        estimated_time=int(args.estimated or args.task_seconds),
        video_bytes=default_video_bytes(args.video_bytes),
    )
    now = time.monotonic()
    for i in range(args.tasks):
        task_id = PRELOADED.format(i)
        double.tasks[task_id] = DoubleTask(
            task_id, now, int(time.time()), {"prompt": "bench"}, args.task_seconds
        )
    await double.start()
    _DOUBLES.append(double)
    return {"base_url": double.base_url, "api_key": double.api_key}


async def _serve_discord(args: argparse.Namespace) -> dict[str, Any]:
    double = DiscordDouble(premium_tier=args.premium_tier, validate=False)
    await double.start()
    _DOUBLES.append(double)
    return {
        **double.env(),
        "guild_id": double.guild.id,
        "channel_id": double.channel.id,
        "user_id": double.owner.id,
    }


_DOUBLES: list[Any] = []


async def _main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["provider", "discord"])
    parser.add_argument("--task-seconds", type=float, default=30.0)
    parser.add_argument("--estimated", type=float, default=0.0)
    parser.add_argument("--video-bytes", type=int, default=64 * 1024)
    parser.add_argument("--tasks", type=int, default=0)
    parser.add_argument("--premium-tier", type=int, default=3)
    args = parser.parse_args(argv)
    serve = _serve_provider if args.kind == "provider" else _serve_discord
    print(json.dumps(await serve(args)), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    for double in _DOUBLES:
        await double.stop()


@dataclass
class Server:
    """A running double in a child process."""

    info: dict[str, Any]
    process: asyncio.subprocess.Process


@contextlib.asynccontextmanager
async def serving(kind: str, *args: str) -> AsyncIterator[Server]:
    """Start ``python -m bench.servers KIND ARGS`` and yield what it printed."""
    root = ROOT
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.servers",
        kind,
        *args,
        cwd=root,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": root},
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=60)
        yield Server(json.loads(line), proc)
    finally:
        proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), timeout=10)
        except TimeoutError:
            proc.kill()
            await proc.wait()


if __name__ == "__main__":
    asyncio.run(_main(sys.argv[1:]))
