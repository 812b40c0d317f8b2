"""Fixtures shared by every tier; the doubles and helpers behind them live in tests.doubles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sora_bot.rules.credits import Credits
from sora_bot.storage.database import Database
from sora_bot.storage.jobs import JobStore
from tests.doubles import DiscordDouble, FakeClock, ProviderDouble, make_settings, running_provider

pytest_plugins = ["tests.hang_watch"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "bot.db")
    yield database
    await database.close()


@pytest.fixture
def store(db: Database) -> JobStore:
    return JobStore(db)


@pytest.fixture
def credits(db: Database, store: JobStore, tmp_path: Path, clock: FakeClock) -> Credits:
    settings = make_settings(tmp_path, SORA_DAILY_CREDITS="30", SORA_MAX_ACTIVE_PER_USER="100")
    return Credits(db, store, settings, clock)


@pytest.fixture
async def discord() -> AsyncIterator[DiscordDouble]:
    """The Discord double; the test fails if the bot broke one of Discord's rules on it."""
    async with DiscordDouble() as double:
        yield double
        double.assert_no_violations()


@pytest.fixture
def provider_timing() -> dict[str, float]:
    """How long the provider double's tasks take; a module overrides it to suit its tests."""
    return {}


@pytest.fixture
async def provider(provider_timing: dict[str, float]) -> AsyncIterator[ProviderDouble]:
    """The provider double, running, with tasks as long as ``provider_timing`` says."""
    async with running_provider(**provider_timing) as double:
        yield double
