"""One bot process per database: a second one would treat the first one's jobs as crashed."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sora_bot.errors import ConfigError


def lock_path(database_path: Path) -> Path:
    """The lock file of a database: beside the file the path resolves to, so that two
    processes reaching one database through different symlinks share one lock."""
    return Path(f"{database_path.resolve()}.lock")


@contextmanager
def exclusive_instance(database_path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside the database file for as long as the block runs.

    The kernel releases it when the process dies, so a crash never leaves it stale.
    """
    if str(database_path) == ":memory:":
        yield
        return
    lock = lock_path(database_path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"DATABASE_PATH={database_path} is already in use by another bot process; "
                "stop it first, or give this one its own DATABASE_PATH"
            ) from None
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
