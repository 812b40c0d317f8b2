"""Build INTERACTION_CREATE events (commands, buttons, modals) and send them."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import payloads as P
from .interactions import (
    FileSpec,
    InteractionHandle,
    build_options,
    find_command,
    modal_submit_components,
)
from .model import Channel, Message, User

if TYPE_CHECKING:
    from .server import DiscordDouble

APPLICATION_COMMAND, MESSAGE_COMPONENT, MODAL_SUBMIT = 2, 3, 5


async def invoke(
    d: DiscordDouble,
    command: str,
    values: Mapping[str, Any],
    user: User | None,
    channel: Channel | int | None,
    app_permissions: int | None,
    ttl: float | None,
    locale: str,
) -> InteractionHandle:
    """A slash command interaction (type 2)."""
    ch = d._channel(channel if channel is not None else d.channel)
    guild = d.guild_of(ch)
    root, *sub = command.split()
    definition = find_command(d.commands.get(guild.id, []), root)
    guild_scoped = definition is not None
    definition = definition or find_command(d.commands.get(None, []), root)
    interaction_id = d.snowflakes.next()
    resolved: dict[str, dict[str, Any]] = {}

    def attach(spec: FileSpec) -> dict[str, Any]:
        att = d.store_attachment(
            ch.id, spec.filename, spec.data, content_type=spec.content_type, ephemeral=True
        )
        return P.attachment_payload(att)

    options = build_options(definition, sub, values, attach, resolved)
    for uid in list(resolved.get("users", {})):
        user_obj = d.users[int(uid)]
        resolved["users"][uid] = P.user_payload(user_obj)
        if user_obj.id in guild.members:
            member = P.member_payload(guild.members[user_obj.id], with_user=False)
            resolved.setdefault("members", {})[uid] = {**member, "permissions": "0"}
    data: dict[str, Any] = {
        "id": definition["id"] if definition else str(d.snowflakes.next()),
        "name": root,
        "type": 1,
        "options": options,
    }
    if resolved:
        data["resolved"] = resolved
    if guild_scoped:
        data["guild_id"] = str(guild.id)
    return await send_interaction(
        d, APPLICATION_COMMAND, data, ch, user, app_permissions, ttl, locale, interaction_id
    )


async def click(
    d: DiscordDouble, message: Message, custom_id: str, user: User | None, ttl: float | None
) -> InteractionHandle:
    """A button press (type 3) on `message`."""
    data = {"custom_id": custom_id, "component_type": 2}
    ch = d.channels[message.channel_id]
    handle = await send_interaction(
        d, MESSAGE_COMPONENT, data, ch, user, None, ttl, "en-US", None, message=message
    )
    return handle


async def submit_modal(
    d: DiscordDouble,
    opened_by: InteractionHandle,
    values: Mapping[str, str],
    user: User | None,
    ttl: float | None,
) -> InteractionHandle:
    """Submit the modal the bot opened in answer to `opened_by` (type 5)."""
    modal = opened_by.modal
    if modal is None:
        raise AssertionError("the bot did not answer that interaction with a modal")
    data = {"custom_id": modal["custom_id"], "components": modal_submit_components(modal, values)}
    ch = d.channels[opened_by.channel_id]
    source = d.messages.get(opened_by.source_message_id or 0)
    return await send_interaction(
        d, MODAL_SUBMIT, data, ch, user or opened_by.user, None, ttl, "en-US", None, message=source
    )


async def send_interaction(
    d: DiscordDouble,
    kind: int,
    data: dict[str, Any],
    ch: Channel,
    user: User | None,
    app_permissions: int | None,
    ttl: float | None,
    locale: str,
    interaction_id: int | None,
    *,
    message: Message | None = None,
) -> InteractionHandle:
    """Dispatch INTERACTION_CREATE and register a handle for the token."""
    guild = d.guild_of(ch)
    who = user or d.owner
    interaction_id = interaction_id or d.snowflakes.next()
    token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(60)
    perms = d.bot_permissions_in(ch.id) if app_permissions is None else int(app_permissions)
    member = P.member_payload(guild.members[who.id])
    payload: dict[str, Any] = {
        "id": str(interaction_id),
        "application_id": str(d.app_id),
        "type": kind,
        "data": data,
        "guild_id": str(guild.id),
        "guild": {"id": str(guild.id), "locale": "en-US", "features": []},
        "channel_id": str(ch.id),
        "channel": d.channel_json(ch),
        "member": {**member, "permissions": str(guild.roles[guild.id].permissions)},
        "token": token,
        "version": 1,
        "app_permissions": str(perms),
        "locale": locale,
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild.id)},
        "context": 0,
        "attachment_size_limit": guild.filesize_limit,
    }
    if message is not None:
        payload["message"] = d.message_json(message)
    handle = InteractionHandle(
        interaction_id,
        token,
        kind,
        ch.id,
        guild.id,
        who,
        payload,
        expires_at=time.time() + (d.interaction_ttl if ttl is None else ttl),
        source_message_id=message.id if message is not None else None,
        _messages=d.messages,
    )
    d.interactions[interaction_id] = handle
    await d.gateway.dispatch("INTERACTION_CREATE", payload)
    return handle
