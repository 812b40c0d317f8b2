"""Builds the core from settings: database, store, credits, provider client, worker, jobs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from sora_bot.engine.delivery import Delivery
from sora_bot.engine.service import JobService
from sora_bot.engine.worker import Worker
from sora_bot.infra.instance_lock import exclusive_instance
from sora_bot.infra.metrics import Metrics
from sora_bot.provider.protocol import VideoProvider, build_provider
from sora_bot.rules.credits import Credits
from sora_bot.rules.guild_admin import GuildAdmin
from sora_bot.rules.policy import GuildPolicy
from sora_bot.rules.usage import UsageReports
from sora_bot.settings import Settings
from sora_bot.storage.database import Database
from sora_bot.storage.jobs import JobStore
from sora_bot.storage.meta import MetaStore


@dataclass
class Core:
    """Everything a front end needs, wired together."""

    settings: Settings
    db: Database
    store: JobStore
    credits: Credits
    provider: VideoProvider
    worker: Worker
    jobs: JobService
    meta: MetaStore
    policy: GuildPolicy
    admin: GuildAdmin
    usage: UsageReports
    metrics: Metrics


@asynccontextmanager
async def open_core(
    settings: Settings,
    session: aiohttp.ClientSession,
    delivery: Delivery,
    *,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[Core]:
    """Open the database and build the core around the front end's ``delivery``.

    The caller starts the worker (``core.worker.start()``) once the front end is ready.
    """
    with exclusive_instance(settings.database_path):
        async with _built_core(settings, session, delivery, clock) as core:
            yield core


@asynccontextmanager
async def _built_core(
    settings: Settings,
    session: aiohttp.ClientSession,
    delivery: Delivery,
    clock: Callable[[], float],
) -> AsyncIterator[Core]:
    metrics = Metrics(clock)
    provider = build_provider(settings, session, metrics)
    db = await Database.open(settings.database_path)
    try:
        store = JobStore(db)
        credits = Credits(db, store, settings, clock)
        worker = Worker(
            store=store,
            provider=provider,
            delivery=delivery,
            settings=settings,
            clock=clock,
            metrics=metrics,
        )
        policy = GuildPolicy(db, settings)
        jobs = JobService(
            store=store,
            credits=credits,
            settings=settings,
            clock=clock,
            wake=worker.wake,
            policy=policy,
        )
        core = Core(
            settings=settings,
            db=db,
            store=store,
            credits=credits,
            provider=provider,
            worker=worker,
            jobs=jobs,
            meta=MetaStore(db),
            policy=policy,
            admin=GuildAdmin(db, credits, policy, clock),
            usage=UsageReports(db, clock),
            metrics=metrics,
        )
        try:
            yield core
        finally:
            await worker.stop()
    finally:
        await db.close()
