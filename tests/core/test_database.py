from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sora_bot.storage.database import Database, StorageUnavailable, migration_files
from tests.doubles import disk_full, unwritable


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


async def test_read_only_database_raises_storage_unavailable(db: Database) -> None:
    async with unwritable(db):
        with pytest.raises(StorageUnavailable, match="readonly") as caught:
            await db.execute("INSERT INTO meta (key, value) VALUES ('a', 'b')")
        assert caught.value.code == "SQLITE_READONLY"
        with pytest.raises(StorageUnavailable):
            await db.write("INSERT INTO meta (key, value) VALUES ('a', 'b') RETURNING *")
        with pytest.raises(StorageUnavailable):
            async with db.transaction():
                pass  # BEGIN IMMEDIATE itself is refused
        with pytest.raises(StorageUnavailable):
            await db.probe_writable()
        assert await db.fetchall("SELECT * FROM meta WHERE key = 'a'") == []  # reads still work
    await db.probe_writable()


async def test_full_disk_raises_storage_unavailable_and_rolls_back(db: Database) -> None:
    async with disk_full(db):
        with pytest.raises(StorageUnavailable, match="full") as caught:
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO meta (key, value) VALUES ('a', 'x')")
                await conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('big', hex(randomblob(50000)))"
                )
        assert caught.value.code == "SQLITE_FULL"
    assert await db.fetchone("SELECT * FROM meta WHERE key = 'a'") is None  # all or nothing
    await db.execute("INSERT INTO meta (key, value) VALUES ('a', 'x')")


async def test_a_bad_statement_is_not_a_storage_outage(db: Database) -> None:
    with pytest.raises(sqlite3.OperationalError) as caught:
        await db.execute("INSERT INTO no_such_table VALUES (1)")
    assert not isinstance(caught.value, StorageUnavailable)


async def test_failed_commit_leaves_no_transaction_open(db: Database) -> None:
    """A COMMIT that fails keeps SQLite's transaction open unless it is rolled back."""
    await db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    await db.execute(
        "CREATE TABLE child (pid INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED)"
    )
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO child (pid) VALUES (42)")  # checked at COMMIT
    async with db.transaction() as conn:  # a second BEGIN must work
        await conn.execute("INSERT INTO parent (id) VALUES (1)")
    assert await db.fetchall("SELECT * FROM child") == []
