"""Guild rules as they stand: option defaults, blocks, channels, terms; the check before a job.

Admins change these rules through ``GuildAdmin`` (``guild_admin.py``); this module only reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiosqlite

from sora_bot.errors import InvalidInput
from sora_bot.models import Requester, VideoOptions
from sora_bot.rules import refusals
from sora_bot.rules.terms import BlockedTerm, TermMatcher
from sora_bot.rules.validation import build_options
from sora_bot.settings import Settings
from sora_bot.storage.database import Database

BUILTIN_ASPECT_RATIO = "16:9"
BUILTIN_DURATION = 10


class PolicyRefused(InvalidInput):
    """A guild rule refused a job before anything was spent (``reason``: blocked/channel/term)."""

    def __init__(self, reason: str, text: str, term: str | None = None) -> None:
        self.reason = reason
        self.term = term
        super().__init__(text)


@dataclass(frozen=True, slots=True)
class GuildDefaults:
    """The options a member gets when they leave them out, and the watermark surcharge."""

    aspect_ratio: str
    duration: int
    keep_watermark: bool
    watermark_surcharge: int


@dataclass(frozen=True, slots=True)
class GuildOverview:
    """Everything ``/sora-admin settings`` shows (effective values, defaults filled in)."""

    paused: bool
    daily_credits: int
    daily_credits_custom: bool
    daily_budget: int | None
    defaults: GuildDefaults
    role_allowances: dict[str, int] = field(default_factory=dict)
    user_allowances: dict[str, int] = field(default_factory=dict)
    blocked_members: list[str] = field(default_factory=list)
    allowed_channels: list[str] = field(default_factory=list)
    blocked_terms: int = 0


class GuildPolicy:
    """Reads a guild's rules, with the bot's settings where the guild set nothing."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def defaults(self, guild_id: str) -> GuildDefaults:
        """The guild's option defaults, falling back to the built-in ones."""
        row = await self._settings_row(guild_id)

        def pick(column: str, fallback: Any) -> Any:
            return row[column] if row is not None and row[column] is not None else fallback

        return GuildDefaults(
            aspect_ratio=pick("default_aspect_ratio", BUILTIN_ASPECT_RATIO),
            duration=int(pick("default_duration", BUILTIN_DURATION)),
            keep_watermark=bool(pick("default_keep_watermark", False)),
            watermark_surcharge=int(pick("watermark_surcharge", self.settings.watermark_surcharge)),
        )

    async def options_for(
        self,
        guild_id: str,
        prompt: str,
        *,
        aspect_ratio: str | None = None,
        duration: int | None = None,
        keep_watermark: bool | None = None,
        image_url: str | None = None,
    ) -> VideoOptions:
        """Validated options, with the guild's defaults for every option left out (None)."""
        base = await self.defaults(guild_id)
        keep = base.keep_watermark if keep_watermark is None else keep_watermark
        return build_options(
            prompt,
            aspect_ratio=base.aspect_ratio if aspect_ratio is None else aspect_ratio,
            duration=base.duration if duration is None else duration,
            remove_watermark=not keep,
            image_url=image_url,
        )

    async def watermark_surcharge(self, guild_id: str) -> int:
        """Credits added for watermark removal in this guild."""
        return (await self.defaults(guild_id)).watermark_surcharge

    async def check(self, requester: Requester, options: VideoOptions) -> None:
        """Refuse (PolicyRefused) a blocked member, a channel not allowed, or a blocked term."""
        guild = requester.guild_id
        blocked = await self.db.fetchone(
            "SELECT 1 FROM blocked_members WHERE guild_id = ? AND user_id = ?",
            (guild, requester.user_id),
        )
        if blocked is not None:
            raise PolicyRefused("blocked", refusals.blocked_member())
        channels = await self.allowed_channels(guild)
        if channels and requester.channel_id not in channels:
            raise PolicyRefused("channel", refusals.channel_not_allowed(channels))
        match = TermMatcher(await self.terms(guild)).first_match(options.prompt)
        if match is not None:
            raise PolicyRefused("term", refusals.blocked_term(match.term), term=match.term)

    async def allowed_channels(self, guild_id: str) -> list[str]:
        """Channel ids where /video may be used (empty: everywhere)."""
        rows = await self.db.fetchall(
            "SELECT channel_id FROM allowed_channels WHERE guild_id = ? ORDER BY rowid",
            (guild_id,),
        )
        return [str(r[0]) for r in rows]

    async def terms(self, guild_id: str) -> list[BlockedTerm]:
        """The guild's blocked terms in the order they were added."""
        rows = await self.db.fetchall(
            "SELECT term FROM blocked_terms WHERE guild_id = ? ORDER BY created_at", (guild_id,)
        )
        # Normalized again from the text: rows written by an older normalize still match.
        return [BlockedTerm.stored(r["term"]) for r in rows]

    async def overview(self, guild_id: str) -> GuildOverview:
        """The guild's effective settings."""
        row = await self._settings_row(guild_id)
        overrides = await self.db.fetchall(
            "SELECT kind, target_id, daily_credits FROM allowance_overrides WHERE guild_id = ? "
            "ORDER BY daily_credits DESC",
            (guild_id,),
        )
        blocked = await self.db.fetchall(
            "SELECT user_id FROM blocked_members WHERE guild_id = ? ORDER BY created_at",
            (guild_id,),
        )
        daily = row["daily_credits"] if row is not None else None
        budget = self.settings.guild_daily_budget
        if row is not None and row["daily_budget"] is not None:
            budget = int(row["daily_budget"])
        return GuildOverview(
            paused=bool(row and row["paused"]),
            daily_credits=self.settings.daily_credits if daily is None else int(daily),
            daily_credits_custom=daily is not None,
            daily_budget=budget or None,
            defaults=await self.defaults(guild_id),
            role_allowances={
                r["target_id"]: r["daily_credits"] for r in overrides if r["kind"] == "role"
            },
            user_allowances={
                r["target_id"]: r["daily_credits"] for r in overrides if r["kind"] == "user"
            },
            blocked_members=[str(r[0]) for r in blocked],
            allowed_channels=await self.allowed_channels(guild_id),
            blocked_terms=len(await self.terms(guild_id)),
        )

    async def _settings_row(self, guild_id: str) -> aiosqlite.Row | None:
        return await self.db.fetchone(
            "SELECT * FROM guild_settings WHERE guild_id = ?", (guild_id,)
        )
