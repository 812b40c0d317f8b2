"""Embeds and attachments of /sora-admin: usage, a member's history, settings, the audit."""

from __future__ import annotations

import io

import discord

from cogs.render.status import job_line
from sora_bot.outside_text import display_prompt
from sora_bot.rules.credits import QuotaStatus
from sora_bot.rules.policy import GuildDefaults, GuildOverview
from sora_bot.rules.usage import (
    AuditEntry,
    GuildUsage,
    MemberUsage,
    Spend,
    audit_csv,
    details_text,
)

BAR_CELLS = 10
CHART_FILE = "usage.png"
COLOUR = discord.Colour.blurple()
FIELD_LIMIT = 1024
OUTCOME_ICONS = {
    "delivered": "✅",
    "failed": "❌",
    "not started": "⛔",
    "not posted": "📦",
    "in progress": "⏳",
}


def bar(value: int, total: int) -> str:
    """A ``▰▰▱▱`` bar of value out of total."""
    filled = 0 if total <= 0 else round(min(1.0, value / total) * BAR_CELLS)
    return "▰" * filled + "▱" * (BAR_CELLS - filled)


def spend_text(spend: Spend, budget: int | None) -> str:
    """Today, 7 and 30 days; today's bar is measured against the daily budget when there is one."""
    today = f"`Today  ` **{spend.today}** credits"
    if budget:
        today += f" of {budget} {bar(spend.today, budget)}"
    return f"{today}\n`7 days ` **{spend.week}**\n`30 days` **{spend.month}**"


def outcomes_text(outcomes: dict[str, int]) -> str:
    """Jobs by outcome with a bar of their share."""
    total = sum(outcomes.values())
    if not total:
        return "No jobs yet."
    lines = [
        f"{OUTCOME_ICONS.get(name, '•')} {bar(count, total)} {count} {name}"
        for name, count in sorted(outcomes.items(), key=lambda kv: -kv[1])
    ]
    return "\n".join(lines)


def usage_embed(usage: GuildUsage, budget: int | None, *, chart: str | None) -> discord.Embed:
    """The guild's usage at a glance."""
    embed = discord.Embed(title="📊 Video usage in this server", colour=COLOUR)
    embed.add_field(name="Credits spent", value=spend_text(usage.spend, budget), inline=False)
    embed.add_field(name="Jobs (30 days)", value=outcomes_text(usage.outcomes), inline=True)
    top = usage.top_users[0][1] if usage.top_users else 0
    lines = [
        f"{n}. <@{user}> {bar(credits, top)} {credits} cr · {jobs} jobs"
        for n, (user, credits, jobs) in enumerate(usage.top_users, start=1)
    ]
    embed.add_field(
        name="Top members (30 days)", value="\n".join(lines) or "Nobody yet.", inline=False
    )
    billed = sum(day.provider_credits for day in usage.provider)
    sent = sum(day.jobs for day in usage.provider)
    embed.add_field(
        name="Provider bill (30 days)",
        value=f"{billed:g} provider credits reserved for {sent} job(s) sent to Sora-2",
        inline=False,
    )
    if chart:
        embed.set_image(url=f"attachment://{chart}")
    embed.set_footer(
        text="Days are UTC. Credits count what members were charged "
        "(days reset by an admin included), not refunds."
    )
    return embed


def chart_file(png: bytes) -> discord.File:
    """The usage chart, named as ``usage_embed(chart=CHART_FILE)`` shows it."""
    return discord.File(io.BytesIO(png), filename=CHART_FILE)


def member_embed(usage: MemberUsage, quota: QuotaStatus) -> discord.Embed:
    """One member's spend, allowance today and latest jobs."""
    embed = discord.Embed(title="📊 Member usage", description=f"<@{usage.user_id}>", colour=COLOUR)
    embed.add_field(name="Credits spent", value=spend_text(usage.spend, None), inline=True)
    embed.add_field(
        name="Today",
        value=f"{quota.used} of {quota.allowance} credits {bar(quota.used, quota.allowance)}\n"
        f"{quota.active_jobs} active job(s)",
        inline=True,
    )
    embed.add_field(name="Jobs (30 days)", value=outcomes_text(usage.outcomes), inline=False)
    history = "\n".join(job_line(job) for job in usage.recent) or "No jobs yet."
    embed.add_field(name="Latest jobs", value=_clip(history), inline=False)
    return embed


def settings_embed(view: GuildOverview) -> discord.Embed:
    """The guild's effective settings."""
    colour = discord.Colour.orange() if view.paused else discord.Colour.green()
    state = "⏸️ Paused: new videos are refused" if view.paused else "▶️ Running"
    embed = discord.Embed(title="⚙️ Video settings", description=state, colour=colour)
    source = "set here" if view.daily_credits_custom else "bot default"
    budget = f"{view.daily_budget} credits" if view.daily_budget else "none"
    embed.add_field(
        name="Allowances",
        value=f"Per member: **{view.daily_credits}** credits/day ({source})\n"
        f"Server budget: **{budget}**/day",
        inline=False,
    )
    roles = [f"<@&{r}> {c}" for r, c in view.role_allowances.items()]
    users = [f"<@{u}> {c}" for u, c in view.user_allowances.items()]
    embed.add_field(name="Role allowances", value=_clip(" · ".join(roles) or "none"), inline=True)
    embed.add_field(name="Member allowances", value=_clip(" · ".join(users) or "none"), inline=True)
    embed.add_field(name="Defaults", value=defaults_text(view.defaults), inline=False)
    channels = " ".join(f"<#{c}>" for c in view.allowed_channels) or "every channel"
    embed.add_field(name="/video works in", value=_clip(channels), inline=False)
    blocked = " ".join(f"<@{u}>" for u in view.blocked_members) or "nobody"
    embed.add_field(name="Blocked members", value=_clip(blocked), inline=True)
    embed.add_field(
        name="Blocked terms", value=f"{view.blocked_terms} (see `terms-list`)", inline=True
    )
    return embed


def defaults_text(d: GuildDefaults) -> str:
    """Aspect ratio, duration, watermark and surcharge in one line."""
    mark = "kept" if d.keep_watermark else "removed"
    return (
        f"{d.aspect_ratio} · {d.duration} s · watermark {mark} · "
        f"removal costs +{d.watermark_surcharge} credits"
    )


def terms_embed(terms: list[str]) -> discord.Embed:
    """The guild's blocked terms (only admins see this)."""
    text = "\n".join(f"• {display_prompt(t.replace(chr(10), ' '))}" for t in terms)
    text = text or "No blocked terms."
    embed = discord.Embed(title="🚫 Blocked terms", description=text[:4000], colour=COLOUR)
    embed.set_footer(text="Matching ignores case and accents, and only whole words count.")
    return embed


def audit_embed(entries: list[AuditEntry]) -> discord.Embed:
    """The latest prompts and admin actions."""
    lines = []
    for e in entries:
        when = f"<t:{int(e.at)}:R>"
        if e.kind == "job":
            text = display_prompt(e.text.replace("\n", " "), 80)
            lines.append(f"🎬 {when} <@{e.actor_id}> **{e.action}** · {e.cost} cr · {text}")
        else:
            detail = display_prompt(details_text(e.text).replace("\n", " "), 80)
            lines.append(f"🛠️ {when} <@{e.actor_id}> `{e.action}` {detail}")
    body = "\n".join(lines) or "Nothing yet."
    embed = discord.Embed(title="🧾 Audit", description=_clip(body, 4000), colour=COLOUR)
    embed.set_footer(text="Newest first. Use csv:True for a file with everything.")
    return embed


def audit_file(guild_id: str, entries: list[AuditEntry]) -> tuple[discord.File, str]:
    """The entries as a CSV attachment, and the note to send when the table had to be cut."""
    table = audit_csv(entries)  # capped to stay under Discord's upload limit
    return discord.File(io.BytesIO(table.data), filename=f"sora-audit-{guild_id}.csv"), table.note


def _clip(text: str, limit: int = FIELD_LIMIT) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return cut[: cut.rfind("\n")] + "\n…" if "\n" in cut else cut + "…"
