"""End to end: blocked terms can't be dodged with look-alike or invisible characters."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.doubles import (
    DiscordDouble,
    ProviderDouble,
    admin,
    finished,
    running_bot,
    wait_job,
    wait_reply,
)

DODGES = [
    "a black \u0441\u0430t at night",  # Cyrillic с and а
    "a black c\u200ba\ufe0ft at night",  # zero-width space and a variation selector
    "a black 𝐂\u0391\u0422 at night",  # math bold C, Greek capital alpha, Cyrillic capital Т
]


@pytest.fixture
def provider_timing() -> dict[str, float]:
    return {"task_seconds": 0.3, "estimated_time": 1}


async def test_dodged_terms_are_refused_and_innocent_words_pass(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await admin(discord, "terms-add", term="cat")
        refusals = []
        for prompt in DODGES:
            handle = await discord.invoke("video", {"prompt": prompt})
            refusals.append((handle, await wait_reply(handle)))
        assert await bot.core.db.fetchall("SELECT id FROM jobs") == []
        await discord.invoke("video", {"prompt": "a \u0441\u0430tegory of scattered toys"})
        job = await wait_job(bot.core, finished)
    for handle, refusal in refusals:
        assert handle.ephemeral and "“cat”" in refusal.content
    assert job.prompt == "a \u0441\u0430tegory of scattered toys"  # sent as typed
    assert [r.json["prompt"] for r in provider.creates()] == [job.prompt]


async def test_term_stored_before_skeletons_still_refuses(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    term = "\u0441\u0430t"
    async with running_bot(tmp_path, discord, provider) as bot:
        # As the previous normalize stored it: the Cyrillic letters kept as they were.
        await bot.core.db.execute(
            "INSERT INTO blocked_terms (guild_id, normalized, term, created_by, created_at) "
            "VALUES (?,?,?,?,?)",
            (str(discord.guild.id), term, term, "admin", 0.0),
        )
        handle = await discord.invoke("video", {"prompt": "a plain cat"})
        refusal = await wait_reply(handle)
        assert await bot.core.db.fetchall("SELECT id FROM jobs") == []
    assert term in refusal.content and provider.requests == []


async def test_prompt_of_invisible_characters_is_refused_before_spending(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        handle = await discord.invoke("video", {"prompt": "\u200b\u2060\u00ad\ufe0f"})
        refusal = await wait_reply(handle)
        assert await bot.core.db.fetchall("SELECT id FROM jobs") == []
    assert handle.ephemeral and "invisible" in refusal.content
    assert provider.requests == []
