"""``python bot.py`` at LOG_LEVEL=DEBUG: what users typed never reaches the log file.

Prompts pass through discord.py (the interaction, the status embed), aiosqlite (the job's
INSERT) and the provider client; only ``SORA_LOG_PROMPTS=1`` lets the bot log them, on the
line that records the submission.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.doubles import DiscordDouble, ProviderDouble, bot_process, video_posts

PROMPT = "a periwinkle walrus juggling teacups"


@pytest.fixture
def provider_timing() -> dict[str, float]:
    return {"task_seconds": 0.5, "estimated_time": 1}


@pytest.mark.parametrize("allowed", [False, True])
async def test_prompt_in_debug_logs_only_when_allowed(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble, allowed: bool
) -> None:
    env = {"LOG_LEVEL": "DEBUG", "SORA_LOG_PROMPTS": "1" if allowed else "0"}
    async with bot_process(tmp_path, discord, provider, **env) as bot:
        await discord.gateway.wait_for_sessions(1)
        await discord.wait_for(lambda: discord.commands.get(None), timeout=20)
        await discord.invoke("video", {"prompt": PROMPT})
        await discord.wait_for(lambda: video_posts(discord), timeout=30)
        bot.terminate()
        await asyncio.wait_for(bot.wait(), timeout=15)
    lines = (tmp_path / "bot.log").read_text().splitlines()
    assert any("level=debug" in line for line in lines)  # DEBUG was on
    leaks = [line for line in lines if PROMPT in line]
    if allowed:
        assert any('msg="job state"' in line and "state=submitted" in line for line in leaks)
    else:
        assert leaks == []
