"""End to end: the real discord.py bot against the Discord double and the provider double."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sora_bot.models import JobState
from tests.doubles import (
    DiscordDouble,
    FileSpec,
    Permission,
    ProviderDouble,
    answer_text,
    answered,
    bot_messages,
    finished,
    png_bytes,
    running_bot,
    running_provider,
    video_posts,
    wait_job,
)


@pytest.fixture
def provider_timing() -> dict[str, float]:
    return {"task_seconds": 0.6, "estimated_time": 2}


async def test_text_to_video_lands_in_a_thread(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        handle = await discord.invoke(
            "video",
            {"prompt": "a paper boat on a rainy street", "duration": 15, "aspect_ratio": "9:16"},
        )
        job = await wait_job(bot.core, finished)
    assert handle.deferred and handle.ephemeral
    assert job.state is JobState.DELIVERED and job.credit_state == "settled"
    [post] = video_posts(discord)
    assert post.attachments[0].data == provider.video_bytes  # byte-identical
    assert post.channel_id == int(job.front_ref["thread_id"])  # in the thread
    thread = discord.channels[post.channel_id]
    assert thread.parent_id == discord.channel.id
    assert post.pinged_user_ids == {discord.owner.id} and not post.pinged_everyone
    status = discord.messages[int(job.front_ref["message_id"])]
    assert status.edits, "the status message is kept current"
    assert "Done" in status.embeds[0]["title"]
    assert provider.creates()[0].json["duration"] == 15
    assert provider.creates()[0].json["aspect_ratio"] == "9:16"


async def test_image_to_video_uses_the_bots_own_copy(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke(
            "video",
            {"prompt": "the boat sails away"},
            attachments={"image": FileSpec("boat.png", png_bytes(), "image/png")},
        )
        job = await wait_job(bot.core, finished)
    assert job.state is JobState.DELIVERED
    [task] = provider.tasks.values()
    status = discord.messages[int(job.front_ref["message_id"])]
    assert task.image_urls == [status.attachments[0].url]  # posted by the bot, not the option
    user_uploads = [a for a in discord.attachments.values() if a.filename == "boat.png"]
    assert user_uploads and all(a.url != task.image_urls[0] for a in user_uploads)


async def test_bad_image_is_refused_before_spending(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider):
        handle = await discord.invoke(
            "video",
            {"prompt": "x"},
            attachments={"image": FileSpec("evil.png", b"not an image at all", "image/png")},
        )
        await handle.wait(answered)
    assert "JPEG, PNG or WEBP" in answer_text(handle) or "image" in answer_text(handle).lower()
    assert provider.requests == []
    assert [m for m in bot_messages(discord) if not m.ephemeral] == []


async def test_quota_refusal_is_ephemeral_and_free(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider, SORA_DAILY_CREDITS="5"):
        handle = await discord.invoke("video", {"prompt": "a lighthouse at night"})
        await handle.wait(answered)
    text = answer_text(handle)
    assert "credits" in text and "<t:" in text  # why, and when it resets
    assert handle.ephemeral
    assert provider.requests == []
    assert [m for m in bot_messages(discord) if not m.ephemeral] == []


async def test_moderation_failure_explained_and_refunded(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a famous actor [fail:content_policy_violation]"})
        job = await wait_job(bot.core, finished)
        quota = await bot.core.jobs.quota(job.requester)
    assert job.state is JobState.FAILED and job.credit_state == "refunded" and quota.used == 0
    [notice] = [m for m in bot_messages(discord) if "content filter" in m.content]
    assert notice.channel_id == int(job.front_ref["thread_id"])
    assert "refunded" in notice.content
    assert notice.pinged_user_ids == {discord.owner.id}


async def test_expired_interaction_token_does_not_lose_the_job(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        handle = await discord.invoke("video", {"prompt": "a slow sunrise"})
        await handle.wait_for_callback()
        discord.expire_interaction_tokens()
        job = await wait_job(bot.core, finished)
    assert job.state is JobState.DELIVERED
    assert len(video_posts(discord)) == 1
    token_routes = discord.find_requests(path_regex=rf"/webhooks/\d+/{handle.token}")
    late = [r for r in token_routes if r.time > handle.created_at + 60]
    assert late == []


async def test_no_thread_permission_replies_in_channel(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    await discord.deny(discord.channel, Permission.CREATE_PUBLIC_THREADS)
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a red kite"})
        job = await wait_job(bot.core, finished)
    assert job.state is JobState.DELIVERED and "thread_id" not in job.front_ref
    [post] = video_posts(discord)
    assert post.channel_id == discord.channel.id
    assert post.message_reference and int(post.message_reference["message_id"]) == int(
        job.front_ref["message_id"]
    )


async def test_nothing_postable_refuses_before_spending(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    await discord.deny(discord.channel, Permission.ATTACH_FILES)
    async with running_bot(tmp_path, discord, provider) as bot:
        handle = await discord.invoke("video", {"prompt": "a red kite"})
        await handle.wait(answered)
        assert (
            await bot.core.store.recent_for_user(str(discord.guild.id), str(discord.owner.id)) == []
        )
    assert provider.requests == []


async def test_everyone_in_prompt_pings_nobody(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    role = discord.add_role(discord.guild, "fans", mentionable=True)
    prompt = f"@everyone @here <@&{role.id}> <@{discord.member_user.id}> dance party"
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": prompt})
        await wait_job(bot.core, finished)
        await discord.invoke("video", {"prompt": prompt + " [fail:content_policy_violation]"})
        await wait_job(bot.core, lambda j: finished(j) and j.state is JobState.FAILED)
    for message in bot_messages(discord):
        assert not message.pinged_everyone and not message.pinged_role_ids
        assert message.pinged_user_ids <= {discord.owner.id}


async def test_secrets_never_reach_discord_or_logs(
    tmp_path: Path,
    discord: DiscordDouble,
    provider: ProviderDouble,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a key made of light"})
        await wait_job(bot.core, finished)
        await discord.invoke("video", {"prompt": "nope [fail:content_policy_violation]"})
        await wait_job(bot.core, lambda j: finished(j) and j.state is JobState.FAILED)
    secrets = [provider.api_key, discord.token]
    for request in discord.requests:
        blob = f"{request.query} {request.json} {request.raw_text}"
        assert all(s not in blob for s in secrets), request.path
    assert all(s not in caplog.text for s in secrets)


async def test_commands_synced_only_when_changed(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider):
        pass
    async with running_bot(tmp_path, discord, provider):
        pass
    assert len(discord.command_syncs) == 1
    names = {c["name"] for c in discord.commands[None]}
    assert {"video", "quota", "jobs"} <= names


async def padded_mp4(tmp_path: Path, total: int) -> bytes:
    """A real (tiny) mp4 padded with an mp4 ``free`` box to ``total`` bytes: valid, and big."""
    from sora_bot.media import make_test_video

    clip = (await make_test_video(tmp_path / "clip.mp4", seconds=1.0)).read_bytes()
    pad = total - len(clip)
    return clip + pad.to_bytes(4, "big") + b"free" + bytes(pad - 8)


async def test_video_over_the_guild_limit_is_reencoded(
    tmp_path: Path, discord: DiscordDouble
) -> None:
    big = await padded_mp4(tmp_path, 11 * 1024 * 1024)  # tier 0 guilds accept 10 MiB
    async with (
        running_provider(task_seconds=0.3, estimated_time=1, video_bytes=big) as provider,
        running_bot(tmp_path, discord, provider) as bot,
    ):
        await discord.invoke("video", {"prompt": "a big wave"})
        job = await wait_job(bot.core, finished, timeout=60)
    assert job.state is JobState.DELIVERED
    [post] = video_posts(discord)
    assert 0 < post.attachments[0].size < 10 * 1024 * 1024
    assert post.attachments[0].data[4:8] == b"ftyp"
    assert job.file_path and Path(job.file_path).stat().st_size == len(big)  # original kept


async def test_413_from_discord_shrinks_then_falls_back_to_a_link(
    tmp_path: Path, discord: DiscordDouble
) -> None:
    clip = await padded_mp4(tmp_path, 400_000)
    async with (
        running_provider(task_seconds=0.3, estimated_time=1, video_bytes=clip) as provider,
        running_bot(tmp_path, discord, provider) as bot,
    ):
        discord.faults.reject_uploads_over(300_000)  # lower than the guild's advertised limit
        await discord.invoke("video", {"prompt": "shrinks to fit"})
        shrunk = await wait_job(bot.core, finished, timeout=60)
        discord.faults.reject_uploads_over(1_000)  # nothing fits: a link with its expiry
        await discord.invoke("video", {"prompt": "too big for anything"})
        linked = await wait_job(bot.core, lambda j: finished(j) and j.id != shrunk.id, timeout=60)
    assert shrunk.state is JobState.DELIVERED
    assert [len(p.attachments[0].data) < 300_000 for p in video_posts(discord)] == [True]
    assert linked.state is JobState.DELIVERED
    [link_post] = [m for m in bot_messages(discord) if "Download it until" in m.content]
    assert linked.video_url and linked.video_url in link_post.content and "<t:" in link_post.content
    assert linked.file_path and Path(linked.file_path).exists()


async def test_rate_limited_upload_is_retried(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    discord.faults.rate_limit("POST", r"/channels/\d+/messages$", times=2, retry_after=0.1)
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "patience"})
        job = await wait_job(bot.core, finished)
    assert job.state is JobState.DELIVERED
    assert len(video_posts(discord)) == 1
