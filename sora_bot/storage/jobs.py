"""Job rows: reads, and the conditional transitions that move a job between states."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypedDict

import aiosqlite

from sora_bot.models import (
    IN_FLIGHT_STATES,
    CreditState,
    Job,
    JobState,
    Requester,
    VideoOptions,
)
from sora_bot.storage.database import Database


@dataclass(frozen=True, slots=True)
class DailySpend:
    """What one UTC day cost: jobs sent to the provider, user credits, provider credits."""

    day: str
    jobs: int
    user_credits: int
    provider_credits: float


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A job's downloaded video as the store knows it (for retention)."""

    job_id: int
    path: str | None
    state: JobState


class JobChanges(TypedDict, total=False):
    """Columns a transition may set besides the state (a key left out keeps its value).

    Grouped by the step that writes them.
    """

    # the front end, while it prepares a held job
    front_ref: dict[str, Any]
    image_url: str | None
    # scheduling, on every step
    next_attempt_at: float | None
    attempts: int
    # the claim and the create POST
    callback_hash: str | None
    callback_at: float | None
    submitted_at: float | None
    task_id: str | None
    provider_credits: float | None
    # polls and the download
    estimated_seconds: int | None
    progress: int
    video_url: str | None
    completed_at: float | None
    file_size: int | None
    file_path: str | None
    # the ending
    error_message: str | None
    error_code: str | None
    outcome_posted: bool
    delivery_ref: str | None


_JOB_FIELDS = tuple(f.name for f in fields(Job))
# The queued-only indexes (migration 005) serve a query only when it names the state as this
# literal: SQLite matches a partial index's condition by its text, never through a parameter.
# Queue reads also name their index (INDEXED BY): without statistics the planner may pick
# jobs_state and sort the whole queue instead of reading its head.
QUEUED = f"state = '{JobState.QUEUED.value}'"
NOT_QUEUED = f"state != '{JobState.QUEUED.value}'"


def next_round(guild_id: str = "?", user_id: str = "?") -> str:
    """SQL for the round a newly queued job of (``guild_id``, ``user_id``) takes.

    The round after that user's last queued job, and never before the head of the queue
    (nor, with none queued, the last round used): the fair order is then (queue_round, id),
    each user's oldest job before anyone's second, one turn per user per round. Three index
    seeks, whatever the length of the queue or of the history. The arguments are SQL
    expressions (parameters by default, or the columns of a row being updated).
    """
    return f"""MAX(
        COALESCE((SELECT MIN(queue_round) FROM jobs INDEXED BY jobs_queue WHERE {QUEUED}),
                 (SELECT MAX(queue_round) FROM jobs), 0),
        COALESCE((SELECT MAX(queue_round) + 1 FROM jobs WHERE {QUEUED}
                  AND guild_id = {guild_id} AND user_id = {user_id}), 0))"""


def job_from_row(row: sqlite3.Row) -> Job:
    """The typed job of a ``jobs`` row (extra query columns are ignored)."""
    data = {name: row[name] for name in _JOB_FIELDS}
    data["state"] = JobState(data["state"])
    data["credit_state"] = CreditState(data["credit_state"])
    data["remove_watermark"] = bool(data["remove_watermark"])
    data["outcome_posted"] = bool(data["outcome_posted"])
    data["front_ref"] = json.loads(data["front_ref"]) if data["front_ref"] else {}
    return Job(**data)


def _set_clause(now: float, to: JobState | None, changes: JobChanges) -> tuple[str, list[Any]]:
    values: dict[str, Any] = {"updated_at": now, **changes}
    if to is not None:
        values["state"] = to.value
    if "front_ref" in values:
        values["front_ref"] = json.dumps(values["front_ref"])
    if "outcome_posted" in values:
        values["outcome_posted"] = int(values["outcome_posted"])
    return ", ".join(f"{key} = ?" for key in values), list(values.values())


def _state_filter(from_states: Collection[JobState] | None) -> tuple[str, list[Any]]:
    if from_states is None:
        return "", []
    states = [s.value for s in from_states]
    return f" AND state IN ({_placeholders(states)})", states


def _placeholders(values: Iterable[Any]) -> str:
    return ",".join("?" for _ in values)


class JobStore:
    """Reads and state transitions of jobs; each transition is one committed write."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert(
        self,
        conn: aiosqlite.Connection,
        *,
        requester: Requester,
        options: VideoOptions,
        cost: int,
        credit_day: str,
        credit_state: CreditState,
        state: JobState,
        now: float,
        front_ref: Mapping[str, Any] | None = None,
        next_attempt_at: float | None = None,
    ) -> Job:
        """Insert a job inside the caller's transaction; returns it as stored."""
        rows = await self.db.write(
            f"""INSERT INTO jobs (guild_id, channel_id, user_id, prompt, aspect_ratio, duration,
                   remove_watermark, image_url, cost, credit_day, credit_state, state, front_ref,
                   created_at, updated_at, next_attempt_at, queue_round)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,
                   CASE WHEN ? THEN {next_round()} END) RETURNING *""",
            (
                requester.guild_id,
                requester.channel_id,
                requester.user_id,
                options.prompt,
                options.aspect_ratio,
                options.duration,
                int(options.remove_watermark),
                options.image_url,
                cost,
                credit_day,
                credit_state.value,
                state.value,
                json.dumps(dict(front_ref or {})),
                now,
                now,
                next_attempt_at,
                state is JobState.QUEUED,
                requester.guild_id,
                requester.user_id,
            ),
            conn=conn,
        )
        return job_from_row(rows[0])

    async def get(self, job_id: int) -> Job | None:
        """The job with this id, or None."""
        row = await self.db.fetchone("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return job_from_row(row) if row else None

    async def require(self, job_id: int) -> Job:
        """The job with this id (it must exist)."""
        job = await self.get(job_id)
        if job is None:
            raise LookupError(f"job {job_id} does not exist")
        return job

    async def due(self, now: float, limit: int, *, exclude: Collection[int] = ()) -> list[Job]:
        """Jobs whose next worker step is due, earliest first (queued jobs wait for a slot).

        ``exclude`` holds the ids whose step is already running (one JSON parameter, so the
        list may be long).
        """
        rows = await self.db.fetchall(
            f"SELECT * FROM jobs WHERE next_attempt_at IS NOT NULL AND {NOT_QUEUED} "
            "AND next_attempt_at <= ? AND id NOT IN (SELECT value FROM json_each(?)) "
            "ORDER BY next_attempt_at LIMIT ?",
            (now, json.dumps(list(exclude)), limit),
        )
        return [job_from_row(r) for r in rows]

    async def next_due_at(self, *, exclude: Collection[int] = ()) -> float | None:
        """When the earliest pending worker step is due (None: nothing; queued jobs wait
        for a slot instead). ``exclude`` holds the ids whose step is already running."""
        row = await self.db.fetchone(
            f"SELECT MIN(next_attempt_at) FROM jobs WHERE next_attempt_at IS NOT NULL "
            f"AND {NOT_QUEUED} AND id NOT IN (SELECT value FROM json_each(?))",
            (json.dumps(list(exclude)),),
        )
        return float(row[0]) if row and row[0] is not None else None

    async def make_due(self, state: JobState, *, created_before: float, now: float) -> int:
        """Bring the next step of older jobs in ``state`` forward to now; returns how many."""
        return await self.db.execute(
            "UPDATE jobs SET next_attempt_at = ? WHERE state = ? AND created_at < ? "
            "AND next_attempt_at > ?",
            (now, state.value, created_before, now),
        )

    async def queue_look(self) -> tuple[bool, int]:
        """Whether any job is queued, and the newest job id (both index seeks)."""
        row = await self.db.fetchone(
            f"SELECT EXISTS (SELECT 1 FROM jobs WHERE {QUEUED}), (SELECT MAX(id) FROM jobs)"
        )
        assert row is not None
        return bool(row[0]), int(row[1] or 0)

    async def queue_head(self, now: float, limit: int) -> list[Job]:
        """The first ``limit`` queued jobs in fair order that may be sent now (a job waiting
        out a provider retry keeps its place but is passed over)."""
        rows = await self.db.fetchall(
            f"SELECT * FROM jobs INDEXED BY jobs_queue WHERE {QUEUED} "
            "AND (next_attempt_at IS NULL OR next_attempt_at <= ?) "
            "ORDER BY queue_round, id LIMIT ?",
            (now, limit),
        )
        return [job_from_row(r) for r in rows]

    async def next_queued_at(self, now: float) -> float | None:
        """When the earliest queued job waiting out a provider retry may be sent."""
        row = await self.db.fetchone(
            f"SELECT MIN(next_attempt_at) FROM jobs WHERE {QUEUED} AND next_attempt_at > ?",
            (now,),
        )
        return float(row[0]) if row and row[0] is not None else None

    async def queue_windows(self, windows: Iterable[tuple[int, int]]) -> list[tuple[Job, int]]:
        """The queued jobs at places ``start .. start + count - 1`` of the fair order (1 is
        next) for each ``(start, count)``, each with its place.

        Each window is an OFFSET seek along the queued-jobs index (no table rows are read
        on the way), so only the rows asked for are read and built.
        """
        parts: list[str] = []
        params: list[Any] = []
        for start, count in windows:
            parts.append(
                f"SELECT ? AS start, id FROM (SELECT id FROM jobs INDEXED BY jobs_queue "
                f"WHERE {QUEUED} ORDER BY queue_round, id LIMIT ? OFFSET ?)"
            )
            params += [start, count, start - 1]
        if not parts:
            return []
        rows = await self.db.fetchall(
            f"SELECT jobs.*, w.start FROM ({' UNION ALL '.join(parts)}) AS w "
            "JOIN jobs ON jobs.id = w.id ORDER BY w.start, jobs.queue_round, jobs.id",
            params,
        )
        placed: list[tuple[Job, int]] = []
        offset, window = 0, None
        for r in rows:
            offset = offset + 1 if r["start"] == window else 0
            window = r["start"]
            placed.append((job_from_row(r), int(r["start"]) + offset))
        return placed

    async def queued_since(self, job_id: int, *, many: bool) -> list[tuple[Job, int]]:
        """Queued jobs with an id above ``job_id`` (queued since a look), with their places.

        Each place is counted along the index up to the job; when ``many`` jobs are new,
        one numbered walk of the whole queue is cheaper than a count for each.
        """
        if many:
            sql = f"""WITH q AS (SELECT id, ROW_NUMBER() OVER (ORDER BY queue_round, id) AS place
                                 FROM jobs INDEXED BY jobs_queue WHERE {QUEUED})
                      SELECT jobs.*, q.place FROM q JOIN jobs ON jobs.id = q.id
                      WHERE q.id > ? ORDER BY q.place"""
        else:
            sql = f"""SELECT j.*, 1 + (SELECT COUNT(*) FROM jobs AS k INDEXED BY jobs_queue
                          WHERE k.{QUEUED} AND (k.queue_round < j.queue_round
                              OR (k.queue_round = j.queue_round AND k.id < j.id))) AS place
                      FROM jobs AS j WHERE j.id > ? AND j.{QUEUED} ORDER BY place"""
        rows = await self.db.fetchall(sql, (job_id,))
        return [(job_from_row(r), int(r["place"])) for r in rows]

    async def count_in_flight(self) -> int:
        """Jobs currently holding a provider slot (until their video is on disk: a full disk
        must hold back new submissions rather than pile up billed tasks)."""
        row = await self.db.fetchone(
            f"SELECT COUNT(*) FROM jobs WHERE state IN ({_placeholders(IN_FLIGHT_STATES)})",
            IN_FLIGHT_STATES,
        )
        return int(row[0]) if row else 0

    async def recent_for_user(self, guild_id: str, user_id: str, limit: int = 10) -> list[Job]:
        """A user's latest jobs in a guild, newest first."""
        rows = await self.db.fetchall(
            "SELECT * FROM jobs WHERE guild_id = ? AND user_id = ? ORDER BY id DESC LIMIT ?",
            (guild_id, user_id, limit),
        )
        return [job_from_row(r) for r in rows]

    async def transition(
        self,
        job_id: int,
        from_states: Collection[JobState] | None,
        to: JobState | None = None,
        changes: JobChanges | None = None,
        *,
        now: float,
        conn: aiosqlite.Connection | None = None,
    ) -> Job | None:
        """Move the job to ``to`` (None: keep its state) and set ``changes``, in one write.

        Only if it is still in one of ``from_states`` (None: whatever its state). Returns the
        row as written, or None when the job had moved on (another path won the race).
        With ``conn``, the write joins the caller's transaction.
        """
        sets, params = _set_clause(now, to, changes or {})
        where, states = _state_filter(from_states)
        rows = await self.db.write(
            f"UPDATE jobs SET {sets} WHERE id = ?{where} RETURNING *",
            [*params, job_id, *states],
            conn=conn,
        )
        return job_from_row(rows[0]) if rows else None

    async def queue_held(self, job_id: int, changes: JobChanges, *, now: float) -> Job | None:
        """Queue a held (``accepted``) job with ``changes``: it joins the fair order now."""
        sets, params = _set_clause(now, JobState.QUEUED, changes)
        rows = await self.db.write(
            f"UPDATE jobs AS held SET {sets}, "
            f"queue_round = {next_round('held.guild_id', 'held.user_id')} "
            "WHERE id = ? AND state = ? RETURNING *",
            [*params, job_id, JobState.ACCEPTED.value],
        )
        return job_from_row(rows[0]) if rows else None

    async def finish(
        self,
        job_id: int,
        from_states: Collection[JobState],
        to: JobState,
        credits: CreditState,
        changes: JobChanges | None = None,
        *,
        now: float,
    ) -> Job | None:
        """End the job in ``to`` and settle or refund its reservation, in one statement.

        ``credits`` is SETTLED or REFUNDED; the conditions make both exactly-once even if two
        paths race to end the same job. Returns the final row, or None when it had moved on.
        """
        assert to.terminal and credits in (CreditState.SETTLED, CreditState.REFUNDED)
        # A job waived by an admin's reset that then fails is refunded like any other (the
        # member's own spend counts neither state, so nothing comes back twice).
        held = [CreditState.RESERVED]
        if credits is CreditState.REFUNDED:
            held.append(CreditState.WAIVED)
        sets, params = _set_clause(now, to, {**(changes or {})})
        where, states = _state_filter(from_states)
        rows = await self.db.write(
            f"UPDATE jobs SET {sets}, finished_at = ?, credit_state = CASE WHEN credit_state "
            f"IN ({_placeholders(held)}) THEN ? ELSE credit_state END "
            f"WHERE id = ?{where} RETURNING *",
            [*params, now, *(c.value for c in held), credits.value, job_id, *states],
        )
        return job_from_row(rows[0]) if rows else None

    async def count_by_state(self) -> dict[JobState, int]:
        """How many jobs are in each state (every state present, zero included)."""
        rows = await self.db.fetchall("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        counts = dict.fromkeys(JobState, 0)
        for state, count in rows:
            counts[JobState(state)] = int(count)
        return counts

    async def provider_spend(
        self, *, guild_id: str | None = None, since_day: str | None = None
    ) -> list[DailySpend]:
        """Provider credits (``usage.credits_reserved``) and user credits per UTC day, newest first.

        Only jobs the provider accepted (a task id) count; ``guild_id`` limits to one guild and
        ``since_day`` (``YYYY-MM-DD``) to that day and later.
        """
        where, params = ["task_id IS NOT NULL"], []
        if guild_id is not None:
            where.append("guild_id = ?")
            params.append(guild_id)
        if since_day is not None:
            where.append("credit_day >= ?")
            params.append(since_day)
        rows = await self.db.fetchall(
            "SELECT credit_day, COUNT(*), "
            f"COALESCE(SUM(CASE WHEN credit_state = '{CreditState.SETTLED.value}' THEN cost "
            "ELSE 0 END), 0), "
            f"COALESCE(SUM(provider_credits), 0) FROM jobs WHERE {' AND '.join(where)} "
            "GROUP BY credit_day ORDER BY credit_day DESC",
            params,
        )
        return [DailySpend(r[0], int(r[1]), int(r[2]), float(r[3])) for r in rows]

    async def use_callback(self, token_hash: str, *, now: float, wake_at: float) -> Job | None:
        """Spend a callback token once: bring the job's next step forward to ``wake_at``.

        Returns the job, or None for an unknown, used or finished job's token. Anyone can
        call the endpoint, so a miss costs one indexed read and never a write transaction;
        the write is one conditional statement, so two concurrent calls with the same token
        cannot both succeed.
        """
        states = [s.value for s in IN_FLIGHT_STATES]
        hit = await self.db.fetchone(
            "SELECT 1 FROM jobs WHERE callback_hash = ? AND callback_at IS NULL "
            f"AND state IN ({_placeholders(states)})",
            (token_hash, *states),
        )
        if hit is None:
            return None
        rows = await self.db.write(
            "UPDATE jobs SET callback_at = ?, updated_at = ?, "
            "next_attempt_at = MIN(COALESCE(next_attempt_at, ?), ?) "
            f"WHERE callback_hash = ? AND callback_at IS NULL "
            f"AND state IN ({_placeholders(states)}) RETURNING *",
            (now, now, wake_at, wake_at, token_hash, *states),
        )
        return job_from_row(rows[0]) if rows else None

    async def stored_files(self, job_ids: Iterable[int]) -> dict[int, StoredFile]:
        """The state and recorded file of each of these jobs that exists."""
        ids = list(job_ids)
        found: dict[int, StoredFile] = {}
        for start in range(0, len(ids), 500):  # stay under SQLite's variable limit
            chunk = ids[start : start + 500]
            rows = await self.db.fetchall(
                f"SELECT id, file_path, state FROM jobs WHERE id IN ({_placeholders(chunk)})",
                chunk,
            )
            for r in rows:
                found[int(r[0])] = StoredFile(int(r[0]), r[1], JobState(r[2]))
        return found

    async def forget_file(self, job_id: int, *, now: float) -> bool:
        """Record that a final job's video was removed from disk."""
        finals = [s.value for s in JobState if s.terminal]
        return (
            await self.db.execute(
                "UPDATE jobs SET file_path = NULL, updated_at = ? "
                f"WHERE id = ? AND state IN ({_placeholders(finals)})",
                (now, job_id, *finals),
            )
            == 1
        )
