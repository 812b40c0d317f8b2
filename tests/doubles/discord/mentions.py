"""Who a message pings: Discord's rules for content plus `allowed_mentions`."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")
EVERYONE_MENTION = re.compile(r"@(everyone|here)")


@dataclass(frozen=True)
class Pings:
    """The result of mention resolution."""

    users: set[int] = field(default_factory=set)
    roles: set[int] = field(default_factory=set)
    everyone: bool = False


@dataclass(frozen=True)
class MentionContext:
    """What the resolver needs to know about the guild and the author."""

    known_user_ids: set[int]
    mentionable_role_ids: set[int]
    all_role_ids: set[int]
    can_mention_everyone: bool
    replied_author_id: int | None = None


def allowed_mentions_error(allowed: dict[str, Any] | None) -> str | None:
    """Discord rejects `parse` together with an explicit list of the same kind."""
    if not allowed:
        return None
    parse = allowed.get("parse") or []
    for kind in ("users", "roles"):
        if kind in parse and allowed.get(kind):
            return f"parse contains {kind!r} and {kind} is given (mutually exclusive)"
    return None


def resolve_pings(content: str, allowed: dict[str, Any] | None, ctx: MentionContext) -> Pings:
    """Compute the pings of `content` the way Discord does."""
    content_users = {int(u) for u in USER_MENTION.findall(content)} & ctx.known_user_ids
    content_roles = {int(r) for r in ROLE_MENTION.findall(content)} & ctx.all_role_ids
    has_everyone = EVERYONE_MENTION.search(content) is not None
    if allowed is None:
        users = set(content_users)
        roles = _role_pings(content_roles, ctx)
        everyone = has_everyone and ctx.can_mention_everyone
        if ctx.replied_author_id is not None:
            users.add(ctx.replied_author_id)
        return Pings(users, roles, everyone)
    parse = set(allowed.get("parse") or [])
    explicit_users = {int(u) for u in allowed.get("users") or []}
    explicit_roles = {int(r) for r in allowed.get("roles") or []}
    users = content_users if "users" in parse else content_users & explicit_users
    roles = _role_pings(content_roles if "roles" in parse else content_roles & explicit_roles, ctx)
    everyone = has_everyone and "everyone" in parse and ctx.can_mention_everyone
    if ctx.replied_author_id is not None and allowed.get("replied_user"):
        users = users | {ctx.replied_author_id}
    return Pings(set(users), roles, everyone)


def _role_pings(roles: set[int], ctx: MentionContext) -> set[int]:
    if ctx.can_mention_everyone:
        return set(roles)
    return roles & ctx.mentionable_role_ids
