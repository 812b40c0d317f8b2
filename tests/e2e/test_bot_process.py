"""``python bot.py`` as a real process: start-up errors, clean stop, and restart mid-job."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

from tests.doubles import ROOT, DiscordDouble, ProviderDouble, bot_process, video_posts


@pytest.fixture
def provider_timing() -> dict[str, float]:
    return {"task_seconds": 2.5, "estimated_time": 3}


def job_row(tmp_path: Path) -> sqlite3.Row:
    with sqlite3.connect(tmp_path / "bot.db") as conn:
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM jobs").fetchone()
    assert row is not None
    return row


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
async def test_restart_mid_job_delivers_once(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble, stop: signal.Signals
) -> None:
    async with bot_process(tmp_path, discord, provider) as first:
        await discord.gateway.wait_for_sessions(1)
        await discord.wait_for(lambda: discord.commands.get(None), timeout=20)
        await discord.invoke("video", {"prompt": "a lantern drifting on a lake"})
        await discord.wait_for(lambda: provider.polls(), timeout=20)  # submitted and polling
        first.send_signal(stop)
        code = await asyncio.wait_for(first.wait(), timeout=15)
    assert code == (0 if stop is signal.SIGTERM else -signal.SIGKILL)
    assert video_posts(discord) == []
    async with bot_process(tmp_path, discord, provider):
        await discord.wait_for(lambda: video_posts(discord), timeout=30)
        await asyncio.sleep(0.5)  # a second upload would show up now
    [post] = video_posts(discord)
    assert post.attachments[0].data == provider.video_bytes
    assert len(provider.creates()) == 1
    row = job_row(tmp_path)
    assert row["state"] == "delivered" and row["credit_state"] == "settled"
    assert len(discord.command_syncs) == 1  # the second start found the commands unchanged


async def test_missing_token_fails_with_one_clear_line(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "SORA_API_KEY": "k"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(ROOT / "bot.py"),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(proc.communicate(), timeout=30)
    assert proc.returncode == 3
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and "DISCORD_TOKEN" in lines[0]
