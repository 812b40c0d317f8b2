"""Result buttons end to end: Re-roll, Remix, Delete, Try again, Edit prompt, across a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cogs.buttons.remake import join_prompt, split_prompt
from sora_bot.core import Core
from sora_bot.models import MAX_PROMPT_CHARS, Job, JobState
from tests.doubles import (
    DiscordDouble,
    FileSpec,
    Message,
    Permission,
    ProviderDouble,
    answer_text,
    finished,
    png_bytes,
    running_bot,
    wait_answer,
    wait_job,
)

FAIL = " [fail:content_policy_violation]"


@pytest.fixture
def provider_timing() -> dict[str, float]:
    return {"task_seconds": 0.3, "estimated_time": 1}


def outcome_post(discord: DiscordDouble, job: Job) -> Message:
    """The bot's post with the job's outcome (video or failure), found by its marker."""
    [post] = [
        m
        for m in discord.messages.values()
        if m.author.id == discord.bot_user.id and m.content.endswith(f" · job #{job.id}")
    ]
    return post


def custom_ids(message: Message) -> list[str]:
    return [c["custom_id"] for row in message.components for c in row.get("components", [])]


def text_inputs(modal: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The modal's text inputs by custom id, whether in action rows or labels."""
    found: dict[str, dict[str, Any]] = {}

    def walk(component: dict[str, Any]) -> None:
        if component.get("type") == 4:
            found[component["custom_id"]] = component
        for child in component.get("components", []):
            walk(child)
        if "component" in component:
            walk(component["component"])

    for top in modal.get("components", []):
        walk(top)
    return found


async def newer_job(core: Core, than: Job, predicate: Any = finished) -> Job:
    return await wait_job(core, lambda j: j.id > than.id and predicate(j))


async def job_count(core: Core) -> int:
    row = await core.db.fetchone("SELECT COUNT(*) FROM jobs")
    assert row is not None
    return int(row[0])


async def test_reroll_starts_a_second_charged_job(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a paper boat"})
        first = await wait_job(bot.core, finished)
        post = outcome_post(discord, first)
        assert custom_ids(post) == [f"sora:{a}:{first.id}" for a in ("reroll", "remix", "delete")]
        press = await discord.click(post, f"sora:reroll:{first.id}")
        second = await newer_job(bot.core, first)
        quota = await bot.core.jobs.quota(first.requester)
        assert "queued" in await wait_answer(press)
    assert press.deferred and press.ephemeral
    assert second.state is JobState.DELIVERED and second.credit_state == "settled"
    assert second.user_id == first.user_id and second.prompt == first.prompt
    assert quota.used == first.cost + second.cost == 2 * 15
    bodies = [r.json for r in provider.creates()]
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    assert len({t.id for t in provider.tasks.values()}) == 2


async def test_remix_prefills_the_prompt_and_sends_the_edit(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a red kite", "aspect_ratio": "9:16"})
        first = await wait_job(bot.core, finished)
        press = await discord.click(outcome_post(discord, first), f"sora:remix:{first.id}")
        await press.wait_for_callback()
        assert press.modal is not None
        inputs = text_inputs(press.modal)
        assert list(inputs) == ["prompt"] and inputs["prompt"]["value"] == "a red kite"
        submit = await discord.submit_modal(press, {"prompt": "a blue kite at dusk"})
        second = await newer_job(bot.core, first)
    assert submit.ephemeral and "queued" in answer_text(submit)
    assert second.prompt == "a blue kite at dusk" and second.state is JobState.DELIVERED
    assert provider.creates()[1].json["prompt"] == "a blue kite at dusk"
    assert provider.creates()[1].json["aspect_ratio"] == "9:16"


async def test_delete_by_requester_and_refused_for_others(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "an owl"})
        job = await wait_job(bot.core, finished)
        post = outcome_post(discord, job)
        refused = await discord.click(post, f"sora:delete:{job.id}", user=discord.member_user)
        assert "moderator" in await wait_answer(refused)
        assert refused.ephemeral and not post.deleted
        press = await discord.click(post, f"sora:delete:{job.id}")
        assert await wait_answer(press) == "The video was deleted."
    assert post.deleted and press.ephemeral


async def test_moderator_may_delete(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    discord.guild.roles[discord.guild.id].permissions |= Permission.MANAGE_MESSAGES
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "an owl"})
        job = await wait_job(bot.core, finished)
        post = outcome_post(discord, job)
        press = await discord.click(post, f"sora:delete:{job.id}", user=discord.member_user)
        await wait_answer(press)
    assert post.deleted


async def test_try_again_after_moderation_failure(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a famous actor" + FAIL})
        failed = await wait_job(bot.core, finished)
        notice = outcome_post(discord, failed)
        assert custom_ids(notice) == [f"sora:retry:{failed.id}", f"sora:edit:{failed.id}"]
        other = await discord.click(notice, f"sora:retry:{failed.id}", user=discord.member_user)
        assert "Only the person who asked" in await wait_answer(other)
        assert await job_count(bot.core) == 1
        press = await discord.click(notice, f"sora:retry:{failed.id}")
        again = await newer_job(bot.core, failed)
    assert failed.state is JobState.FAILED and again.state is JobState.FAILED
    assert again.prompt == failed.prompt and again.credit_state == "refunded"
    assert press.ephemeral and len(provider.creates()) == 2


async def test_edit_prompt_of_a_long_prompt_keeps_all_of_it(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    words = "a slow pan over a misty valley with " * 200
    prompt = (words[: MAX_PROMPT_CHARS - len(FAIL)].rstrip() + FAIL).strip()
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": prompt, "keep_watermark": True})
        failed = await wait_job(bot.core, finished)
        notice = outcome_post(discord, failed)
        press = await discord.click(notice, f"sora:edit:{failed.id}")
        await press.wait_for_callback()
        assert press.modal is not None
        inputs = text_inputs(press.modal)
        first, rest = inputs["prompt"]["value"], inputs["prompt_more"]["value"]
        assert len(first) <= 4000 and join_prompt(first, rest) == prompt
        await discord.submit_modal(press, {"prompt": first, "prompt_more": rest.replace(FAIL, "")})
        edited = await newer_job(bot.core, failed)
    assert edited.state is JobState.DELIVERED
    assert provider.creates()[1].json["prompt"] == prompt.replace(FAIL, "")


async def test_buttons_work_after_a_restart(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "a lighthouse"})
        first = await wait_job(bot.core, finished)
    post = outcome_post(discord, first)
    async with running_bot(tmp_path, discord, provider) as bot:
        # Anyone may re-roll someone's video, on their own credits.
        press = await discord.click(post, f"sora:reroll:{first.id}", user=discord.member_user)
        second = await newer_job(bot.core, first)
        mine = await bot.core.jobs.quota(first.requester)
    assert press.ephemeral and second.state is JobState.DELIVERED
    assert second.user_id == str(discord.member_user.id) and second.prompt == first.prompt
    assert mine.used == first.cost  # the requester was not charged for the re-roll


async def test_reroll_without_credits_is_refused_and_free(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider, SORA_DAILY_CREDITS="15") as bot:
        await discord.invoke("video", {"prompt": "a lantern"})
        first = await wait_job(bot.core, finished)
        press = await discord.click(outcome_post(discord, first), f"sora:reroll:{first.id}")
        text = await wait_answer(press)
        assert await job_count(bot.core) == 1
    assert "credits" in text and press.ephemeral
    assert len(provider.creates()) == 1


async def test_image_reroll_reposts_the_image(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    image = FileSpec("boat.png", png_bytes((200, 120, 30)), "image/png")
    async with running_bot(tmp_path, discord, provider) as bot:
        await discord.invoke("video", {"prompt": "the boat sails"}, attachments={"image": image})
        first = await wait_job(bot.core, finished)
        await discord.click(outcome_post(discord, first), f"sora:reroll:{first.id}")
        second = await newer_job(bot.core, first)
    status = discord.messages[int(second.front_ref["message_id"])]
    old, new = (t.image_urls for t in provider.tasks.values())
    assert new == [status.attachments[0].url] != old  # its own fresh copy
    assert (
        status.attachments[0].data
        == discord.messages[int(first.front_ref["message_id"])].attachments[0].data
    )


def test_split_prompt_fits_text_inputs_and_joins_back() -> None:
    prompt = ("word " * 1000).strip()
    first, rest = split_prompt(prompt)
    assert len(first) <= 4000 and len(rest) <= 4000 and join_prompt(first, rest) == prompt
    # Discord may trim the boxes: the words must still not run together.
    assert join_prompt(first.rstrip(), rest.lstrip()) == prompt
    assert split_prompt("short") == ("short", "")
    solid = "x" * 4500
    assert split_prompt(solid) == ("x" * 4000, "x" * 500)


async def test_reroll_in_the_thread_of_an_allowed_channel(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        guild, channel = str(discord.guild.id), str(discord.channel.id)
        await bot.core.admin.allow_channel(guild, str(discord.owner.id), channel)
        await discord.invoke("video", {"prompt": "a tram at night"})
        first = await wait_job(bot.core, finished)
        post = outcome_post(discord, first)
        assert post.channel_id == int(first.front_ref["thread_id"])  # pressed in the thread
        await discord.click(post, f"sora:reroll:{first.id}", user=discord.member_user)
        second = await newer_job(bot.core, first)
    assert second.state is JobState.DELIVERED and second.channel_id == channel
