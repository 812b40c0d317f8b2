"""A consistent copy of the live database with SQLite's online backup API."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from sora_bot.infra.instance_lock import lock_path


class BackupError(Exception):
    """The copy could not be made; the message says why."""


def live_files(database_path: Path) -> list[Path]:
    """The live database and its companions (-wal, -shm, lock), under the configured name
    and under the name it resolves to (a symlinked ``DATABASE_PATH``)."""
    found = [lock_path(database_path)]
    for base in dict.fromkeys((database_path.absolute(), database_path.resolve())):
        found += [base, Path(f"{base}-wal"), Path(f"{base}-shm"), Path(f"{base}.lock")]
    return found


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()  # follows symlinks: a link to the file is the file
    except OSError:
        return None
    return info.st_dev, info.st_ino


def refuse_live_target(database_path: Path, target: Path) -> None:
    """Raise ``BackupError`` when writing ``target`` would overwrite a live database file:
    by its resolved path (through any symlink) or as another name of it (a hard link)."""
    where, identity = target.resolve(), _identity(target)
    for live in live_files(database_path):
        if live.resolve() == where or (identity is not None and identity == _identity(live)):
            raise BackupError(
                f"refused: {target} is the live database's own file {live.name}; "
                "choose a destination outside it"
            )


def backup_database(source: Path, dest: Path) -> int:
    """Copy ``source`` to ``dest`` while the bot may be writing; returns the number of jobs.

    The backup API copies one consistent snapshot even with writers in other processes
    (WAL). The copy is written next to ``dest`` and renamed into place only once it passed
    an integrity check, so ``dest`` is either the old file or a complete new one. A folder
    ``dest`` gets a file of the database's name. Nothing of the live database (the file, its
    -wal/-shm, its lock) is ever the target, whatever names lead to it.
    """
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    if dest.is_dir():
        dest = dest / source.name
    part = dest.with_name(dest.name + ".part")
    for target in (dest, part):  # the copy is written to ``part`` first
        refuse_live_target(source, target)
    dest.parent.mkdir(parents=True, exist_ok=True)
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
