"""Structured logs: one logfmt line per event, job and requester ids, no prompts, no secrets."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sora_bot.infra.logs import (
    PAYLOAD_LOGGERS,
    LogfmtFormatter,
    RedactingFilter,
    configure_logging,
    event,
)
from sora_bot.models import Requester, VideoOptions
from tests.doubles import RecordingDelivery, running_core, running_provider

SECRET = "sk-live-0123456789abcdef"


@contextmanager
def captured(level: int = logging.INFO, secrets: tuple[str, ...] = ()) -> Iterator[io.StringIO]:
    """Root logs as the bot writes them, into a buffer."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(LogfmtFormatter())
    handler.addFilter(RedactingFilter(secrets))
    handler.setLevel(level)
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(min(old, level) if old else level)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


@contextmanager
def configured(*, log_prompts: bool) -> Iterator[io.StringIO]:
    """The bot's own set-up (``configure_logging``) at DEBUG into a buffer, undone after."""
    out = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in PAYLOAD_LOGGERS}
    configure_logging(logging.DEBUG, log_prompts=log_prompts, stream=out)
    try:
        yield out
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)


async def run_one_job(tmp_path: Path, prompt: str, *, log_prompts: bool = False) -> None:
    delivery = RecordingDelivery()
    allowed = "1" if log_prompts else "0"
    async with (
        running_provider(task_seconds=0.2, estimated_time=1) as double,
        running_core(
            tmp_path, double.base_url, delivery, LOG_LEVEL="DEBUG", SORA_LOG_PROMPTS=allowed
        ) as core,
    ):
        await core.jobs.submit(Requester("g", "c", "u"), VideoOptions(prompt))
        async with asyncio.timeout(10):
            await delivery.finished.wait()


async def test_no_prompt_in_any_log_line_at_debug(tmp_path: Path) -> None:
    prompt = "a periwinkle walrus juggling teacups"
    with configured(log_prompts=False) as out:
        await run_one_job(tmp_path, prompt)
        # A library that lowers its own level again is still held back by the handler.
        logging.getLogger("aiosqlite").setLevel(logging.DEBUG)
        await run_one_job(tmp_path / "again", prompt)
        assert logging.getLogger("sora_bot").isEnabledFor(logging.DEBUG)
    text = out.getvalue()
    assert 'msg="job state"' in text and prompt not in text
    assert "logger=aiosqlite" not in text


async def test_prompts_in_debug_logs_only_when_allowed(tmp_path: Path) -> None:
    prompt = "a periwinkle walrus juggling teacups"
    with configured(log_prompts=True) as out:
        await run_one_job(tmp_path, prompt, log_prompts=True)
    lines = out.getvalue().splitlines()
    assert any('msg="job state"' in line and f'prompt="{prompt}"' in line for line in lines)
    assert any("logger=aiosqlite" in line and prompt in line for line in lines)


def test_one_line_per_event_with_fields_and_escapes() -> None:
    log = logging.getLogger("sora_bot.test")
    with captured() as out:
        event(log, logging.INFO, "job state", job=7, guild="g1", user="u1", note='a "b"\nc')
        try:
            raise RuntimeError("boom\nline two")
        except RuntimeError:
            log.exception("step failed")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert 'level=info logger=sora_bot.test msg="job state" job=7 guild=g1 user=u1' in lines[0]
    assert 'note="a \\"b\\"\\nc"' in lines[0]
    assert lines[1].startswith("ts=") and 'exc="Traceback' in lines[1]


def test_secrets_are_redacted_everywhere() -> None:
    log = logging.getLogger("sora_bot.test")
    with captured(secrets=(SECRET,)) as out:
        log.warning("key %s in args", SECRET)
        event(log, logging.INFO, f"key {SECRET} in message", header=f"Bearer {SECRET}")
        try:
            raise ValueError(f"bad key {SECRET}")
        except ValueError:
            log.exception("failed")
    text = out.getvalue()
    assert SECRET not in text and text.count("[redacted]") == 4


async def test_worker_logs_transitions_without_prompts(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    prompt = "a very private prompt about my cat"
    with captured(secrets=(SECRET,)) as out:
        async with (
            running_provider(api_key=SECRET, task_seconds=0.3, estimated_time=1) as double,
            running_core(tmp_path, double.base_url, delivery, SORA_API_KEY=SECRET) as core,
        ):
            job = await core.jobs.submit(Requester("g9", "c1", "u42"), VideoOptions(prompt))
            async with asyncio.timeout(10):
                await delivery.finished.wait()
            await asyncio.sleep(0.1)
    lines = [line for line in out.getvalue().splitlines() if f"job={job.id}" in line]
    states = [line.split(" state=")[1].split()[0] for line in lines if 'msg="job state"' in line]
    assert states == ["submitting", "submitted", "running", "completed", "delivered"]
    assert all("guild=g9 user=u42" in line for line in lines)
    assert any("provider_status=pending" in line and "task=task-" in line for line in lines)
    assert prompt not in out.getvalue() and SECRET not in out.getvalue()


async def test_prompts_logged_only_when_enabled(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    with captured() as out:
        async with (
            running_provider(task_seconds=0.1, estimated_time=1) as double,
            running_core(tmp_path, double.base_url, delivery, SORA_LOG_PROMPTS="1") as core,
        ):
            await core.jobs.submit(Requester("g", "c", "u"), VideoOptions("an owl at dusk"))
            async with asyncio.timeout(10):
                await delivery.finished.wait()
    assert 'prompt="an owl at dusk"' in out.getvalue()
