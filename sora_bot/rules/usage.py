"""Reports for admins: guild spend, outcomes, top users, a member's history, the audit log."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sora_bot.models import GUILD_CHARGED, Job, JobState
from sora_bot.rules.credits import utc_day
from sora_bot.storage.database import Database, sql_list
from sora_bot.storage.jobs import DailySpend, JobStore, job_from_row

# Waived: given back to the member by an admin's reset of their day (GuildAdmin.reset_day).
CHARGED = f"credit_state IN {sql_list(GUILD_CHARGED)}"
CHART_DAYS = 14
# Jobs are grouped by how they ended; every unfinished state counts as "in progress".
OUTCOMES = {
    JobState.DELIVERED.value: "delivered",
    JobState.FAILED.value: "failed",
    JobState.REJECTED.value: "not started",
    JobState.UNDELIVERABLE.value: "not posted",
}
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# The audit CSV must fit Discord's smallest upload limit (10 MiB), with room to spare.
CSV_MAX_BYTES = 8 * 1024 * 1024
CSV_MAX_TEXT = 500  # characters of a prompt (or an admin action's details) in the CSV


@dataclass(frozen=True, slots=True)
class Spend:
    """Credits charged (reserved, settled or waived) over today, 7 and 30 days (UTC days)."""

    today: int
    week: int
    month: int


@dataclass(frozen=True, slots=True)
class GuildUsage:
    """What ``/sora-admin usage`` shows for the whole guild."""

    spend: Spend
    outcomes: dict[str, int]
    top_users: list[tuple[str, int, int]]  # user id, credits, jobs (30 days)
    daily: list[tuple[str, int]]  # (day, credits) for the last CHART_DAYS days, oldest first
    provider: list[DailySpend]  # the provider's own credits per day (30 days), for the bill


@dataclass(frozen=True, slots=True)
class MemberUsage:
    """One member's spend and latest jobs."""

    user_id: str
    spend: Spend
    outcomes: dict[str, int]
    recent: list[Job]


@dataclass(frozen=True, slots=True)
class AuditCsv:
    """The audit CSV file and what had to be left out for it to stay uploadable."""

    data: bytes
    rows: int  # entries in the file (the newest ones)
    total: int  # entries asked for
    shortened: int  # texts cut to CSV_MAX_TEXT characters

    @property
    def note(self) -> str:
        """What the admin should know about the file ("" when it has everything in full)."""
        notes = []
        if self.rows < self.total:
            notes.append(
                f"The CSV holds the newest {self.rows} of {self.total} entries, "
                "to stay under Discord's upload limit."
            )
        if self.shortened:
            notes.append(
                f"{self.shortened} prompts or details longer than {CSV_MAX_TEXT} characters "
                "were cut (marked …)."
            )
        return " ".join(notes)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit: a prompt someone submitted, or an admin's change."""

    at: float
    kind: str  # "job" or "admin"
    actor_id: str
    action: str  # the job's outcome or the admin action's name
    cost: int | None
    text: str  # the prompt, or the admin action's details as JSON
    job_id: int | None = None


class UsageReports:
    """Read-only queries over jobs and admin actions."""

    def __init__(self, db: Database, clock: Callable[[], float]) -> None:
        self.db = db
        self.clock = clock
        self.store = JobStore(db)

    def _day(self, days_ago: int) -> str:
        moment = dt.datetime.fromtimestamp(self.clock(), dt.UTC) - dt.timedelta(days=days_ago)
        return utc_day(moment.timestamp())

    async def guild(self, guild_id: str, *, top: int = 5) -> GuildUsage:
        """Spend, outcomes (30 days), top spenders (30 days) and a daily series."""
        month = self._day(29)
        top_rows = await self.db.fetchall(
            f"SELECT user_id, SUM(CASE WHEN {CHARGED} THEN cost ELSE 0 END) AS credits, "
            "COUNT(*) AS jobs FROM jobs WHERE guild_id = ? AND credit_day >= ? "
            "GROUP BY user_id ORDER BY credits DESC, jobs DESC LIMIT ?",
            (guild_id, month, top),
        )
        daily_rows = await self.db.fetchall(
            f"SELECT credit_day, SUM(cost) FROM jobs WHERE guild_id = ? AND credit_day >= ? "
            f"AND {CHARGED} GROUP BY credit_day",
            (guild_id, self._day(CHART_DAYS - 1)),
        )
        by_day = {str(r[0]): int(r[1]) for r in daily_rows}
        days = [self._day(n) for n in range(CHART_DAYS - 1, -1, -1)]
        return GuildUsage(
            spend=await self._spend("guild_id = ?", (guild_id,)),
            outcomes=await self._outcomes("guild_id = ?", (guild_id,)),
            top_users=[(str(r[0]), int(r[1]), int(r[2])) for r in top_rows],
            daily=[(day, by_day.get(day, 0)) for day in days],
            provider=await self.store.provider_spend(guild_id=guild_id, since_day=month),
        )

    async def member(self, guild_id: str, user_id: str, *, limit: int = 10) -> MemberUsage:
        """A member's spend, outcomes (30 days) and latest jobs."""
        where, params = "guild_id = ? AND user_id = ?", (guild_id, user_id)
        rows = await self.db.fetchall(
            "SELECT * FROM jobs WHERE guild_id = ? AND user_id = ? "
            "ORDER BY created_at DESC, id DESC LIMIT ?",
            (*params, limit),
        )
        return MemberUsage(
            user_id=user_id,
            spend=await self._spend(where, params),
            outcomes=await self._outcomes(where, params),
            recent=[job_from_row(r) for r in rows],
        )

    async def audit(self, guild_id: str, *, limit: int = 20) -> list[AuditEntry]:
        """The latest prompts and admin actions together, newest first."""
        jobs = await self.db.fetchall(
            "SELECT id, user_id, prompt, state, cost, credit_state, created_at FROM jobs "
            "WHERE guild_id = ? ORDER BY created_at DESC LIMIT ?",
            (guild_id, limit),
        )
        actions = await self.db.fetchall(
            "SELECT actor_id, action, details, created_at FROM admin_actions "
            "WHERE guild_id = ? ORDER BY created_at DESC, id DESC LIMIT ?",
            (guild_id, limit),
        )
        entries = [
            AuditEntry(
                at=float(r["created_at"]),
                kind="job",
                actor_id=str(r["user_id"]),
                action=outcome_of(str(r["state"])),
                cost=int(r["cost"]) if r["credit_state"] in GUILD_CHARGED else 0,
                text=str(r["prompt"]),
                job_id=int(r["id"]),
            )
            for r in jobs
        ]
        entries += [
            AuditEntry(
                at=float(r["created_at"]),
                kind="admin",
                actor_id=str(r["actor_id"]),
                action=str(r["action"]),
                cost=None,
                text=str(r["details"]),
            )
            for r in actions
        ]
        entries.sort(key=lambda e: e.at, reverse=True)
        return entries[:limit]

    async def _spend(self, where: str, params: tuple[str, ...]) -> Spend:
        row = await self.db.fetchone(
            "SELECT "
            "COALESCE(SUM(CASE WHEN credit_day >= ? THEN cost END), 0), "
            "COALESCE(SUM(CASE WHEN credit_day >= ? THEN cost END), 0), "
            "COALESCE(SUM(cost), 0) "
            f"FROM jobs WHERE {where} AND {CHARGED} AND credit_day >= ?",
            (self._day(0), self._day(6), *params, self._day(29)),
        )
        assert row is not None
        return Spend(today=int(row[0]), week=int(row[1]), month=int(row[2]))

    async def _outcomes(self, where: str, params: tuple[str, ...]) -> dict[str, int]:
        rows = await self.db.fetchall(
            f"SELECT state, COUNT(*) FROM jobs WHERE {where} AND credit_day >= ? GROUP BY state",
            (*params, self._day(29)),
        )
        counts: dict[str, int] = {}
        for state, count in rows:
            label = outcome_of(str(state))
            counts[label] = counts.get(label, 0) + int(count)
        return counts


def outcome_of(state: str) -> str:
    """A job state as a short outcome word."""
    return OUTCOMES.get(state, "in progress")


def audit_csv(
    entries: Iterable[AuditEntry],
    *,
    max_bytes: int = CSV_MAX_BYTES,
    max_text: int = CSV_MAX_TEXT,
) -> AuditCsv:
    """The audit as a UTF-8 CSV file (with BOM, so spreadsheets read accents correctly).

    Texts are cut to ``max_text`` characters and, ``entries`` being newest first, rows are
    added until the next one would take the file past ``max_bytes``.
    """
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["time_utc", "kind", "user_id", "action", "credits", "job_id", "text"])
    chunks = [out.getvalue().encode("utf-8-sig")]
    size = len(chunks[0])
    rows = total = shortened = 0
    full = False
    for entry in entries:
        total += 1
        if full:
            continue
        when = dt.datetime.fromtimestamp(entry.at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        text = entry.text
        cut = len(text) > max_text
        if cut:
            text = text[: max_text - 1] + "…"
        out.seek(0)
        out.truncate()
        writer.writerow(
            [
                when,
                entry.kind,
                entry.actor_id,
                entry.action,
                "" if entry.cost is None else entry.cost,
                "" if entry.job_id is None else entry.job_id,
                _cell(text),
            ]
        )
        line = out.getvalue().encode("utf-8")
        if size + len(line) > max_bytes:
            full = True
            continue
        chunks.append(line)
        size += len(line)
        rows += 1
        shortened += cut
    return AuditCsv(b"".join(chunks), rows=rows, total=total, shortened=shortened)


def details_text(details_json: str) -> str:
    """An admin action's JSON details as ``key=value`` pairs."""
    try:
        details = json.loads(details_json)
    except ValueError:
        return details_json
    if not isinstance(details, dict):
        return details_json
    return ", ".join(f"{k}={v}" for k, v in details.items() if v is not None)


def _cell(text: str) -> str:
    # A prompt starting with "=" would run as a formula when the file is opened in a spreadsheet.
    return "'" + text if text.startswith(CSV_FORMULA_START) else text
