"""Real SQLite failures on the core's own connection: a read-only file, a full disk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sora_bot.storage.database import Database


@asynccontextmanager
async def unwritable(db: Database) -> AsyncIterator[None]:
    """Every write fails as on a read-only file ("attempt to write a readonly database")."""
    await db.execute("PRAGMA query_only=ON")
    try:
        yield
    finally:
        await db.execute("PRAGMA query_only=OFF")


@asynccontextmanager
async def disk_full(db: Database) -> AsyncIterator[None]:
    """Writes that need a new page fail with SQLITE_FULL ("database or disk is full")."""
    pages = await db.fetchone("PRAGMA page_count")
    limit = await db.fetchone("PRAGMA max_page_count")
    assert pages is not None and limit is not None
    await db.fetchone(f"PRAGMA max_page_count={int(pages[0])}")
    try:
        yield
    finally:
        await db.fetchone(f"PRAGMA max_page_count={int(limit[0])}")
