"""Where a job lives in Discord: its status message, channel and thread, typed.

The core keeps these as an opaque JSON object per job (``Job.front_ref``); this is the only
module that knows its keys. The stored format is unchanged from the first release: string
ids under ``channel_id``, ``message_id`` and ``thread_id``, and ``status_ref``
(``channel/message``), so rows written by older versions read the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import discord

    from sora_bot.models import Job


@dataclass(frozen=True)
class DiscordRefs:
    """The job's status message (channel and id), its ``channel/message`` reference, thread."""

    channel_id: int | None = None
    message_id: int | None = None
    status_ref: str | None = None
    thread_id: int | None = None

    @classmethod
    def of(cls, job: Job) -> DiscordRefs:
        """The references stored with ``job`` (all None for a job not posted yet)."""
        return cls.parse(job.front_ref)

    @classmethod
    def parse(cls, stored: dict[str, Any]) -> DiscordRefs:
        """Read the stored JSON object; a missing or empty value is None."""
        status_ref = stored.get("status_ref")
        return cls(
            channel_id=_snowflake(stored.get("channel_id")),
            message_id=_snowflake(stored.get("message_id")),
            status_ref=str(status_ref) if status_ref else None,
            thread_id=_snowflake(stored.get("thread_id")),
        )

    @classmethod
    def posted(cls, status: discord.Message, thread_id: int | None = None) -> DiscordRefs:
        """The references of a freshly posted status message (and the thread opened on it)."""
        channel_id = status.channel.id
        return cls(channel_id, status.id, f"{channel_id}/{status.id}", thread_id)

    def to_dict(self) -> dict[str, str]:
        """The stored JSON object: the keys in the order the bot has always written them."""
        stored = {
            "channel_id": self.channel_id,
            "message_id": self.message_id,
            "status_ref": self.status_ref,
            "thread_id": self.thread_id,
        }
        return {key: str(value) for key, value in stored.items() if value is not None}


def _snowflake(value: object) -> int | None:
    # Written by the bot as digit strings; anything else counts as absent, never as a crash.
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
