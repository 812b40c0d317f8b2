"""Interaction-token routes: the callback, followups and the original response."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .http_util import BODY, DiscordError, ParsedBody, json_response, no_content
from .interactions import (
    CALLBACK_DEFER,
    CALLBACK_DEFER_UPDATE,
    CALLBACK_MESSAGE,
    CALLBACK_UPDATE,
    EPHEMERAL,
    LOADING,
    InteractionHandle,
)
from .model import Message

if TYPE_CHECKING:
    from .server import DiscordDouble

MESSAGE_FLAGS = EPHEMERAL | 4 | 4096  # ephemeral, suppress embeds, suppress notifications
TRUE = ("1", "true", "True")


class WebhookRoutes:
    """Handlers authorised by an interaction token instead of the bot token."""

    def __init__(self, double: DiscordDouble):
        self.d = double

    def _handle(self, request: web.Request) -> InteractionHandle:
        if int(request.match_info["app"]) != self.d.app_id:
            raise DiscordError(404, 10015, "Unknown Webhook")
        token = request.match_info["token"]
        handle = next((h for h in self.d.interactions.values() if h.token == token), None)
        if handle is None or handle.expired:
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        return handle

    def _message(self, handle: InteractionHandle, ref: str) -> Message:
        mid = handle.original_message_id if ref == "@original" else int(ref)
        allowed = {handle.original_message_id, *handle.followup_ids}
        msg = self.d.messages.get(mid) if mid is not None else None
        if msg is None or msg.deleted or mid not in allowed:
            raise DiscordError(404, 10008, "Unknown Message")
        return msg

    async def callback(self, request: web.Request) -> web.Response:
        handle = self.d.interactions.get(int(request.match_info["interaction"]))
        if handle is None or handle.token != request.match_info["token"]:
            raise DiscordError(404, 10062, "Unknown interaction")
        if handle.callbacks:
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        if time.time() - handle.created_at > self.d.callback_window:
            raise DiscordError(404, 10062, "Unknown interaction")
        body: ParsedBody = request[BODY]
        cb: dict[str, Any] = body.json or {}
        kind, data = int(cb["type"]), cb.get("data") or {}
        channel = self.d.channels[handle.channel_id]
        if body.files:
            self.d.check_upload(self.d.guild_of(channel), body.files)
        handle.callbacks.append(cb)
        flags = int(data.get("flags") or 0) & EPHEMERAL
        msg: Message | None = None
        if kind == CALLBACK_DEFER:
            msg = await self.d.create_message(
                channel,
                self.d.bot_user,
                {},
                [],
                flags=flags | LOADING,
                webhook_id=self.d.app_id,
                interaction_id=handle.id,
            )
        elif kind == CALLBACK_MESSAGE:
            msg = await self.d.create_message(
                channel,
                self.d.bot_user,
                data,
                body.files,
                flags=int(data.get("flags") or 0) & MESSAGE_FLAGS,
                webhook_id=self.d.app_id,
                interaction_id=handle.id,
            )
        elif kind in (CALLBACK_UPDATE, CALLBACK_DEFER_UPDATE) and handle.source_message_id:
            msg = self.d.messages[handle.source_message_id]
            if kind == CALLBACK_UPDATE:
                await self.d.edit_message(msg, data, body.files)
        if msg is not None:
            handle.original_message_id = msg.id
        if request.query.get("with_response") not in TRUE:
            return no_content()
        info: dict[str, Any] = {
            "id": str(handle.id),
            "type": handle.type,
            "response_message_loading": kind == CALLBACK_DEFER,
            "response_message_ephemeral": bool(flags),
        }
        result: dict[str, Any] = {"interaction": info}
        if msg is not None:
            info["response_message_id"] = str(msg.id)
            if kind != CALLBACK_DEFER_UPDATE:
                result["resource"] = {"type": kind, "message": self.d.message_json(msg)}
        return json_response(result)

    async def followup(self, request: web.Request) -> web.Response:
        handle = self._handle(request)
        if not handle.callbacks:
            raise DiscordError(404, 10015, "Unknown Webhook")
        body: ParsedBody = request[BODY]
        payload = body.json or {}
        target = self.d.channels[handle.channel_id]
        if "thread_id" in request.query:
            target = self.d.live_channel(int(request.query["thread_id"]))
        self.d.check_upload(self.d.guild_of(target), body.files)
        original = handle.original
        if handle.callback_type == CALLBACK_DEFER and original and original.flags & LOADING:
            # The first followup after a deferral completes the "thinking" message.
            msg = await self.d.edit_message(original, payload, body.files)
        else:
            msg = await self.d.create_message(
                target,
                self.d.bot_user,
                payload,
                body.files,
                flags=int(payload.get("flags") or 0) & MESSAGE_FLAGS,
                webhook_id=self.d.app_id,
                interaction_id=handle.id,
            )
            handle.followup_ids.append(msg.id)
        if request.query.get("wait") in TRUE:
            return json_response(self.d.message_json(msg))
        return no_content()

    async def get_message(self, request: web.Request) -> web.Response:
        handle = self._handle(request)
        return json_response(
            self.d.message_json(self._message(handle, request.match_info["message"]))
        )

    async def edit_message(self, request: web.Request) -> web.Response:
        handle = self._handle(request)
        msg = self._message(handle, request.match_info["message"])
        body: ParsedBody = request[BODY]
        self.d.check_upload(self.d.guild_of(self.d.channels[msg.channel_id]), body.files)
        await self.d.edit_message(msg, body.json or {}, body.files)
        if msg.id == handle.original_message_id:
            handle.original_edits.append(body.json or {})
        return json_response(self.d.message_json(msg))

    async def delete_message(self, request: web.Request) -> web.Response:
        handle = self._handle(request)
        await self.d.delete_message(self._message(handle, request.match_info["message"]))
        return no_content()
