"""Small key/value facts about this installation (for example the last command-sync hash)."""

from __future__ import annotations

from sora_bot.storage.database import Database


class MetaStore:
    """Reads and writes the ``meta`` table."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, key: str) -> str | None:
        """The stored value, or None."""
        row = await self.db.fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else None

    async def set(self, key: str, value: str) -> None:
        """Store a value, replacing any earlier one."""
        await self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
