"""Hostile HTTP clients over raw TCP (what aiohttp's client will not send), and callback jobs.

Linux routes all of 127.0.0.0/8 to loopback, so a client may bind any 127.0.0.x as its source
and count as another address for a per-client cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from dataclasses import dataclass, field

from sora_bot.engine.claims import token_hash
from sora_bot.models import CreditState, JobState, Requester, VideoOptions
from sora_bot.storage.jobs import JobStore

_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})")


@dataclass
class RawClient:
    """One TCP connection to a local listener."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    received: bytearray = field(default_factory=bytearray)

    async def send(self, data: bytes) -> bool:
        """Write ``data``; False when the server has already closed the connection."""
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def closed_within(self, seconds: float) -> bool:
        """Read until the server closes (True) or ``seconds`` pass (False)."""
        try:
            async with asyncio.timeout(seconds):
                while chunk := await self.reader.read(65536):
                    self.received += chunk
        except TimeoutError:
            return False
        except ConnectionError:
            pass
        return True

    async def reply(self, seconds: float = 5.0) -> int | None:
        """The status of the first answer (None: closed without one; TimeoutError: neither)."""
        try:
            async with asyncio.timeout(seconds):
                while b"\r\n\r\n" not in self.received:
                    chunk = await self.reader.read(65536)
                    if not chunk:
                        break
                    self.received += chunk
        except ConnectionError:
            pass
        match = _STATUS.match(self.received)
        return int(match.group(1)) if match else None

    def close(self) -> None:
        """Drop the connection."""
        self.writer.close()


async def raw_connect(port: int, source: str = "127.0.0.1") -> RawClient:
    """A connection to 127.0.0.1:``port`` from ``source``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    return RawClient(reader, writer)


def raw_request(
    path: str, body: bytes = b"", method: str = "POST", headers: str = "", close: bool = True
) -> bytes:
    """A well-formed HTTP/1.1 request."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
    if close:
        head += "Connection: close\r\n"
    return (head + headers + "\r\n").encode() + body


async def callback_jobs(store: JobStore, count: int) -> dict[str, int]:
    """``count`` submitted jobs waiting for a callback: {plaintext token: job id}."""
    tokens: dict[str, int] = {}
    now = time.time()
    for n in range(count):
        async with store.db.transaction() as conn:
            job = await store.insert(
                conn,
                requester=Requester("g1", "c1", f"user{n}"),
                options=VideoOptions(f"callback probe {n}"),
                cost=10,
                credit_day="2026-01-01",
                credit_state=CreditState.RESERVED,
                state=JobState.SUBMITTED,
                now=now,
                next_attempt_at=now + 3600,
            )
        token = secrets.token_urlsafe(32)
        await store.db.execute(
            "UPDATE jobs SET callback_hash = ? WHERE id = ?", (token_hash(token), job.id)
        )
        tokens[token] = job.id
    return tokens


class WakeRecorder:
    """Stands in for the worker: notes which jobs a callback woke."""

    def __init__(self) -> None:
        self.woken: list[int] = []

    def wake_job(self, job_id: int) -> None:
        self.woken.append(job_id)


async def close_all(clients: list[RawClient]) -> None:
    """Drop every connection and let the loop see it."""
    for client in clients:
        client.close()
    for client in clients:
        with contextlib.suppress(Exception):
            await client.writer.wait_closed()
