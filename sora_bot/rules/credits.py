"""Daily credits: atomic reservation at submit; settle and refund happen in ``JobStore.finish``."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiosqlite

from sora_bot.errors import SoraBotError
from sora_bot.models import (
    ACTIVE_STATES,
    GUILD_CHARGED,
    USER_CHARGED,
    CreditState,
    Job,
    JobState,
    Requester,
    VideoOptions,
)
from sora_bot.settings import Settings
from sora_bot.storage.database import Database, sql_list
from sora_bot.storage.jobs import JobStore

# Everything a reservation checks, in one statement (one trip to the database thread). The
# base allowance is the member's own override, else the most generous of their roles', else
# the guild's, else the process default; the guild's spend is summed only under a budget.
_STATUS_SQL = f"""
WITH guild AS (SELECT daily_credits, daily_budget, paused FROM guild_settings
               WHERE guild_id = :guild),
     budget AS (SELECT COALESCE((SELECT daily_budget FROM guild), :default_budget) AS amount)
SELECT
    COALESCE(
        (SELECT daily_credits FROM allowance_overrides
         WHERE guild_id = :guild AND kind = 'user' AND target_id = :user),
        (SELECT MAX(daily_credits) FROM allowance_overrides
         WHERE guild_id = :guild AND kind = 'role'
           AND target_id IN (SELECT value FROM json_each(:roles))),
        (SELECT daily_credits FROM guild),
        :default_credits) AS base,
    (SELECT COALESCE(SUM(amount), 0) FROM credit_grants
     WHERE guild_id = :guild AND user_id = :user AND day = :day) AS granted,
    (SELECT COALESCE(SUM(cost), 0) FROM jobs
     WHERE guild_id = :guild AND user_id = :user AND credit_day = :day
       AND credit_state IN {sql_list(USER_CHARGED)}) AS used,
    (SELECT COUNT(*) FROM jobs WHERE guild_id = :guild AND user_id = :user
       AND state IN {sql_list(ACTIVE_STATES)}) AS active,
    (SELECT COALESCE((SELECT paused FROM guild), 0)) AS paused,
    (SELECT amount FROM budget) AS budget,
    CASE WHEN (SELECT amount FROM budget) > 0 THEN
        (SELECT COALESCE(SUM(cost), 0) FROM jobs WHERE guild_id = :guild AND credit_day = :day
           AND credit_state IN {sql_list(GUILD_CHARGED)})  -- waived: see reset_day
    ELSE 0 END AS guild_used
"""


def utc_day(timestamp: float) -> str:
    """The UTC calendar day of a timestamp, as YYYY-MM-DD (allowances reset at 00:00 UTC)."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).date().isoformat()


def next_reset(timestamp: float) -> float:
    """The timestamp of the next 00:00 UTC after ``timestamp``."""
    day = dt.datetime.fromtimestamp(timestamp, dt.UTC).date() + dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(), dt.UTC).timestamp()


@dataclass(frozen=True, slots=True)
class QuotaStatus:
    """What a user has today."""

    allowance: int
    used: int
    active_jobs: int
    max_active: int
    resets_at: float
    paused: bool = False
    guild_budget: int | None = None
    guild_used: int = 0

    @property
    def remaining(self) -> int:
        left = max(0, self.allowance - self.used)
        if self.guild_budget:
            left = min(left, max(0, self.guild_budget - self.guild_used))
        return left


class CreditRefused(SoraBotError):
    """A job was refused before anything was spent.

    ``reason`` is ``paused``, ``active_limit``, ``allowance`` or ``budget``.
    """

    def __init__(self, reason: str, status: QuotaStatus, cost: int) -> None:
        self.reason = reason
        self.status = status
        self.cost = cost
        super().__init__(f"refused: {reason} (cost {cost}, remaining {status.remaining})")


class Credits:
    """Allowances, usage and the atomic reservation that creates a job."""

    def __init__(
        self, db: Database, store: JobStore, settings: Settings, clock: Callable[[], float]
    ) -> None:
        self.db = db
        self.store = store
        self.settings = settings
        self.clock = clock

    async def status(self, requester: Requester) -> QuotaStatus:
        """The requester's allowance, usage and active jobs right now."""
        async with self.db.transaction() as conn:
            return await self._status(conn, requester, self.clock())

    async def precheck(self, requester: Requester, cost: int) -> None:
        """Raise CreditRefused if ``reserve`` would refuse ``cost`` now (reads only)."""
        status = await self.status(requester)
        reason = self._refusal(status, cost)
        if reason:
            raise CreditRefused(reason, status, cost)

    async def reserve(
        self,
        requester: Requester,
        options: VideoOptions,
        cost: int,
        *,
        state: JobState = JobState.QUEUED,
        front_ref: Mapping[str, Any] | None = None,
        charge: bool = True,
        next_attempt_at: float | None = None,
    ) -> Job:
        """Check every rule and create the job with its credits reserved, atomically.

        The checks and the insert share one ``BEGIN IMMEDIATE`` transaction, so simultaneous
        submits by one user can never spend past the allowance or the active-job cap.
        """
        now = self.clock()
        async with self.db.transaction() as conn:
            if charge:
                status = await self._status(conn, requester, now)
                reason = self._refusal(status, cost)
                if reason:
                    raise CreditRefused(reason, status, cost)
            return await self.store.insert(
                conn,
                requester=requester,
                options=options,
                cost=cost if charge else 0,
                credit_day=utc_day(now),
                credit_state=CreditState.RESERVED if charge else CreditState.NONE,
                state=state,
                now=now,
                front_ref=front_ref,
                next_attempt_at=next_attempt_at if next_attempt_at is not None else now,
            )

    def _refusal(self, status: QuotaStatus, cost: int) -> str | None:
        if status.paused:
            return "paused"
        if status.active_jobs >= status.max_active:
            return "active_limit"
        if status.used + cost > status.allowance:
            return "allowance"
        if status.guild_budget and status.guild_used + cost > status.guild_budget:
            return "budget"
        return None

    async def _status(self, conn: aiosqlite.Connection, who: Requester, now: float) -> QuotaStatus:
        day = utc_day(now)
        rows = await conn.execute_fetchall(
            _STATUS_SQL,
            {
                "guild": who.guild_id,
                "user": who.user_id,
                "day": day,
                "roles": json.dumps(list(who.role_ids)),
                "default_credits": self.settings.daily_credits,
                "default_budget": self.settings.guild_daily_budget,
            },
        )
        row = next(iter(rows))
        budget = int(row["budget"] or 0)
        return QuotaStatus(
            allowance=int(row["base"]) + int(row["granted"]),
            used=int(row["used"]),
            active_jobs=int(row["active"]),
            max_active=self.settings.max_active_per_user,
            resets_at=next_reset(now),
            paused=bool(row["paused"]),
            guild_budget=budget or None,
            guild_used=int(row["guild_used"]),
        )

    async def grant(
        self,
        guild_id: str,
        user_id: str,
        amount: int,
        *,
        reason: str = "",
        by: str = "",
        conn: aiosqlite.Connection | None = None,
    ) -> None:
        """Give a user extra credits for today only (inside ``conn``'s transaction if given)."""
        now = self.clock()
        async with self.db.transaction(conn) as tx:
            await tx.execute(
                "INSERT INTO credit_grants (guild_id, user_id, day, amount, reason, created_by, "
                "created_at) VALUES (?,?,?,?,?,?,?)",
                (guild_id, user_id, utc_day(now), amount, reason, by, now),
            )

    async def set_override(
        self,
        guild_id: str,
        kind: str,
        target_id: str,
        daily_credits: int | None,
        *,
        conn: aiosqlite.Connection | None = None,
    ) -> None:
        """Set (or with None, remove) a per-user or per-role daily allowance."""
        async with self.db.transaction(conn) as tx:
            if daily_credits is None:
                await tx.execute(
                    "DELETE FROM allowance_overrides "
                    "WHERE guild_id = ? AND kind = ? AND target_id = ?",
                    (guild_id, kind, target_id),
                )
            else:
                await tx.execute(
                    "INSERT INTO allowance_overrides (guild_id, kind, target_id, daily_credits) "
                    "VALUES (?,?,?,?) ON CONFLICT (guild_id, kind, target_id) "
                    "DO UPDATE SET daily_credits = excluded.daily_credits",
                    (guild_id, kind, target_id, daily_credits),
                )
