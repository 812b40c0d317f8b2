"""Builds the core from settings: database, store, credits, provider client, worker, jobs."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp

from .credits import Credits
from .database import Database
from .delivery import Delivery
from .instance_lock import exclusive_instance
from .jobs import JobService
from .meta import MetaStore
from .metrics import Metrics
from .policy import GuildPolicy
from .providers import VideoProvider, build_provider
from .settings import Settings
from .store import JobStore
from .usage import UsageReports
from .worker import Worker


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
    usage: UsageReports
    metrics: Metrics


@asynccontextmanager
async def open_core(
    settings: Settings,
    session: aiohttp.ClientSession,
    delivery: Delivery | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> AsyncIterator[Core]:
    """Open the database and build the core.

    The caller starts the worker, after ``worker.delivery`` is set when it was not given
    (the Discord adapter needs the bot, which is built with the core).
    """
    with exclusive_instance(settings.database_path):
        async with _built_core(settings, session, delivery, clock) as core:
            yield core


@asynccontextmanager
async def _built_core(
    settings: Settings,
    session: aiohttp.ClientSession,
    delivery: Delivery | None,
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
        policy = GuildPolicy(db, credits, settings, clock)
        jobs = JobService(
            store=store,
            credits=credits,
            settings=settings,
            clock=clock,
            wake=worker.wake,
            policy=policy,
        )
        core = Core(
            settings,
            db,
            store,
            credits,
            provider,
            worker,
            jobs,
            MetaStore(db),
            policy,
            UsageReports(db, clock),
            metrics,
        )
        try:
            yield core
        finally:
            await worker.stop()
    finally:
        await db.close()
