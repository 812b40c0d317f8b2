"""The SQLite connection: WAL, numbered migrations, and one transaction at a time."""

from __future__ import annotations

import asyncio
import enum
import logging
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from sora_bot.errors import SoraBotError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
_MIGRATION_NAME = re.compile(r"^(\d+)_[\w-]+\.sql$")


# Primary result codes that say the file cannot be written (or read) right now, not that a
# statement is wrong: disk full, read-only file, I/O error, cannot open, locked past the
# busy timeout. Extended codes (SQLITE_IOERR_WRITE…) carry the primary one in the low byte.
_UNAVAILABLE_CODES = frozenset(
    {
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
    }
)


class StorageUnavailable(SoraBotError):
    """The database cannot record anything right now (full disk, read-only file, I/O error,
    locked): the operator's to fix, never a job's fault. The failed write left no trace."""

    def __init__(self, error: sqlite3.Error) -> None:
        self.code = getattr(error, "sqlite_errorname", None) or type(error).__name__
        super().__init__(f"the database cannot be written: {error} ({self.code})")


def is_unavailable(error: sqlite3.Error) -> bool:
    """Whether a driver error means the storage is unavailable (not a bad statement)."""
    code = getattr(error, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _UNAVAILABLE_CODES


@contextmanager
def storage_errors() -> Iterator[None]:
    """Re-raise the driver's storage-unavailable errors as ``StorageUnavailable``."""
    try:
        yield
    except sqlite3.Error as exc:
        if is_unavailable(exc):
            raise StorageUnavailable(exc) from exc
        raise


def sql_list(values: Iterable[enum.StrEnum]) -> str:
    """``('a', 'b')`` for a SQL ``IN``: only for the project's own enum values, never input."""
    return "(" + ", ".join(f"'{v.value}'" for v in values) + ")"


def migration_files(folder: Path = MIGRATIONS_DIR) -> list[tuple[int, Path]]:
    """Numbered SQL files in order; the numbers must run 1, 2, 3… without gaps."""
    found = sorted(
        (int(m.group(1)), path)
        for path in folder.iterdir()
        if (m := _MIGRATION_NAME.match(path.name))
    )
    for expected, (number, path) in enumerate(found, start=1):
        if number != expected:
            raise RuntimeError(f"migration {path.name} is out of sequence (expected {expected})")
    return found


class Database:
    """One aiosqlite connection shared by the process.

    aiosqlite runs statements in order on one thread, but coroutines interleave between
    awaits, so every access goes through one lock: a transaction is never mixed with
    another coroutine's statements.
    """

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path | str, *, migrations: Path = MIGRATIONS_DIR) -> Database:
        """Open (creating folders), switch to WAL and apply pending migrations."""
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        conn.row_factory = sqlite3.Row
        db = cls(conn)
        try:
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute("PRAGMA foreign_keys=ON")
            await conn.execute("PRAGMA busy_timeout=5000")
            await db._migrate(migrations)
        except BaseException:
            await conn.close()
            raise
        return db

    async def _migrate(self, folder: Path) -> None:
        current = await self.schema_version()
        pending = [(n, p) for n, p in migration_files(folder) if n > current]
        if not pending:
            return
        target = pending[-1][0]
        # One script, one transaction: either every pending file applies or none does.
        script = "BEGIN IMMEDIATE;\n"
        script += "\n".join(p.read_text(encoding="utf-8") for _, p in pending)
        script += f"\nPRAGMA user_version = {target};\nCOMMIT;\n"
        try:
            await self._conn.executescript(script)
        except sqlite3.Error:
            if self._conn.in_transaction:
                await self._conn.rollback()
            raise
        log.info("database schema migrated from version %d to %d", current, target)

    async def schema_version(self) -> int:
        """The applied migration number (SQLite's user_version)."""
        async with self._conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def close(self) -> None:
        """Close the connection (waits for the running statement)."""
        async with self._lock:
            await self._conn.close()

    @asynccontextmanager
    async def transaction(
        self, conn: aiosqlite.Connection | None = None
    ) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT under the lock; rolls back on any error.

        Given the connection of a transaction already open (``conn``), joins it instead, so
        one method serves both alone and inside a caller's larger transaction.
        """
        if conn is not None:
            # Joining is only safe inside a transaction the caller opened under the lock.
            assert conn.in_transaction, "transaction(conn) needs a connection inside one"
            yield conn
            return
        async with self._lock:
            with storage_errors():
                await self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                    await self._conn.commit()
                except BaseException:
                    # A failed COMMIT (full disk, I/O error) may leave the transaction open:
                    # roll it back, or every later BEGIN would fail too.
                    if self._conn.in_transaction:
                        await self._conn.rollback()
                    raise

    async def probe_writable(self) -> None:
        """One small real write (raises ``StorageUnavailable`` while none can be made)."""
        async with self.transaction() as conn:
            await conn.execute(
                "INSERT INTO meta (key, value) VALUES ('storage_probed_at', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(time.time()),),
            )

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query outside any other coroutine's transaction."""
        return await self._rows(sql, params)

    async def _rows(self, sql: str, params: Iterable[Any]) -> list[sqlite3.Row]:
        # One trip to the database thread (execute, fetch, done) instead of three.
        async with self._lock:
            with storage_errors():
                return list(await self._conn.execute_fetchall(sql, tuple(params)))

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        """The first row of a read query, or None."""
        rows = await self._rows(sql, params)
        return rows[0] if rows else None

    async def write(
        self, sql: str, params: Iterable[Any] = (), *, conn: aiosqlite.Connection | None = None
    ) -> list[sqlite3.Row]:
        """One write statement with ``RETURNING``: the rows as written.

        Alone it is atomic on its own (autocommit); with ``conn`` it joins that transaction.
        Every row is fetched in the same trip to the database thread, so the statement is
        finished (and, alone, committed) when this returns.
        """
        with storage_errors():
            if conn is not None:
                return list(await conn.execute_fetchall(sql, tuple(params)))
            async with self._lock:
                return list(await self._conn.execute_fetchall(sql, tuple(params)))

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """One write statement, atomic on its own; returns the number of rows changed.

        The connection is in autocommit mode, so a single statement is its own transaction:
        no BEGIN/COMMIT round trips to the database thread on the hot path.
        """
        with storage_errors():
            async with self._lock, self._conn.execute(sql, tuple(params)) as cur:
                return cur.rowcount
