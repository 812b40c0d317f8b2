"""/sora-admin: server admins control who may spend what, where, and see what was spent."""

from __future__ import annotations

import asyncio

import discord
from discord import app_commands
from discord.ext import commands

from cogs.commands.video import ASPECT_CHOICES
from cogs.context import core_of
from cogs.outgoing import reply
from cogs.render import admin as render
from cogs.texts import admin_done
from sora_bot.models import Requester
from sora_bot.rules.charts import daily_spend_png

Credits = app_commands.Range[int, 0, 100_000]
GrantAmount = app_commands.Range[int, 1, 100_000]
AUDIT_LINES = 15
CSV_ROWS = 5000
DURATION_CHOICES = [
    app_commands.Choice(name="10 seconds", value=10),
    app_commands.Choice(name="15 seconds", value=15),
]


class AdminCog(commands.Cog):
    """Every /sora-admin subcommand; answers are ephemeral, changes go through GuildAdmin."""

    admin = app_commands.Group(
        name="sora-admin",
        description="Control video generation in this server",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: commands.Bot) -> None:
        core = core_of(bot)
        self.bot = bot
        self.config = core.settings
        self.policy = core.policy
        # Not ``self.admin``: discord.py puts this cog's copy of the group under that name.
        self.guild_admin = core.admin
        self.usage_reports = core.usage
        self.jobs = core.jobs

    def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """Every subcommand: Manage Server, checked now (admins may widen the default)."""
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        if not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        return True

    # -- reports --------------------------------------------------------------------------

    @admin.command(name="usage", description="Credits spent, outcomes and top members")
    @app_commands.describe(member="Show one member's history instead")
    async def usage(
        self, interaction: discord.Interaction, member: discord.Member | None = None
    ) -> None:
        """Guild usage with a chart, or one member's history."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild_id = str(interaction.guild_id)
        if member is not None:
            report = await self.usage_reports.member(guild_id, str(member.id))
            roles = tuple(str(r.id) for r in member.roles if not r.is_default())
            quota = await self.jobs.quota(
                Requester(guild_id, str(interaction.channel_id), str(member.id), roles)
            )
            await reply(interaction, embed=render.member_embed(report, quota))
            return
        usage = await self.usage_reports.guild(guild_id)
        overview = await self.policy.overview(guild_id)
        png = await asyncio.to_thread(daily_spend_png, usage.daily)
        await reply(
            interaction,
            embed=render.usage_embed(usage, overview.daily_budget, chart=render.CHART_FILE),
            file=render.chart_file(png),
        )

    @admin.command(name="settings", description="Show this server's effective video settings")
    async def settings(self, interaction: discord.Interaction) -> None:
        """Allowances, budget, defaults, channels, blocks and the pause state."""
        overview = await self.policy.overview(str(interaction.guild_id))
        await reply(interaction, embed=render.settings_embed(overview))

    @admin.command(name="audit", description="Recent prompts and admin actions")
    @app_commands.describe(csv="Attach everything from the last 5000 entries as a CSV file")
    async def audit(self, interaction: discord.Interaction, csv: bool = False) -> None:
        """The latest prompts (who, when, outcome, cost) and admin changes."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        guild_id = str(interaction.guild_id)
        entries = await self.usage_reports.audit(guild_id, limit=AUDIT_LINES)
        file, note = discord.utils.MISSING, ""
        if csv:
            everything = await self.usage_reports.audit(guild_id, limit=CSV_ROWS)
            file, note = render.audit_file(guild_id, everything)
        await reply(interaction, note or None, embed=render.audit_embed(entries), file=file)

    # -- pause ----------------------------------------------------------------------------

    @admin.command(name="pause", description="Refuse new videos here (running jobs finish)")
    async def pause(self, interaction: discord.Interaction) -> None:
        """Pause new jobs in the guild."""
        await self.guild_admin.set_paused(*_ids(interaction), True)
        await _done(interaction, "pause")

    @admin.command(name="resume", description="Allow new videos again")
    async def resume(self, interaction: discord.Interaction) -> None:
        """Resume new jobs in the guild."""
        await self.guild_admin.set_paused(*_ids(interaction), False)
        await _done(interaction, "resume")

    # -- allowances -----------------------------------------------------------------------

    @admin.command(name="allowance-default", description="Daily credits for every member")
    @app_commands.describe(credits="Credits per member per day; leave out for the bot's default")
    async def allowance_default(
        self, interaction: discord.Interaction, credits: Credits | None = None
    ) -> None:
        """Set or clear the guild's default daily allowance."""
        guild, actor = _ids(interaction)
        await self.guild_admin.set_daily_credits(guild, actor, credits)
        if credits is None:
            shown = self.config.daily_credits
            await _done(interaction, "allowance_default_cleared", credits=shown)
        else:
            await _done(interaction, "allowance_default", credits=credits)

    @admin.command(name="allowance-role", description="Daily credits for members with a role")
    @app_commands.describe(role="The role", credits="Credits per day; leave out to remove")
    async def allowance_role(
        self, interaction: discord.Interaction, role: discord.Role, credits: Credits | None = None
    ) -> None:
        """Set or remove a role's daily allowance (members get their most generous role's)."""
        guild, actor = _ids(interaction)
        await self.guild_admin.set_allowance(guild, actor, "role", str(role.id), credits)
        await _allowance_done(interaction, "role", f"<@&{role.id}>", credits)

    @admin.command(name="allowance-user", description="Daily credits for one member")
    @app_commands.describe(member="The member", credits="Credits per day; leave out to remove")
    async def allowance_user(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        credits: Credits | None = None,
    ) -> None:
        """Set or remove one member's daily allowance (it wins over their roles)."""
        guild, actor = _ids(interaction)
        await self.guild_admin.set_allowance(guild, actor, "user", str(member.id), credits)
        await _allowance_done(interaction, "user", f"<@{member.id}>", credits)

    @admin.command(name="grant", description="Give a member extra credits for today")
    @app_commands.describe(member="Who gets them", credits="How many", reason="Why (kept in audit)")
    async def grant(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        credits: GrantAmount,
        reason: app_commands.Range[str, 0, 200] = "",
    ) -> None:
        """A one-off grant for today (UTC)."""
        guild, actor = _ids(interaction)
        await self.guild_admin.grant(guild, actor, str(member.id), credits, reason)
        await _done(interaction, "grant", target=f"<@{member.id}>", credits=credits)

    @admin.command(name="reset-user", description="Give back everything a member spent today")
    @app_commands.describe(member="Whose day to reset")
    async def reset_user(self, interaction: discord.Interaction, member: discord.Member) -> None:
        """Reset a member's day."""
        guild, actor = _ids(interaction)
        spent = await self.guild_admin.reset_day(guild, actor, str(member.id))
        await _done(interaction, "reset_user", target=f"<@{member.id}>", credits=spent)

    @admin.command(name="budget", description="Most credits the whole server may spend a day")
    @app_commands.describe(credits="0 for no budget; leave out for the bot's default")
    async def budget(
        self, interaction: discord.Interaction, credits: Credits | None = None
    ) -> None:
        """Set, remove (0) or reset (left out) the guild's daily budget."""
        guild, actor = _ids(interaction)
        await self.guild_admin.set_budget(guild, actor, credits)
        action = "budget_cleared" if credits is None else "budget" if credits else "budget_off"
        await _done(interaction, action, credits=credits)

    # -- members --------------------------------------------------------------------------

    @admin.command(name="block", description="Stop a member from making videos")
    @app_commands.describe(member="Who", reason="Why (kept in the audit, not shown to them)")
    async def block(
        self,
        interaction: discord.Interaction,
        member: discord.Member,
        reason: app_commands.Range[str, 0, 200] = "",
    ) -> None:
        """Block a member."""
        guild, actor = _ids(interaction)
        added = await self.guild_admin.block(guild, actor, str(member.id), reason)
        await _done(interaction, "block" if added else "block_again", target=member.mention)

    @admin.command(name="unblock", description="Let a blocked member make videos again")
    @app_commands.describe(member="Who")
    async def unblock(self, interaction: discord.Interaction, member: discord.Member) -> None:
        """Unblock a member."""
        guild, actor = _ids(interaction)
        removed = await self.guild_admin.unblock(guild, actor, str(member.id))
        action = "unblock" if removed else "unblock_noop"
        await _done(interaction, action, target=member.mention)

    # -- channels -------------------------------------------------------------------------

    @admin.command(name="channels-allow", description="Allow /video in a channel (only listed)")
    @app_commands.describe(channel="The channel (this one when left out)")
    async def channels_allow(
        self, interaction: discord.Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        """Add a channel to the allow-list."""
        guild, actor = _ids(interaction)
        channel_id = _channel_id(interaction, channel)
        await self.guild_admin.allow_channel(guild, actor, channel_id)
        others = [c for c in await self.policy.allowed_channels(guild) if c != channel_id]
        extra = f" (and {len(others)} other channel(s))" if others else " only"
        await _done(interaction, "channel_allow", target=f"<#{channel_id}>", others=extra)

    @admin.command(name="channels-remove", description="Take a channel off the allowed list")
    @app_commands.describe(channel="The channel (this one when left out)")
    async def channels_remove(
        self, interaction: discord.Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        """Remove a channel from the allow-list."""
        guild, actor = _ids(interaction)
        channel_id = _channel_id(interaction, channel)
        removed = await self.guild_admin.remove_channel(guild, actor, channel_id)
        if not removed:
            await _done(interaction, "channel_remove_noop", target=f"<#{channel_id}>")
            return
        empty = not await self.policy.allowed_channels(guild)
        left = "; /video now works everywhere" if empty else ""
        await _done(interaction, "channel_remove", target=f"<#{channel_id}>", left=left)

    @admin.command(name="channels-clear", description="Allow /video in every channel")
    async def channels_clear(self, interaction: discord.Interaction) -> None:
        """Empty the allow-list."""
        await self.guild_admin.clear_channels(*_ids(interaction))
        await _done(interaction, "channels_clear")

    # -- blocked terms --------------------------------------------------------------------

    @admin.command(name="terms-add", description="Refuse prompts containing a word or phrase")
    @app_commands.describe(term="Whole word or phrase; case and accents are ignored")
    async def terms_add(
        self, interaction: discord.Interaction, term: app_commands.Range[str, 1, 100]
    ) -> None:
        """Add a blocked term."""
        guild, actor = _ids(interaction)
        added, new = await self.guild_admin.add_term(guild, actor, term)
        await _done(interaction, "term_add" if new else "term_add_noop", term=added.term)

    @admin.command(name="terms-remove", description="Stop refusing a word or phrase")
    @app_commands.describe(term="The term as listed by terms-list")
    async def terms_remove(
        self, interaction: discord.Interaction, term: app_commands.Range[str, 1, 100]
    ) -> None:
        """Remove a blocked term."""
        guild, actor = _ids(interaction)
        removed = await self.guild_admin.remove_term(guild, actor, term)
        shown = " ".join(term.split())
        await _done(interaction, "term_remove" if removed else "term_remove_noop", term=shown)

    @admin.command(name="terms-list", description="Show the blocked words and phrases")
    async def terms_list(self, interaction: discord.Interaction) -> None:
        """List the guild's blocked terms (admins only)."""
        terms = await self.policy.terms(str(interaction.guild_id))
        embed = render.terms_embed([t.term for t in terms])
        await reply(interaction, embed=embed)

    # -- defaults -------------------------------------------------------------------------

    @admin.command(name="defaults", description="Options members get when they leave them out")
    @app_commands.describe(
        aspect_ratio="Default shape",
        duration="Default length",
        keep_watermark="Keep the watermark unless a member asks otherwise",
        watermark_surcharge="Extra credits for removing the watermark",
        reset="Go back to the built-in defaults",
    )
    @app_commands.choices(aspect_ratio=ASPECT_CHOICES)
    @app_commands.choices(duration=DURATION_CHOICES)
    async def defaults(
        self,
        interaction: discord.Interaction,
        aspect_ratio: app_commands.Choice[str] | None = None,
        duration: app_commands.Choice[int] | None = None,
        keep_watermark: bool | None = None,
        watermark_surcharge: app_commands.Range[int, 0, 1000] | None = None,
        reset: bool = False,
    ) -> None:
        """Change the guild's defaults; with no option, just show them."""
        guild, actor = _ids(interaction)
        result = await self.guild_admin.set_defaults(
            guild,
            actor,
            aspect_ratio=aspect_ratio.value if aspect_ratio else None,
            duration=duration.value if duration else None,
            keep_watermark=keep_watermark,
            watermark_surcharge=watermark_surcharge,
            reset=reset,
        )
        await _done(interaction, "defaults", summary=render.defaults_text(result))


# -- helpers (no commands) ----------------------------------------------------------------


def _ids(interaction: discord.Interaction) -> tuple[str, str]:
    """The guild and the acting admin, as the core names them."""
    return str(interaction.guild_id), str(interaction.user.id)


def _channel_id(interaction: discord.Interaction, channel: discord.TextChannel | None) -> str:
    """The channel the admin chose, else the one they used the command in."""
    return str(channel.id if channel else interaction.channel_id)


async def _allowance_done(
    interaction: discord.Interaction, scope: str, target: str, credits: int | None
) -> None:
    """Say that a role's or user's allowance was set, or with None removed."""
    if credits is None:
        await _done(interaction, f"allowance_{scope}_cleared", target=target)
    else:
        await _done(interaction, f"allowance_{scope}", target=target, credits=credits)


async def _done(interaction: discord.Interaction, action: str, **details: object) -> None:
    """Confirm a change to the admin; mentions render but ping nobody."""
    await reply(
        interaction,
        admin_done(action, **details),
        allowed_mentions=discord.AllowedMentions.none(),
    )


async def setup(bot: commands.Bot) -> None:
    """Extension entry point."""
    await bot.add_cog(AdminCog(bot))
