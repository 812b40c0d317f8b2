"""A slowloris attack on the callback endpoint: does the bot keep its file descriptors?

This process serves the real callback endpoint (SQLite store, default limits) under the
default soft limit of 1,024 descriptors; a child process keeps ``--connections`` slow
connections open against it (a header byte every two seconds, reopened as soon as one is
closed), from one loopback address and then spread over many (Linux routes all of 127/8 to
loopback), so that first the per-client cap and then the overall cap is what holds. Meanwhile a
provider sends a valid callback every half second from its own address. Printed: this
process's open descriptors before, at peak and after; descriptor errors; how many valid
callbacks got through and their latency:

    python -m bench.slow_callbacks [--connections 1100] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import aiohttp

from sora_bot.engine.callbacks import CallbackServer
from sora_bot.engine.worker import Worker
from sora_bot.storage.database import Database
from sora_bot.storage.jobs import JobStore
from tests.doubles import WakeRecorder, callback_jobs

PROVIDER = "127.0.0.250"  # the valid callbacks' source address
PROVIDER_EVERY = 0.5  # seconds between valid callbacks (the rate limiter allows 5/s)


def open_fds() -> int:
    """Descriptors this process holds now (the limit itself when it cannot even list them)."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # EMFILE: listing takes a descriptor too
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class LineCount(logging.Handler):
    """Counts the log lines the process would write (INFO and up)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.lines += 1


@dataclass
class Watch:
    """Descriptor counts and the provider's callbacks during one run."""

    before: int = 0
    peak: int = 0
    fd_errors: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    async def sample(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.peak = max(self.peak, open_fds())
            try:  # can this process still open a file (the database, a download)?
                os.close(os.open(os.devnull, os.O_RDONLY))
            except OSError:
                self.fd_errors += 1
            await asyncio.sleep(0.02)

    async def provide(self, port: int, tokens: list[str], stop: asyncio.Event) -> None:
        connector = aiohttp.TCPConnector(local_addr=(PROVIDER, 0), force_close=True)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            for token in tokens:
                if stop.is_set():
                    return
                start = time.monotonic()
                try:
                    async with http.post(f"http://127.0.0.1:{port}/cb/{token}", json={}) as resp:
                        if resp.status == 200:
                            self.latencies.append(time.monotonic() - start)
                        else:
                            self.failures.append(str(resp.status))
                except (aiohttp.ClientError, TimeoutError) as exc:
                    self.failures.append(type(exc).__name__)
                await asyncio.sleep(PROVIDER_EVERY)


async def run(connections: int, sources: int, seconds: float) -> tuple[Watch, dict[str, int]]:
    """One attack; (what this process saw, what the attacker saw)."""
    watch = Watch()
    lines = LineCount()
    logging.getLogger().addHandler(lines)
    logging.getLogger().setLevel(logging.INFO)
    with tempfile.TemporaryDirectory() as tmp:
        db = await Database.open(Path(tmp) / "bot.db")
        store = JobStore(db)
        tokens = list(await callback_jobs(store, int(seconds / PROVIDER_EVERY) + 10))
        server = CallbackServer(
            store=store,
            worker=cast(Worker, WakeRecorder()),
            clock=time.time,
            host="127.0.0.1",
            port=0,
        )
        await server.start()
        try:
            watch.before = watch.peak = open_fds()
            attacker = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.slow_callbacks",
                "--attack",
                str(server.port),
                "--connections",
                str(connections),
                "--sources",
                str(sources),
                "--seconds",
                str(seconds),
                stdout=subprocess.PIPE,
            )
            stop = asyncio.Event()
            sampler = asyncio.create_task(watch.sample(stop))
            await asyncio.sleep(1.0)  # let the attack ramp up
            provider = asyncio.create_task(watch.provide(server.port, tokens, stop))
            out, _ = await attacker.communicate()
            stop.set()
            await asyncio.gather(sampler, provider)
            await asyncio.sleep(6.0)  # past the header deadline: the stragglers are cut
            after = open_fds()
        finally:
            await server.stop()
            await db.close()
            logging.getLogger().removeHandler(lines)
    seen = json.loads(out)
    seen["after"] = after
    seen["log_lines"] = lines.lines
    return watch, seen


async def attack(port: int, connections: int, sources: int, seconds: float) -> dict[str, int]:
    """Keep ``connections`` slowloris connections open for ``seconds``; counts as JSON."""
    counts = {"opened": 0, "cut": 0, "connect_failed": 0, "peak_open": 0}
    live = 0
    end = time.monotonic() + seconds
    request = b"POST /cb/" + b"x" * 43 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "

    async def one(n: int) -> None:
        nonlocal live
        source = f"127.0.0.{1 + n % sources}"
        while time.monotonic() < end:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), 3
                )
            except (OSError, TimeoutError):
                counts["connect_failed"] += 1
                await asyncio.sleep(0.1)
                continue
            counts["opened"] += 1
            live += 1
            counts["peak_open"] = max(counts["peak_open"], live)
            try:
                writer.write(request)
                while time.monotonic() < end:
                    try:  # anything back (an answer, the close) means the server cut us
                        await asyncio.wait_for(reader.read(1024), 2.0)
                        counts["cut"] += 1
                        break
                    except TimeoutError:
                        writer.write(b"a")  # one more header byte
            except OSError:
                counts["cut"] += 1
            finally:
                live -= 1
                writer.close()
            await asyncio.sleep(0.1)  # then reopen, as slowloris does

    await asyncio.gather(*(one(n) for n in range(connections)))
    return counts


def report(label: str, watch: Watch, seen: dict[str, int]) -> None:
    got = len(watch.latencies)
    tried = got + len(watch.failures)
    failures = "; failures: " + ", ".join(sorted(set(watch.failures))) if watch.failures else ""
    latency = (
        f"median {statistics.median(watch.latencies) * 1000:.1f} ms, "
        f"max {max(watch.latencies) * 1000:.1f} ms"
        if watch.latencies
        else "none"
    )
    print(f"{label}:")
    print(
        f"  descriptors before {watch.before}, peak {watch.peak}, after {seen['after']}; "
        f"open() failures {watch.fd_errors}; {seen['log_lines']} log lines"
    )
    print(
        f"  attacker: {seen['opened']} connections opened, {seen['cut']} cut by the server, "
        f"{seen['connect_failed']} connects failed, at most {seen['peak_open']} open at once"
    )
    print(f"  valid callbacks: {got}/{tried} answered 200 ({latency}){failures}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=1100)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--sources", type=int, default=0, help="one run with this many sources")
    parser.add_argument("--fd-limit", type=int, default=1024, help="this process's soft limit")
    parser.add_argument("--attack", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if args.attack:  # the child: as many descriptors as it may have
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        counts = asyncio.run(attack(args.attack, args.connections, args.sources, args.seconds))
        print(json.dumps(counts))
        return
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(args.fd_limit, hard), hard))
    print(
        f"{args.connections} slow connections for {args.seconds:g} s; this process's soft "
        f"descriptor limit {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}; a valid callback "
        f"every {PROVIDER_EVERY:g} s from {PROVIDER}"
    )
    for sources in [args.sources] if args.sources else [1, 40]:
        watch, seen = asyncio.run(run(args.connections, sources, args.seconds))
        report(f"from {sources} address{'es' if sources > 1 else ''}", watch, seen)


if __name__ == "__main__":
    main()
