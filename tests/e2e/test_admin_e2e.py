"""End to end: /sora-admin through the Discord double, and its effect on /video."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.doubles import (
    MANAGE_GUILD,
    DiscordDouble,
    ProviderDouble,
    User,
    admin,
    finished,
    running_bot,
    set_manage_guild,
    wait_job,
    wait_reply,
)


async def video(discord: DiscordDouble, prompt: str, user: User | None = None, **opts: object):
    handle = await discord.invoke("video", {"prompt": prompt, **opts}, user=user)
    return handle, await wait_reply(handle)


@pytest.fixture
def provider_timing() -> dict[str, float]:
    return {"task_seconds": 0.3, "estimated_time": 1}


def subcommands(discord: DiscordDouble) -> list[str]:
    [group] = [c for c in discord.commands[None] if c["name"] == "sora-admin"]
    return [o["name"] for o in group["options"]]


async def test_admin_commands_need_manage_server_at_run_time(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        [group] = [c for c in discord.commands[None] if c["name"] == "sora-admin"]
        assert int(group["default_member_permissions"]) == MANAGE_GUILD
        assert group.get("contexts") == [0] or group.get("dm_permission") is False
        names = subcommands(discord)
        assert {"usage", "pause", "resume", "audit", "settings"} <= set(names)
        assert len(names) <= 25
        # Admins widened the default (the double delivers the command to anyone): refused.
        for name in names:
            handle = await discord.invoke(f"sora-admin {name}", {}, user=discord.member_user)
            refusal = await wait_reply(handle)
            assert handle.ephemeral and "Manage Server" in refusal.content, name
        assert not (await bot.core.policy.overview(str(discord.guild.id))).paused
        rows = await bot.core.db.fetchall("SELECT * FROM admin_actions")
        assert rows == []
        done = await admin(discord, "pause")
        assert "Paused" in done.content
        assert (await bot.core.policy.overview(str(discord.guild.id))).paused


async def test_pause_refuses_video_for_free_and_resume_restores(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await admin(discord, "pause")
        handle, refusal = await video(discord, "a lighthouse in a storm")
        assert handle.ephemeral and "paused" in refusal.content
        assert provider.requests == []
        assert await bot.core.db.fetchall("SELECT id FROM jobs") == []
        settings = await admin(discord, "settings")
        assert "Paused" in settings.embeds[0]["description"]

        await admin(discord, "resume")
        await video(discord, "a lighthouse in a storm")
        job = await wait_job(bot.core, finished)
    assert job.state.value == "delivered"
    assert len(provider.creates()) == 1


async def test_blocked_term_refused_naming_only_that_rule(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await admin(discord, "terms-add", term="Dragon Fire")
        await admin(discord, "terms-add", term="hidden rule")
        handle, refusal = await video(discord, "a DRAGON   fíre over the castle")
        listing = await admin(discord, "terms-list")
        assert await bot.core.db.fetchall("SELECT id FROM jobs") == []
    assert handle.ephemeral
    assert "Dragon Fire" in refusal.content and "hidden rule" not in refusal.content
    assert provider.requests == []
    assert "hidden rule" in listing.embeds[0]["description"]


async def test_generous_role_lets_a_member_spend_more(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    patron = discord.add_role(discord.guild, "patron")  # before the bot caches the guild
    discord.guild.members[discord.member_user.id].roles.append(patron.id)
    async with running_bot(tmp_path, discord, provider, SORA_DAILY_CREDITS="10") as bot:
        done = await admin(discord, "allowance-role", role=str(patron.id), credits=40)
        assert f"<@&{patron.id}>" in done.content
        # 15 s without watermark costs 15 + 5: over the default 10, within the role's 40.
        _, refusal = await video(discord, "a comet", user=discord.owner, duration=15)
        assert "credits" in refusal.content and "<t:" in refusal.content
        await video(discord, "a comet", user=discord.member_user, duration=15)
        job = await wait_job(bot.core, finished)
    assert job.user_id == str(discord.member_user.id) and job.cost == 20
    assert job.state.value == "delivered"
    assert len(provider.creates()) == 1


async def test_blocked_member_and_channel_allow_list(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    studio = discord.add_channel(discord.guild, "studio")
    async with running_bot(tmp_path, discord, provider):
        await admin(discord, "block", member=discord.member_user, reason="spam")
        _, blocked = await video(discord, "a kite", user=discord.member_user)
        assert "blocked you" in blocked.content
        await admin(discord, "unblock", member=discord.member_user)

        set_manage_guild(discord, True)
        handle = await discord.invoke("sora-admin channels-allow", {}, channel=studio)
        await wait_reply(handle)
        set_manage_guild(discord, False)
        _, elsewhere = await video(discord, "a kite", user=discord.member_user)
        assert f"<#{studio.id}>" in elsewhere.content
        assert provider.requests == []


async def test_guild_defaults_apply_when_options_are_left_out(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await admin(discord, "defaults", aspect_ratio="9:16", keep_watermark=True)
        await video(discord, "a tall waterfall")
        job = await wait_job(bot.core, finished)
    create = provider.creates()[0].json
    assert create["aspect_ratio"] == "9:16"
    assert job.remove_watermark is False and job.cost == 10  # no surcharge: watermark kept


async def test_audit_csv_and_usage_chart_are_attached(
    tmp_path: Path, discord: DiscordDouble, provider: ProviderDouble
) -> None:
    async with running_bot(tmp_path, discord, provider) as bot:
        await video(discord, "=a paper crane, folding itself")
        job = await wait_job(bot.core, finished)
        await admin(discord, "grant", member=discord.member_user, credits=7, reason="winner")
        audit = await admin(discord, "audit", csv=True)
        usage = await admin(discord, "usage")
        member = await admin(discord, "usage", member=discord.owner)
    [attachment] = audit.attachments
    assert attachment.filename.endswith(".csv")
    rows = list(csv.DictReader(io.StringIO(attachment.data.decode("utf-8-sig"))))
    [job_row] = [r for r in rows if r["kind"] == "job"]
    assert job_row["text"] == "'=a paper crane, folding itself"
    assert job_row["user_id"] == str(discord.owner.id) and job_row["job_id"] == str(job.id)
    assert job_row["action"] == "delivered" and job_row["credits"] == str(job.cost)
    [grant] = [r for r in rows if r["kind"] == "admin"]
    assert grant["action"] == "grant" and grant["user_id"] == str(discord.owner.id)
    assert '"credits": 7' in grant["text"]
    assert "grant" in audit.embeds[0]["description"]

    [chart] = usage.attachments
    assert chart.filename == "usage.png" and chart.data.startswith(b"\x89PNG")
    assert usage.embeds[0]["image"]["url"].endswith("usage.png")
    spent = usage.embeds[0]["fields"][0]["value"]
    assert f"**{job.cost}**" in spent
    assert f"#{job.id}" in member.embeds[0]["fields"][-1]["value"]
