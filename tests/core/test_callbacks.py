"""Callbacks: a call only wakes the job; forged bodies, unknown tokens and replays do nothing."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest

from sora_bot.core import Core
from sora_bot.engine.callbacks import CallbackServer, RateLimiter
from sora_bot.engine.claims import token_hash
from sora_bot.engine.worker import Worker
from sora_bot.models import JobState, Requester, VideoOptions
from sora_bot.services import Services, running_services
from sora_bot.storage.database import Database
from sora_bot.storage.jobs import JobStore
from tests.doubles import (
    FakeClock,
    ProviderDouble,
    RawClient,
    RecordingDelivery,
    WakeRecorder,
    callback_jobs,
    close_all,
    raw_connect,
    raw_request,
    running_core,
    running_provider,
)

ALICE = Requester("g1", "c1", "alice")
OPTIONS = VideoOptions("a heron in the fog", remove_watermark=False)
PUBLIC = "https://bot.example.com/sora-cb"


@asynccontextmanager
async def callback_bot(
    tmp_path: Path, double: ProviderDouble, delivery: RecordingDelivery
) -> AsyncIterator[tuple[Core, Services, str]]:
    """The core with its callback endpoint; yields (core, services, local callback base).

    The safety-net poll comes only after 30 s: anything sooner was the callback's doing.
    """
    async with (
        running_core(
            tmp_path,
            double.base_url,
            delivery,
            SORA_CALLBACK_URL=PUBLIC,
            SORA_CALLBACK_LISTEN="127.0.0.1:0",
            SORA_CALLBACK_POLL_INTERVAL="30",
        ) as core,
        running_services(core) as services,
    ):
        assert services.callbacks is not None
        yield core, services, f"http://127.0.0.1:{services.callbacks.port}/sora-cb"


async def submitted(core: Core, job_id: int) -> str:
    """Wait for the task id; returns it."""
    async with asyncio.timeout(5):
        while (job := await core.store.require(job_id)).task_id is None:
            await asyncio.sleep(0.01)
    return job.task_id


def token_of(double: ProviderDouble) -> str:
    url = double.creates()[-1].json["callback_url"]
    assert url.startswith(PUBLIC + "/")
    return url.rsplit("/", 1)[1]


async def test_token_is_per_job_unguessable_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    async with (
        running_provider(task_seconds=5) as double,
        callback_bot(tmp_path, double, RecordingDelivery()) as (core, _, _base),
    ):
        first = await core.jobs.submit(ALICE, OPTIONS)
        second = await core.jobs.submit(Requester("g1", "c1", "bob"), OPTIONS)
        await submitted(core, first.id)
        await submitted(core, second.id)
        urls = [r.json["callback_url"] for r in double.creates()]
        rows = await core.db.fetchall("SELECT callback_hash FROM jobs ORDER BY id")
    tokens = [u.rsplit("/", 1)[1] for u in urls]
    assert len(set(tokens)) == 2 and all(len(t) >= 43 for t in tokens)
    assert sorted(r[0] for r in rows) == sorted(token_hash(t) for t in tokens)
    assert not any(t in str(tuple(r)) for r in rows for t in tokens)


async def test_forged_completed_body_does_not_complete_a_processing_job(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=60) as double,
        callback_bot(tmp_path, double, delivery) as (core, _, base),
        aiohttp.ClientSession() as http,
    ):
        job = await core.jobs.submit(ALICE, OPTIONS)
        task_id = await submitted(core, job.id)
        polls = len(double.polls(task_id))
        forged = {
            "id": task_id,
            "status": "completed",
            "progress": 100,
            "results": ["https://evil.example/video.mp4"],
        }
        async with http.post(f"{base}/{token_of(double)}", json=forged) as resp:
            assert resp.status == 200
        async with asyncio.timeout(5):  # the worker re-reads the task from the API…
            while len(double.polls(task_id)) == polls:
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)
        after = await core.store.require(job.id)
    assert after.state in (JobState.SUBMITTED, JobState.RUNNING)  # …which says processing
    assert after.video_url is None and delivery.videos == []
    assert not [r for r in double.requests if "evil" in r.path]


async def test_unknown_token_replay_and_oversized_body_get_nothing(tmp_path: Path) -> None:
    async with (
        running_provider(task_seconds=60) as double,
        callback_bot(tmp_path, double, RecordingDelivery()) as (core, _, base),
        aiohttp.ClientSession() as http,
    ):
        job = await core.jobs.submit(ALICE, OPTIONS)
        await submitted(core, job.id)
        token = token_of(double)
        async with http.post(f"{base}/{'x' * 43}", json={}) as resp:
            assert resp.status == 404
        async with http.post(f"{base}/{token}", data=b"x" * 200_000) as resp:
            assert resp.status == 413
        async with http.get(f"{base}/{token}") as resp:
            assert resp.status == 405
        async with http.post(f"{base}/{token}", json={}) as resp:
            assert resp.status == 200
        async with http.post(f"{base}/{token}", json={}) as resp:  # replay
            assert resp.status == 404
        # The prefix the reverse proxy may or may not strip does not matter.
        async with http.post(f"{base.rsplit('/', 1)[0]}/{token}", json={}) as resp:
            assert resp.status == 404


async def test_callback_delivers_well_before_the_next_poll(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.5, estimated_time=1) as double,
        callback_bot(tmp_path, double, delivery) as (core, _, base),
    ):
        double.callback_rewrite = (PUBLIC, base)  # the double calls back like the provider
        start = time.monotonic()
        job = await core.jobs.submit(ALICE, OPTIONS)
        async with asyncio.timeout(10):
            await delivery.finished.wait()
        took = time.monotonic() - start
        done = await core.store.require(job.id)
        assert done.task_id is not None
        polls = double.polls(done.task_id)
    assert done.state is JobState.DELIVERED and done.callback_at is not None
    assert took < 5, took  # the safety-net poll would have come after 30 s
    assert len(polls) == 1  # only the re-read the callback asked for
    assert double.callbacks_sent[0][1] == 200


@asynccontextmanager
async def serving(
    store: JobStore, limiter: RateLimiter | None = None, worker: WakeRecorder | None = None
) -> AsyncIterator[str]:
    """The callback endpoint alone (no worker unless given: nothing may reach it); its base."""
    server = CallbackServer(
        store=store,
        worker=cast(Worker, worker),
        clock=time.time,
        host="127.0.0.1",
        port=0,
        limiter=limiter,
    )
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}/sora-cb"
    finally:
        await server.stop()


async def test_malformed_token_is_refused_without_touching_the_database(
    db: Database, store: JobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[str] = []
    for name in ("fetchone", "fetchall", "execute", "transaction"):
        original = getattr(db, name)

        def spy(*args: Any, _original: Any = original, _name: str = name, **kw: Any) -> Any:
            used.append(_name)
            return _original(*args, **kw)

        monkeypatch.setattr(db, name, spy)
    async with serving(store) as base, aiohttp.ClientSession() as http:
        for bad in ("x" * 42, "x" * 44, "x" * 42 + "~", "x" * 42 + "%21", "x" * 500):
            async with http.post(f"{base}/{bad}", json={}) as resp:
                assert resp.status == 404, bad
        async with http.post(f"{base}/", json={}) as resp:
            assert resp.status == 404
        assert used == []
        # Well-formed but unknown: one indexed read, no write transaction under the lock.
        async with http.post(f"{base}/{'x' * 43}", json={}) as resp:
            assert resp.status == 404
    assert used == ["fetchone"]


async def test_callback_flood_is_rate_limited_per_client(store: JobStore) -> None:
    clock = FakeClock()
    limiter = RateLimiter(rate=1.0, burst=3, clock=clock)
    async with serving(store, limiter) as base, aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(5):
            async with http.post(f"{base}/{'x' * 43}", json={}) as resp:
                statuses.append(resp.status)
                retry_after = resp.headers.get("Retry-After")
        assert statuses == [404, 404, 404, 429, 429]
        assert retry_after == "1"
        clock.advance(1.0)  # one call's worth refilled
        async with http.post(f"{base}/{'x' * 43}", json={}) as resp:
            assert resp.status == 404
    # Each client has its own bucket.
    assert limiter.take("10.0.0.2") == 0.0
    assert limiter.take("127.0.0.1") > 0


def port_of(base: str) -> int:
    return int(base.split(":")[2].split("/")[0])


async def test_a_client_holding_many_connections_cannot_keep_out_the_provider(
    store: JobStore,
) -> None:
    woken = WakeRecorder()
    (token, job_id), *_ = (await callback_jobs(store, 1)).items()
    async with serving(store, worker=woken) as base:
        port = port_of(base)
        held = [await raw_connect(port) for _ in range(32)]
        refused = await raw_connect(port)
        assert await refused.closed_within(1.0)  # today: open until aiohttp's hour is up
        assert refused.received == b""
        provider = await raw_connect(port, source="127.0.0.2")
        assert await provider.send(raw_request(f"/sora-cb/{token}", b"{}"))
        assert await provider.reply() == 200
        await close_all([*held, provider])
    assert woken.woken == [job_id]


async def test_silent_and_slowloris_clients_are_cut_within_the_header_deadline(
    store: JobStore,
) -> None:
    async def cut_after(client: RawClient, drip: bytes) -> float:
        start = time.monotonic()
        for byte in drip:  # a header byte every 0.5 s: slower than any real client
            if not await client.send(bytes([byte])):
                break
            await asyncio.sleep(0.5)
        assert await client.closed_within(8)  # today: an hour
        return time.monotonic() - start

    async with serving(store) as base:
        port = port_of(base)
        silent = await raw_connect(port)
        slowloris = await raw_connect(port, source="127.0.0.2")
        cuts = await asyncio.gather(
            cut_after(silent, b""), cut_after(slowloris, raw_request("/sora-cb/" + "x" * 43))
        )
        await close_all([silent, slowloris])
    assert all(4.5 < cut < 6.5 for cut in cuts), cuts


async def test_a_flood_of_refusals_writes_one_line_per_kind(
    store: JobStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    limiter = RateLimiter(rate=0.0, burst=50)
    async with serving(store, limiter) as base, aiohttp.ClientSession() as http:
        for n in range(100):  # 20 paths that are not tokens, 30 unknown tokens, then 50 429s
            path = "not-a-token" if n < 20 else f"{n:043d}"
            async with http.post(f"{base}/{path}", json={}) as resp:
                assert resp.status == (404 if n < 50 else 429)
        port = port_of(base)
        held = [await raw_connect(port, source="127.0.0.3") for _ in range(32)]
        for _ in range(20):  # over one client's share
            over = await raw_connect(port, source="127.0.0.3")
            assert await over.closed_within(1.0)
        for _ in range(20):  # not HTTP aiohttp can parse: aiohttp logs an error for each
            garbled = await raw_connect(port, source="127.0.0.4")
            assert await garbled.send(b"POST /x HTTP/1.1\r\nHost: a\r\nNo colon here\r\n\r\n")
            assert await garbled.reply() == 400
            garbled.close()
        await close_all(held)
    lines = Counter(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert lines == {
        "callback endpoint listening": 1,
        "callback refused: not a token": 1,
        "callback refused: unknown or used token": 1,
        "callback refused: rate limited": 1,
        "connection refused: too many from one client": 1,
        "Error handling request from 127.0.0.4": 1,
    }, lines
