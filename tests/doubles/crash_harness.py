"""Crash trials: the real ``python bot.py`` killed with SIGKILL at a chosen phase of a job's life.

Each trial runs one ``/video`` job against fresh doubles, lets the job reach a phase (the doubles
are slowed at the route of that phase so the kill lands inside it, observed through the
doubles' recorded requests), kills the process, starts it again, waits for the job to end and
checks from the SQLite file, after the process has exited, that the job ended exactly once.
"""

from __future__ import annotations

import asyncio
import random
import re
import signal
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from .bot_harness import bot_process
from .discord import DiscordDouble, Message
from .discord.http_util import BODY
from .provider import ProviderDouble

UPLOAD_ROUTE = re.compile(r"^/channels/\d+/messages$")
PHASES = (
    "random",  # any moment from the command to the delivery
    "submit_before",  # the create POST received by the provider, not yet processed
    "submit_after",  # the task created, the answer not yet back
    "polling",  # task id stored, the task still running
    "download",  # the result file requested
    "upload",  # the video upload request received by Discord, not yet stored
    "after_upload",  # the video message stored by Discord, the answer not yet back
    "failure_post",  # a failed job's message being posted
)
FAIL_CODES = ("content_policy_violation", "service_error", "generation_timeout")


@dataclass
class Pause:
    """Hold matching Discord requests ``before`` (not yet handled) or ``after`` (handled)."""

    method: str
    pattern: re.Pattern[str]
    before: float = 0.0
    after: float = 0.0
    files: bool | None = None  # only requests that carry files (True) or none (False)
    times: int = 1
    hits: int = 0


class SlowDiscord(DiscordDouble):
    """The Discord double with pauses around chosen routes (to land a kill inside them).

    A request held ``before`` whose client has gone away meanwhile is dropped, like an upload
    cut off half-way: nothing is stored.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pauses: list[Pause] = []

    def pause(
        self,
        method: str,
        path_regex: str,
        *,
        before: float = 0.0,
        after: float = 0.0,
        files: bool | None = None,
        times: int = 1,
    ) -> Pause:
        """Hold the next ``times`` matching requests."""
        held = Pause(method.upper(), re.compile(path_regex), before, after, files, times)
        self.pauses.append(held)
        return held

    def _take_pause(self, request: web.Request, rel: str) -> Pause | None:
        for held in self.pauses:
            if held.times <= 0 or held.method != request.method or not held.pattern.search(rel):
                continue
            if held.files is not None and bool(request[BODY].files) != held.files:
                continue
            held.times -= 1
            held.hits += 1
            return held
        return None

    async def _answer(
        self, request: web.Request, handler: Callable[[web.Request], Any], rel: str, body: Any
    ) -> web.StreamResponse:
        held = self._take_pause(request, rel)
        if held is not None and held.before:
            await asyncio.sleep(held.before)
            if request.transport is None or request.transport.is_closing():
                return web.Response(status=499)  # the client is gone: nothing stored
        response = await super()._answer(request, handler, rel, body)
        if held is not None and held.after:
            await asyncio.sleep(held.after)
        return response


class SlowProvider(ProviderDouble):
    """The provider double that can create a task and then hold the answer back."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.answer_delay = 0.0

    async def _create(self, request: web.Request) -> web.StreamResponse:
        response = await super()._create(request)
        if self.answer_delay:
            delay, self.answer_delay = self.answer_delay, 0.0
            await asyncio.sleep(delay)
        return response


@dataclass
class TrialResult:
    """What one trial saw; ``problems`` is empty when every invariant held."""

    index: int
    phase: str
    fails: bool
    state: str = ""
    credit_state: str = ""
    error_code: str | None = None
    killed_in: str = ""
    creates: int = 0
    uploads: int = 0
    outcome_posts: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"trial {self.index} phase={self.phase} fails={self.fails} killed_in={self.killed_in} "
            f"-> {self.state}/{self.credit_state} ({self.error_code}) creates={self.creates} "
            f"uploads={self.uploads} posts={self.outcome_posts} {self.seconds:.1f}s "
            + ("OK" if not self.problems else "PROBLEMS: " + "; ".join(self.problems))
        )


def read_jobs(db_path: Path) -> list[dict[str, Any]]:
    """Every job row of a bot database (read-only)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM jobs ORDER BY id")]
    finally:
        conn.close()


def _job_state(db_path: Path) -> dict[str, Any] | None:
    if not db_path.exists():
        return None
    try:
        rows = read_jobs(db_path)
    except sqlite3.Error:
        return None
    return rows[0] if rows else None


async def _until(predicate: Callable[[], Any], timeout: float, step: float = 0.02) -> Any:
    async with asyncio.timeout(timeout):
        while not (value := predicate()):
            await asyncio.sleep(step)
    return value


def _video_posts(discord: DiscordDouble) -> list[Message]:
    return [
        m
        for m in discord.messages.values()
        if m.author.id == discord.bot_user.id
        and not m.deleted
        and any(a.filename.endswith(".mp4") for a in m.attachments)
    ]


def _outcome_posts(discord: DiscordDouble, job_id: int) -> list[Message]:
    marker = f" · job #{job_id}"
    return [
        m
        for m in discord.messages.values()
        if m.author.id == discord.bot_user.id and not m.deleted and m.content.endswith(marker)
    ]


async def _arm(
    phase: str, discord: SlowDiscord, provider: SlowProvider, rng: random.Random
) -> Callable[[], Awaitable[str]]:
    """Slow the doubles for ``phase``; return a coroutine that waits until the kill moment."""
    hold = 1.5

    async def after_trigger(trigger: Callable[[], Any], window: float, name: str) -> str:
        await _until(trigger, timeout=30)
        await asyncio.sleep(rng.uniform(0.0, window))
        return name

    if phase == "submit_before":
        provider.inject("POST", "/v1/videos/generations", 200, delay=hold)
        return lambda: after_trigger(provider.creates, hold * 0.8, "submitting (POST unanswered)")
    if phase == "submit_after":
        provider.answer_delay = hold
        return lambda: after_trigger(
            lambda: provider.tasks, hold * 0.8, "submitting (task created, answer lost)"
        )
    if phase == "polling":
        return lambda: after_trigger(provider.polls, 0.4, "polling")
    if phase == "download":
        provider.inject("GET", "/files/", 200, delay=hold)
        return lambda: after_trigger(provider.downloads, hold * 0.8, "downloading")
    if phase == "upload":
        discord.pause("POST", UPLOAD_ROUTE.pattern, before=hold, files=True)
        return lambda: after_trigger(
            lambda: any(r.files for r in discord.find_requests("POST", UPLOAD_ROUTE.pattern)),
            hold * 0.8,
            "uploading",
        )
    if phase == "after_upload":
        discord.pause("POST", UPLOAD_ROUTE.pattern, after=hold, files=True)
        return lambda: after_trigger(
            lambda: _video_posts(discord), hold * 0.8, "uploaded, not committed"
        )
    if phase == "failure_post":
        discord.pause("POST", UPLOAD_ROUTE.pattern, before=hold * 0.5, after=hold * 0.5)
        return lambda: after_trigger(
            lambda: any(
                "· job #" in str((r.json or {}).get("content", ""))
                for r in discord.find_requests("POST", UPLOAD_ROUTE.pattern)
            ),
            hold * 0.8,
            "posting the failure",
        )

    async def anywhere() -> str:
        await asyncio.sleep(rng.uniform(0.0, 2.5))
        return "random moment"

    return anywhere


async def run_trial(index: int, phase: str, root: Path, seed: int) -> TrialResult:
    """One kill-and-restart trial in its own folder with its own doubles."""
    rng = random.Random(seed)
    fails = phase == "failure_post" or (phase == "random" and rng.random() < 0.3)
    result = TrialResult(index, phase, fails)
    started = time.monotonic()
    tmp = root / f"trial-{index:04d}"
    tmp.mkdir(parents=True)
    prompt = f"crash trial {index} seed {seed}"
    if fails:
        prompt += f" [fail:{rng.choice(FAIL_CODES)}]"
    task_seconds = rng.uniform(0.4, 1.2)
    provider = SlowProvider(task_seconds=task_seconds, estimated_time=1)
    await provider.start()
    discord = SlowDiscord()
    await discord.start()
    db_path = tmp / "bot.db"
    try:
        wait_for_kill = await _arm(phase, discord, provider, rng)
        async with bot_process(tmp, discord, provider) as first:
            await discord.gateway.wait_for_sessions(1, timeout=30)
            await _until(lambda: discord.commands.get(None), timeout=30)
            await discord.invoke("video", {"prompt": prompt})
            waiter = asyncio.ensure_future(wait_for_kill())
            exited = asyncio.ensure_future(first.wait())
            done, _ = await asyncio.wait({waiter, exited}, return_when=asyncio.FIRST_COMPLETED)
            if waiter in done:
                result.killed_in = waiter.result()
                first.send_signal(signal.SIGKILL)
            else:  # the job was over before the phase came: the bot never exits on its own
                waiter.cancel()
                result.problems.append(f"bot exited on its own with {first.returncode}")
            await asyncio.wait_for(first.wait(), timeout=15)
        row = _job_state(db_path)
        result.killed_in += f" [{row['state'] if row else 'no job yet'}]"
        provider.faults.clear()
        provider.answer_delay = 0.0
        discord.pauses.clear()
        if row is None:  # killed before the command reached the database: nothing to finish
            return _check(result, None, discord, provider, started)
        async with bot_process(tmp, discord, provider):
            await _until(
                lambda: (
                    (r := _job_state(db_path)) is not None
                    and r["state"] in ("delivered", "failed", "rejected", "undeliverable")
                    and r["outcome_posted"]
                ),
                timeout=30,
                step=0.05,
            )
            await asyncio.sleep(0.4)  # a duplicate upload or message would show up now
        [row] = read_jobs(db_path)
        return _check(result, row, discord, provider, started)
    except TimeoutError:
        row = _job_state(db_path)
        result.problems.append(f"timed out; job row: {row and {k: row[k] for k in _SHOWN}}")
        return _check(result, row, discord, provider, started)
    finally:
        await discord.stop()
        await provider.stop()


_SHOWN = ("state", "credit_state", "error_code", "outcome_posted", "task_id", "attempts")


def _check(
    result: TrialResult,
    row: dict[str, Any] | None,
    discord: DiscordDouble,
    provider: ProviderDouble,
    started: float,
) -> TrialResult:
    """Every job ended exactly once: delivered once or refunded once, one task at most."""
    result.seconds = time.monotonic() - started
    result.creates = len(provider.tasks)
    result.uploads = len(_video_posts(discord))
    problems = result.problems
    if result.creates > 1:
        problems.append(f"{result.creates} provider tasks")
    if row is None:
        if result.creates or result.uploads:
            problems.append("no job row, yet the provider or Discord saw it")
        result.state = "none"
        return result
    result.state, result.credit_state = row["state"], row["credit_state"]
    result.error_code = row["error_code"]
    result.outcome_posts = len(_outcome_posts(discord, int(row["id"])))
    if result.outcome_posts != 1:
        problems.append(f"{result.outcome_posts} outcome posts")
    if row["state"] == "delivered":
        if row["credit_state"] != "settled":
            problems.append(f"delivered but credits {row['credit_state']}")
        if result.uploads != 1:
            problems.append(f"delivered with {result.uploads} uploads")
        elif _video_posts(discord)[0].attachments[0].data != provider.video_bytes:
            problems.append("the uploaded video differs from the provider's")
        if result.creates != 1:
            problems.append(f"delivered with {result.creates} provider tasks")
        if result.fails:
            problems.append("a failing prompt was delivered")
    elif row["state"] in ("failed", "rejected"):
        if row["credit_state"] != "refunded":
            problems.append(f"{row['state']} but credits {row['credit_state']}")
        if result.uploads:
            problems.append(f"{row['state']} with {result.uploads} uploads")
        if (
            row["state"] == "failed"
            and not result.fails
            and row["error_code"]
            not in (
                "submit_interrupted",
                "submit_uncertain",
            )
        ):
            problems.append(f"a healthy job failed with {row['error_code']}")
    else:
        problems.append(f"ended in state {row['state']}")
    if row["state"] == "delivered" and result.phase in ("submit_before", "submit_after"):
        problems.append("a job interrupted while submitting was delivered")
    return result


async def run_trials(
    count: int, root: Path, *, seed: int = 0, parallel: int = 3
) -> list[TrialResult]:
    """``count`` trials (phases in turn, seeds from ``seed``), ``parallel`` at a time."""
    limit = asyncio.Semaphore(parallel)

    async def one(i: int) -> TrialResult:
        async with limit:
            return await run_trial(i, PHASES[i % len(PHASES)], root, seed * 100_003 + i)

    return list(await asyncio.gather(*(one(i) for i in range(count))))
