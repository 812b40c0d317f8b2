"""A consistent copy of the live database with SQLite's online backup API."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path


class BackupError(Exception):
    """The copy could not be made; the message says why."""


def backup_database(source: Path, dest: Path) -> int:
    """Copy ``source`` to ``dest`` while the bot may be writing; returns the number of jobs.

    The backup API copies one consistent snapshot even with writers in other processes
    (WAL). The copy is written next to ``dest`` and renamed into place only once it passed
    an integrity check, so ``dest`` is either the old file or a complete new one.
    """
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    part.unlink(missing_ok=True)
    try:
        # Read-only: a wrong path must not create an empty database.
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(part)
            try:
                src.backup(dst)
                # One self-contained file, readable without -wal/-shm companions.
                dst.execute("PRAGMA journal_mode=DELETE")
                (check,) = dst.execute("PRAGMA integrity_check").fetchone()
                (jobs,) = dst.execute("SELECT COUNT(*) FROM jobs").fetchone()
            finally:
                dst.close()
        finally:
            src.close()
        if check != "ok":
            raise BackupError(f"the copy failed its integrity check: {check}")
        os.replace(part, dest)
    except sqlite3.Error as exc:
        raise BackupError(f"backup of {source} failed: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
    return int(jobs)
