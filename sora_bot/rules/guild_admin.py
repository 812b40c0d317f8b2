"""Admin changes to a guild's rules; each change and its audit row share one transaction.

``actor`` is always the admin's user id. What the rules are is read by ``GuildPolicy``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite

from sora_bot.errors import InvalidInput
from sora_bot.models import USER_CHARGED, CreditState
from sora_bot.rules import refusals
from sora_bot.rules.credits import Credits, utc_day
from sora_bot.rules.policy import GuildDefaults, GuildPolicy
from sora_bot.rules.terms import BlockedTerm, blocked_term, normalize
from sora_bot.rules.validation import build_options
from sora_bot.storage.database import Database, sql_list

MAX_TERMS = 200
_SETTING_COLUMNS = frozenset(
    {
        "daily_credits",
        "daily_budget",
        "paused",
        "default_aspect_ratio",
        "default_duration",
        "default_keep_watermark",
        "watermark_surcharge",
    }
)


class GuildAdmin:
    """Audited changes to a guild's rules (``Credits`` writes allowance overrides and grants)."""

    def __init__(
        self, db: Database, credits: Credits, policy: GuildPolicy, clock: Callable[[], float]
    ) -> None:
        self.db = db
        self.credits = credits
        self.policy = policy  # set_defaults answers with the defaults as they now read
        self.clock = clock

    async def set_paused(self, guild_id: str, actor: str, paused: bool) -> None:
        """Stop or restart new jobs in the guild (Credits refuses them while paused)."""
        async with self._action(guild_id, actor, "pause" if paused else "resume") as (conn, _):
            await self._set(conn, guild_id, paused=int(paused))

    async def set_daily_credits(self, guild_id: str, actor: str, credits: int | None) -> None:
        """The guild's default daily allowance per member (None: the bot's default)."""
        async with self._action(guild_id, actor, "allowance_default", credits=credits) as (c, _):
            await self._set(c, guild_id, daily_credits=credits)

    async def set_allowance(
        self, guild_id: str, actor: str, kind: str, target_id: str, credits: int | None
    ) -> None:
        """A role's or a member's daily allowance (None removes it)."""
        details = {"target": target_id, "credits": credits}
        async with self._action(guild_id, actor, f"allowance_{kind}", **details) as (conn, _):
            await self.credits.set_override(guild_id, kind, target_id, credits, conn=conn)

    async def grant(
        self, guild_id: str, actor: str, user_id: str, amount: int, reason: str
    ) -> None:
        """Extra credits for a member, today only."""
        details = {"target": user_id, "credits": amount, "reason": reason}
        async with self._action(guild_id, actor, "grant", **details) as (conn, _):
            await self.credits.grant(guild_id, user_id, amount, reason=reason, by=actor, conn=conn)

    async def reset_day(self, guild_id: str, actor: str, user_id: str) -> int:
        """Give back everything a member spent today; returns the credits.

        Each credit comes back exactly once: today's charged jobs (credits reserved or
        settled) get ``credit_state = 'waived'``, which no longer counts against the member.
        ``JobStore.finish`` only moves ``reserved`` credits, so a waived job that ends later is
        neither settled nor refunded again, and a second reset finds nothing left to give.
        (Granting the spent credits instead paid them twice: once by the grant, once by the
        refund of a job that was in flight at the reset and then failed.) Waived jobs still
        count towards the guild budget and in the usage reports, as before the reset.
        """
        async with (
            self._action(guild_id, actor, "reset_user", target=user_id) as (conn, details),
            conn.execute(
                "UPDATE jobs SET credit_state = ? WHERE guild_id = ? AND user_id = ? "
                f"AND credit_day = ? AND credit_state IN {sql_list(USER_CHARGED)} RETURNING cost",
                (CreditState.WAIVED.value, guild_id, user_id, utc_day(self.clock())),
            ) as cur,
        ):
            given = sum(int(r[0]) for r in await cur.fetchall())
            details["credits"] = given
        return given

    async def set_budget(self, guild_id: str, actor: str, credits: int | None) -> None:
        """The guild's daily budget (0: none; None: the bot's default)."""
        async with self._action(guild_id, actor, "budget", credits=credits) as (conn, _):
            await self._set(conn, guild_id, daily_budget=credits)

    async def block(self, guild_id: str, actor: str, user_id: str, reason: str = "") -> bool:
        """Stop a member from starting jobs; False if they were already blocked."""
        async with self._action(guild_id, actor, "block", target=user_id, reason=reason) as (
            conn,
            details,
        ):
            cur = await conn.execute(
                "INSERT INTO blocked_members (guild_id, user_id, reason, created_by, created_at) "
                "VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
                (guild_id, user_id, reason, actor, self.clock()),
            )
            details["changed"] = cur.rowcount == 1
        return bool(details["changed"])

    async def unblock(self, guild_id: str, actor: str, user_id: str) -> bool:
        """Let a blocked member start jobs again; False if they were not blocked."""
        async with self._action(guild_id, actor, "unblock", target=user_id) as (conn, details):
            cur = await conn.execute(
                "DELETE FROM blocked_members WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )
            details["changed"] = cur.rowcount == 1
        return bool(details["changed"])

    async def allow_channel(self, guild_id: str, actor: str, channel_id: str) -> None:
        """Add a channel to the allow-list (the first one restricts /video to the list)."""
        async with self._action(guild_id, actor, "channel_allow", target=channel_id) as (conn, _):
            await conn.execute(
                "INSERT INTO allowed_channels (guild_id, channel_id) VALUES (?,?) "
                "ON CONFLICT DO NOTHING",
                (guild_id, channel_id),
            )

    async def remove_channel(self, guild_id: str, actor: str, channel_id: str) -> bool:
        """Take a channel off the allow-list; False if it was not on it."""
        async with self._action(guild_id, actor, "channel_remove", target=channel_id) as (
            conn,
            details,
        ):
            cur = await conn.execute(
                "DELETE FROM allowed_channels WHERE guild_id = ? AND channel_id = ?",
                (guild_id, channel_id),
            )
            details["changed"] = cur.rowcount == 1
        return bool(details["changed"])

    async def clear_channels(self, guild_id: str, actor: str) -> None:
        """Allow /video in every channel again."""
        async with self._action(guild_id, actor, "channels_clear") as (conn, _):
            await conn.execute("DELETE FROM allowed_channels WHERE guild_id = ?", (guild_id,))

    async def add_term(self, guild_id: str, actor: str, text: str) -> tuple[BlockedTerm, bool]:
        """Block a word or phrase; returns it and whether it is new (InvalidInput if unusable)."""
        term = blocked_term(text)
        async with self._action(guild_id, actor, "term_add", term=term.term) as (conn, details):
            async with conn.execute(
                "SELECT COUNT(*) FROM blocked_terms WHERE guild_id = ?", (guild_id,)
            ) as cur:
                row = await cur.fetchone()
            if row and int(row[0]) >= MAX_TERMS:
                raise InvalidInput(refusals.too_many_terms(MAX_TERMS))
            cur = await conn.execute(
                "INSERT INTO blocked_terms (guild_id, normalized, term, created_by, created_at) "
                "VALUES (?,?,?,?,?) ON CONFLICT DO NOTHING",
                (guild_id, term.normalized, term.term, actor, self.clock()),
            )
            details["changed"] = cur.rowcount == 1
        return term, bool(details["changed"])

    async def remove_term(self, guild_id: str, actor: str, text: str) -> bool:
        """Unblock a word or phrase (matched on its normalized form); False if absent."""
        shown = " ".join(text.split())
        async with self._action(guild_id, actor, "term_remove", term=shown) as (conn, details):
            cur = await conn.execute(
                # By its text too: rows stored by an older normalize keep an older form.
                "DELETE FROM blocked_terms WHERE guild_id = ? AND (normalized = ? OR term = ?)",
                (guild_id, normalize(text), shown),
            )
            details["changed"] = cur.rowcount >= 1
        return bool(details["changed"])

    async def set_defaults(
        self,
        guild_id: str,
        actor: str,
        *,
        aspect_ratio: str | None = None,
        duration: int | None = None,
        keep_watermark: bool | None = None,
        watermark_surcharge: int | None = None,
        reset: bool = False,
    ) -> GuildDefaults:
        """Change the given defaults (or with ``reset`` clear them all); returns the result."""
        changes: dict[str, Any] = {}
        if aspect_ratio is not None or duration is not None:
            checked = build_options(
                "x", aspect_ratio=aspect_ratio or "16:9", duration=duration or 10
            )
            if aspect_ratio is not None:
                changes["default_aspect_ratio"] = checked.aspect_ratio
            if duration is not None:
                changes["default_duration"] = checked.duration
        if keep_watermark is not None:
            changes["default_keep_watermark"] = int(keep_watermark)
        if watermark_surcharge is not None:
            if watermark_surcharge < 0:
                raise InvalidInput(refusals.negative_surcharge())
            changes["watermark_surcharge"] = watermark_surcharge
        if reset:
            changes = dict.fromkeys(
                (
                    "default_aspect_ratio",
                    "default_duration",
                    "default_keep_watermark",
                    "watermark_surcharge",
                ),
                None,
            )
        if changes:  # with no option the admin only looked: nothing to record
            async with self._action(guild_id, actor, "defaults", **changes) as (conn, _):
                await self._set(conn, guild_id, **changes)
        return await self.policy.defaults(guild_id)

    @asynccontextmanager
    async def _action(
        self, guild_id: str, actor: str, action: str, **details: Any
    ) -> AsyncIterator[tuple[aiosqlite.Connection, dict[str, Any]]]:
        """A transaction that ends by writing the audit row (the block may add details)."""
        async with self.db.transaction() as conn:
            yield conn, details
            await conn.execute(
                "INSERT INTO admin_actions (guild_id, actor_id, action, details, created_at) "
                "VALUES (?,?,?,?,?)",
                (guild_id, actor, action, json.dumps(details, sort_keys=True), self.clock()),
            )

    async def _set(self, conn: aiosqlite.Connection, guild_id: str, **values: Any) -> None:
        if not values:
            return
        assert set(values) <= _SETTING_COLUMNS, values  # column names never come from users
        await conn.execute(
            "INSERT INTO guild_settings (guild_id) VALUES (?) ON CONFLICT DO NOTHING", (guild_id,)
        )
        sets = ", ".join(f"{column} = ?" for column in values)
        await conn.execute(
            f"UPDATE guild_settings SET {sets} WHERE guild_id = ?", (*values.values(), guild_id)
        )
