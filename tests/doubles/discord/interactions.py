"""Interactions the double sends: handles to observe them and option payloads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .model import Message, User

CALLBACK_PONG, CALLBACK_MESSAGE, CALLBACK_DEFER = 1, 4, 5
CALLBACK_DEFER_UPDATE, CALLBACK_UPDATE, CALLBACK_AUTOCOMPLETE, CALLBACK_MODAL = 6, 7, 8, 9
EPHEMERAL, LOADING = 64, 128

OPTION_SUB_COMMAND, OPTION_SUB_COMMAND_GROUP = 1, 2
OPTION_STRING, OPTION_INTEGER, OPTION_BOOLEAN, OPTION_USER = 3, 4, 5, 6
OPTION_NUMBER, OPTION_ATTACHMENT = 10, 11


@dataclass(frozen=True)
class FileSpec:
    """A file a user attaches to a command option."""

    filename: str
    data: bytes
    content_type: str | None = None


@dataclass
class InteractionHandle:
    """What the bot did with one interaction: callback, original response, followups."""

    id: int
    token: str
    type: int
    channel_id: int
    guild_id: int | None
    user: User
    payload: dict[str, Any]
    expires_at: float
    created_at: float = field(default_factory=time.time)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    original_edits: list[dict[str, Any]] = field(default_factory=list)
    source_message_id: int | None = None
    _messages: Mapping[int, Message] = field(default_factory=dict, repr=False)

    @property
    def expired(self) -> bool:
        """Whether the token no longer works (401 / 50027)."""
        return time.time() >= self.expires_at

    def expire(self) -> None:
        """Make the token expire now."""
        self.expires_at = time.time()

    @property
    def callback_type(self) -> int | None:
        """Type of the first callback (5 = defer), or None before it."""
        return self.callbacks[0]["type"] if self.callbacks else None

    @property
    def callback_data(self) -> dict[str, Any]:
        """`data` of the first callback."""
        return (self.callbacks[0].get("data") or {}) if self.callbacks else {}

    @property
    def deferred(self) -> bool:
        """Whether the bot answered with a deferral (5 or 6)."""
        return self.callback_type in (CALLBACK_DEFER, CALLBACK_DEFER_UPDATE)

    @property
    def ephemeral(self) -> bool:
        """Whether the first response was ephemeral (flag 64)."""
        return bool(int(self.callback_data.get("flags") or 0) & EPHEMERAL)

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal the bot opened (callback 9), if any."""
        for cb in self.callbacks:
            if cb["type"] == CALLBACK_MODAL:
                return dict(cb.get("data") or {})
        return None

    @property
    def original(self) -> Message | None:
        """The original response message."""
        if self.original_message_id is None:
            return None
        return self._messages.get(self.original_message_id)

    @property
    def followups(self) -> list[Message]:
        """Followup messages (not counting a followup that completed a deferral)."""
        return [self._messages[m] for m in self.followup_ids if m in self._messages]

    async def wait(
        self, predicate: Callable[[InteractionHandle], bool], timeout: float = 5.0
    ) -> None:
        """Poll until `predicate(self)` holds."""
        async with asyncio.timeout(timeout):
            while not predicate(self):
                await asyncio.sleep(0.01)

    async def wait_for_callback(self, timeout: float = 5.0) -> None:
        """Wait for the callback (defer, message or modal)."""
        await self.wait(lambda h: bool(h.callbacks), timeout)


def find_command(commands: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    """A registered command by name."""
    return next((c for c in commands if c.get("name") == name), None)


def build_options(
    definition: dict[str, Any] | None,
    path: list[str],
    values: Mapping[str, Any],
    make_attachment: Callable[[FileSpec], dict[str, Any]],
    resolved: dict[str, dict[str, Any]],
) -> list[dict[str, Any]]:
    """`data.options` for a command path like ["video", "generate"] (subcommands nest)."""
    defs = (definition or {}).get("options") or []
    if path:
        sub = next((o for o in defs if o.get("name") == path[0]), None)
        kind = int(sub["type"]) if sub else (OPTION_SUB_COMMAND if len(path) == 1 else 2)
        inner = build_options(sub, path[1:], values, make_attachment, resolved)
        return [{"name": path[0], "type": kind, "options": inner}]
    out = []
    for name, value in values.items():
        opt_def = next((o for o in defs if o.get("name") == name), None)
        out.append(_option(name, value, opt_def, make_attachment, resolved))
    return out


def _option(
    name: str,
    value: Any,
    opt_def: dict[str, Any] | None,
    make_attachment: Callable[[FileSpec], dict[str, Any]],
    resolved: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    if isinstance(value, FileSpec):
        att = make_attachment(value)
        resolved.setdefault("attachments", {})[att["id"]] = att
        return {"name": name, "type": OPTION_ATTACHMENT, "value": att["id"]}
    if isinstance(value, User):
        resolved.setdefault("users", {})[str(value.id)] = {"id": str(value.id)}
        return {"name": name, "type": OPTION_USER, "value": str(value.id)}
    if opt_def is not None:
        kind = int(opt_def["type"])
    elif isinstance(value, bool):
        kind = OPTION_BOOLEAN
    elif isinstance(value, int):
        kind = OPTION_INTEGER
    elif isinstance(value, float):
        kind = OPTION_NUMBER
    else:
        kind = OPTION_STRING
    return {"name": name, "type": kind, "value": value}


def modal_submit_components(
    modal: dict[str, Any], values: Mapping[str, str]
) -> list[dict[str, Any]]:
    """The submitted components of a modal, mirroring its rows/labels with the given values."""

    def walk(component: dict[str, Any]) -> dict[str, Any] | None:
        kind = component.get("type")
        if kind == 1:
            inner = [c for c in (walk(x) for x in component.get("components", [])) if c]
            return {"type": 1, "components": inner}
        if kind == 18:
            child = walk(component.get("component") or {})
            return {"type": 18, "component": child} if child else None
        if kind == 4:
            cid = component["custom_id"]
            return {
                "type": 4,
                "custom_id": cid,
                "value": values.get(cid, component.get("value") or ""),
            }
        return None

    return [c for c in (walk(x) for x in modal.get("components", [])) if c]
