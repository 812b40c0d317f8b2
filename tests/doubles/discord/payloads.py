"""Render the double's model as the JSON objects Discord sends."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .model import Attachment, Channel, Guild, Member, Message, Role, User


def iso(ts: float) -> str:
    """An ISO 8601 timestamp like Discord's."""
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def user_payload(user: User) -> dict[str, Any]:
    """A user object."""
    return {
        "id": str(user.id),
        "username": user.username,
        "global_name": user.username,
        "discriminator": "0",
        "avatar": None,
        "bot": user.bot,
        "public_flags": 0,
        "flags": 0,
    }


def role_payload(role: Role) -> dict[str, Any]:
    """A role object."""
    return {
        "id": str(role.id),
        "name": role.name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": role.position,
        "permissions": str(role.permissions),
        "managed": False,
        "mentionable": role.mentionable,
        "flags": 0,
    }


def member_payload(member: Member, *, with_user: bool = True) -> dict[str, Any]:
    """A guild member object."""
    data: dict[str, Any] = {
        "roles": [str(r) for r in member.roles],
        "nick": member.nick,
        "avatar": None,
        "joined_at": "2024-01-01T00:00:00+00:00",
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": member.flags,
        "communication_disabled_until": None,
    }
    if with_user:
        data["user"] = user_payload(member.user)
    return data


def channel_payload(
    channel: Channel, overwrites: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A channel or thread object."""
    data: dict[str, Any] = {
        "id": str(channel.id),
        "type": channel.type,
        "guild_id": str(channel.guild_id),
        "name": channel.name,
        "parent_id": str(channel.parent_id) if channel.parent_id else None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "flags": 0,
        "nsfw": False,
    }
    if channel.is_thread:
        data.update(
            owner_id=str(channel.owner_id) if channel.owner_id else None,
            message_count=0,
            member_count=1,
            total_message_sent=0,
            thread_metadata={
                "archived": channel.archived,
                "locked": channel.locked,
                "auto_archive_duration": channel.auto_archive_duration,
                "archive_timestamp": iso(0),
            },
        )
        return data
    data.update(position=channel.position, permission_overwrites=overwrites or [], topic=None)
    if channel.type == 15:
        data.update(
            available_tags=[],
            default_reaction_emoji=None,
            default_sort_order=None,
            default_forum_layout=0,
            default_thread_rate_limit_per_user=0,
        )
    return data


def attachment_payload(att: Attachment) -> dict[str, Any]:
    """An attachment object."""
    data: dict[str, Any] = {
        "id": str(att.id),
        "filename": att.filename,
        "size": att.size,
        "url": att.url,
        "proxy_url": att.url,
        "content_type": att.content_type,
        "description": att.description,
    }
    if att.ephemeral:
        data["ephemeral"] = True
    return data


def message_payload(msg: Message, users: dict[int, User], guild: Guild | None) -> dict[str, Any]:
    """A message object as REST and the gateway return it."""
    data: dict[str, Any] = {
        "id": str(msg.id),
        "channel_id": str(msg.channel_id),
        "type": 19 if msg.message_reference else 0,
        "author": user_payload(msg.author),
        "content": msg.content,
        "timestamp": iso(msg.created_at),
        "edited_timestamp": iso(msg.edited_at) if msg.edited_at else None,
        "tts": False,
        "mention_everyone": msg.pinged_everyone,
        "mentions": [user_payload(users[u]) for u in sorted(msg.pinged_user_ids) if u in users],
        "mention_roles": [str(r) for r in sorted(msg.pinged_role_ids)],
        "attachments": [attachment_payload(a) for a in msg.attachments],
        "embeds": msg.embeds,
        "components": msg.components,
        "pinned": False,
        "flags": msg.flags,
    }
    if msg.guild_id is not None:
        data["guild_id"] = str(msg.guild_id)
    if msg.webhook_id is not None:
        data["webhook_id"] = str(msg.webhook_id)
        data["application_id"] = str(msg.webhook_id)
    if msg.message_reference:
        data["message_reference"] = msg.message_reference
    if guild is not None and msg.author.id in guild.members and msg.webhook_id is None:
        data["member"] = member_payload(guild.members[msg.author.id], with_user=False)
    return data


def guild_payload(guild: Guild) -> dict[str, Any]:
    """A guild object for GET /guilds/{id} (without members and channels)."""
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(guild.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": [role_payload(r) for r in guild.roles.values()],
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "vanity_url_code": None,
        "premium_tier": guild.premium_tier,
        "premium_subscription_count": 0,
        "preferred_locale": "en-US",
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
        "max_members": 500000,
        "max_video_channel_users": 25,
    }


def guild_create_payload(
    guild: Guild, channels: list[dict[str, Any]], threads: list[dict[str, Any]]
) -> dict[str, Any]:
    """The GUILD_CREATE event body: guild, roles, channels, members, threads."""
    data = guild_payload(guild)
    data.update(
        unavailable=False,
        large=False,
        joined_at="2024-01-01T00:00:00+00:00",
        member_count=len(guild.members),
        members=[member_payload(m) for m in guild.members.values()],
        channels=channels,
        threads=threads,
        presences=[],
        voice_states=[],
        stage_instances=[],
        guild_scheduled_events=[],
        soundboard_sounds=[],
    )
    return data


def bot_overwrites(channel: Channel, bot_id: int, all_bits: int) -> list[dict[str, Any]]:
    """A member overwrite that makes the bot's channel permissions exactly the knob's value."""
    if channel.bot_permissions is None:
        return []
    allow = channel.bot_permissions
    return [{"id": str(bot_id), "type": 1, "allow": str(allow), "deny": str(all_bits & ~allow)}]
