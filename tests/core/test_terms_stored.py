"""Blocked terms written before skeleton matching still match, and can still be removed."""

from __future__ import annotations

import pytest

from sora_bot.models import Requester, VideoOptions
from sora_bot.rules.credits import Credits
from sora_bot.rules.guild_admin import GuildAdmin
from sora_bot.rules.policy import GuildPolicy, PolicyRefused
from sora_bot.storage.database import Database
from tests.doubles import FakeClock

G = "g1"
TERM = "\u0441\u0430t"  # "cat" with Cyrillic с and а, as an admin might have pasted it


async def test_old_rows_match_and_are_removed_by_their_text(
    db: Database, credits: Credits, clock: FakeClock
) -> None:
    policy = GuildPolicy(db, credits.settings)
    admin = GuildAdmin(db, credits, policy, clock)
    # The normalized form the previous normalize stored for this text: the text itself.
    await db.execute(
        "INSERT INTO blocked_terms (guild_id, normalized, term, created_by, created_at) "
        "VALUES (?,?,?,?,?)",
        (G, TERM, TERM, "admin", clock()),
    )
    with pytest.raises(PolicyRefused) as refused:
        await policy.check(Requester(G, "c1", "alice"), VideoOptions("a black cat"))
    assert refused.value.term == TERM
    assert await admin.remove_term(G, "admin", TERM)
    assert await policy.terms(G) == []
