from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sora_bot.storage.database import Database, migration_files


async def test_migrations_applied_and_versioned(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "sub" / "bot.db")  # the folder is created
    assert await db.schema_version() == len(migration_files())
    mode = await db.fetchone("PRAGMA journal_mode")
    assert mode is not None and mode[0] == "wal"
    await db.close()
    again = await Database.open(tmp_path / "sub" / "bot.db")  # reopening applies nothing twice
    assert await again.schema_version() == len(migration_files())
    await again.close()


async def test_failed_migration_rolls_back_whole_batch(tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "001_one.sql").write_text("CREATE TABLE a (x INTEGER);")
    (folder / "002_two.sql").write_text("CREATE TABLE b (x INTEGER); THIS IS NOT SQL;")
    with pytest.raises(sqlite3.Error):
        await Database.open(tmp_path / "bot.db", migrations=folder)
    (folder / "002_two.sql").write_text("CREATE TABLE b (x INTEGER);")
    db = await Database.open(tmp_path / "bot.db", migrations=folder)  # table a was rolled back
    assert await db.schema_version() == 2
    await db.close()


def test_migration_gap_refused(tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_text("")
    (tmp_path / "003_c.sql").write_text("")
    with pytest.raises(RuntimeError, match="out of sequence"):
        migration_files(tmp_path)


async def test_transaction_rolls_back_on_error(db: Database) -> None:
    with pytest.raises(ValueError, match="boom"):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')")
            raise ValueError("boom")
    assert await db.fetchone("SELECT * FROM meta WHERE key = 'k'") is None
