"""End to end, member input: cheap refusals before any image is read, read deadlines, refused
attempts slowed down, hostile images, through the real bot and both doubles.

Dodged blocked terms are in ``test_terms_e2e.py``."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from PIL import Image

from bot import SoraBot
from cogs import intake
from sora_bot.models import Requester, VideoOptions
from tests.doubles import (
    DiscordDouble,
    FileSpec,
    ProviderDouble,
    bot_messages,
    finished,
    png_bytes,
    running_bot,
    wait_answer,
    wait_job,
)

Setup = Callable[[SoraBot, DiscordDouble], Awaitable[None]]


def image() -> FileSpec:
    return FileSpec("boat.png", png_bytes(), "image/png")


async def blocked(bot: SoraBot, discord: DiscordDouble) -> None:
    await bot.core.admin.block(str(discord.guild.id), "admin", str(discord.owner.id))


async def paused(bot: SoraBot, discord: DiscordDouble) -> None:
    await bot.core.admin.set_paused(str(discord.guild.id), "admin", True)


async def other_channel_only(bot: SoraBot, discord: DiscordDouble) -> None:
    elsewhere = discord.add_channel(discord.guild, "videos")
    await bot.core.admin.allow_channel(str(discord.guild.id), "admin", str(elsewhere.id))


async def no_credits(bot: SoraBot, discord: DiscordDouble) -> None:
    await bot.core.admin.set_daily_credits(str(discord.guild.id), "admin", 5)


async def busy(bot: SoraBot, discord: DiscordDouble) -> None:
    who = Requester(str(discord.guild.id), str(discord.channel.id), str(discord.owner.id))
    for _ in range(bot.core.settings.max_active_per_user):
        await bot.core.jobs.submit(who, VideoOptions("held"), hold=True)


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        pytest.param(blocked, "blocked you", id="blocked-member"),
        pytest.param(paused, "paused", id="paused-server"),
        pytest.param(other_channel_only, "this channel", id="channel-not-allowed"),
        pytest.param(no_credits, "credits", id="no-credits"),
        pytest.param(busy, "in progress", id="too-many-active-jobs"),
    ],
)
async def test_refused_before_the_attachment_is_downloaded(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble, setup: Setup, says: str
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await setup(bot, discord)
        handle = await discord.invoke("video", {"prompt": "a boat"}, attachments={"image": image()})
        text = await wait_answer(handle)
    assert says in text
    assert discord.attachment_fetches == []  # the user's image was never downloaded
    assert provider.requests == []


async def test_a_refused_reroll_does_not_fetch_the_image_again(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "the boat"}, attachments={"image": image()})
        first = await wait_job(bot.core, finished)
        [post] = [m for m in bot_messages(discord, public=True) if m.components]
        await blocked(bot, discord)
        fetched = len(discord.attachment_fetches)
        press = await discord.click(post, f"sora:reroll:{first.id}")
        text = await wait_answer(press)
    assert "blocked you" in text
    assert len(discord.attachment_fetches) == fetched


async def test_an_image_that_never_arrives_is_cut_at_the_deadline(
    tmp_path: Path,
    discord: DiscordDouble,
    provider: ProviderDouble,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(intake, "READ_SECONDS", 0.2)
    discord.attachment_delay = 1.0
    async with running_bot(tmp_path, discord, provider) as bot:
        handle = await discord.invoke("video", {"prompt": "a boat"}, attachments={"image": image()})
        text = await wait_answer(handle)
        jobs = await bot.core.jobs.recent(
            Requester(str(discord.guild.id), "", str(discord.owner.id))
        )
    assert "in time" in text and "nothing was charged" in text
    assert jobs == [] and provider.requests == []


async def test_repeated_refusals_are_slowed_down_without_database_work(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider, SORA_DAILY_CREDITS="5") as bot:
        for _ in range(5):
            handle = await discord.invoke("video", {"prompt": "a lighthouse"})
            assert "credits" in await wait_answer(handle)
        statements: list[str] = []
        await bot.core.db._conn.set_trace_callback(statements.append)
        handle = await discord.invoke(
            "video", {"prompt": "a lighthouse"}, attachments={"image": image()}
        )
        text = await wait_answer(handle)
        await bot.core.db._conn.set_trace_callback(lambda _sql: None)
        other = await discord.invoke("video", {"prompt": "a lighthouse"}, user=discord.member_user)
        other_text = await wait_answer(other)
    assert "wait" in text and " s" in text
    assert not handle.deferred  # answered at once
    assert statements == [] and discord.attachment_fetches == []
    assert "credits" in other_text  # another member is not slowed down


async def test_the_bots_own_failures_do_not_count(
    tmp_path: Path,
    discord: DiscordDouble,
    provider: ProviderDouble,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(intake, "READ_SECONDS", 0.05)
    discord.attachment_delay = 0.3  # every read times out: not the user's doing
    async with running_bot(tmp_path, discord, provider):
        for _ in range(7):
            handle = await discord.invoke(
                "video", {"prompt": "a boat"}, attachments={"image": image()}
            )
            assert "in time" in await wait_answer(handle)


def polyglot() -> bytes:
    """A real PNG with a zip archive glued after its end."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("payload.html", "<script>alert(1)</script>")
    return png_bytes() + archive.getvalue()


async def test_a_polyglot_is_reposted_without_its_other_half(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke(
            "video",
            {"prompt": "the boat"},
            attachments={"image": FileSpec("boat.png", polyglot(), "image/png")},
        )
        job = await wait_job(bot.core, finished)
    reposted = discord.messages[int(job.front_ref["message_id"])].attachments[0].data
    assert reposted == png_bytes()
    assert b"PK" not in reposted


def animated_webp() -> bytes:
    frames = [Image.new("RGB", (64, 64), (i * 20, 0, 0)) for i in range(10)]
    out = io.BytesIO()
    frames[0].save(out, "WEBP", save_all=True, append_images=frames[1:], duration=50)
    return out.getvalue()


async def test_an_animated_image_is_refused_before_spending(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider):
        handle = await discord.invoke(
            "video",
            {"prompt": "a boat"},
            attachments={"image": FileSpec("a.webp", animated_webp(), "image/webp")},
        )
        text = await wait_answer(handle)
    assert "Animated" in text and provider.requests == []
