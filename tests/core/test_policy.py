from __future__ import annotations

import json
from pathlib import Path

import pytest

from sora_bot.engine.service import JobService
from sora_bot.errors import InvalidInput
from sora_bot.models import CreditState, JobState, Requester, VideoOptions
from sora_bot.rules import guild_admin as admin_module
from sora_bot.rules.credits import CreditRefused, Credits
from sora_bot.rules.guild_admin import GuildAdmin
from sora_bot.rules.policy import GuildPolicy, PolicyRefused
from sora_bot.storage.database import Database
from sora_bot.storage.jobs import JobStore
from tests.doubles import FakeClock, make_settings

G = "g1"
ADMIN = "admin"
ALICE = Requester(G, "c1", "alice")
PROMPT = VideoOptions("a quiet harbour at dusk")


@pytest.fixture
def policy(db: Database, credits: Credits) -> GuildPolicy:
    return GuildPolicy(db, credits.settings)


@pytest.fixture
def admin(db: Database, credits: Credits, policy: GuildPolicy, clock: FakeClock) -> GuildAdmin:
    return GuildAdmin(db, credits, policy, clock)


@pytest.fixture
def jobs(store: JobStore, credits: Credits, policy: GuildPolicy, clock: FakeClock) -> JobService:
    return JobService(
        store=store, credits=credits, settings=credits.settings, clock=clock, policy=policy
    )


async def audit_actions(db: Database) -> list[tuple[str, str, dict[str, object]]]:
    rows = await db.fetchall("SELECT actor_id, action, details FROM admin_actions ORDER BY id")
    return [(r["actor_id"], r["action"], json.loads(r["details"])) for r in rows]


async def test_builtin_defaults_then_guild_defaults_fill_only_missing_options(
    policy: GuildPolicy, admin: GuildAdmin
) -> None:
    plain = await policy.options_for(G, "a fox")
    assert (plain.aspect_ratio, plain.duration, plain.remove_watermark) == ("16:9", 10, True)

    await admin.set_defaults(G, ADMIN, aspect_ratio="9:16", duration=15, keep_watermark=True)
    guild = await policy.options_for(G, "a fox")
    assert (guild.aspect_ratio, guild.duration, guild.remove_watermark) == ("9:16", 15, False)
    chosen = await policy.options_for(
        G, "a fox", aspect_ratio="16:9", duration=10, keep_watermark=False
    )
    assert (chosen.aspect_ratio, chosen.duration, chosen.remove_watermark) == ("16:9", 10, True)
    other_guild = await policy.options_for("g2", "a fox")
    assert other_guild.aspect_ratio == "16:9"

    await admin.set_defaults(G, ADMIN, reset=True)
    assert await policy.options_for(G, "a fox") == plain


async def test_invalid_defaults_are_refused_without_audit(admin: GuildAdmin, db: Database) -> None:
    with pytest.raises(InvalidInput):
        await admin.set_defaults(G, ADMIN, aspect_ratio="4:3")
    with pytest.raises(InvalidInput):
        await admin.set_defaults(G, ADMIN, watermark_surcharge=-1)
    assert await audit_actions(db) == []


async def test_guild_watermark_surcharge_sets_the_cost(admin: GuildAdmin, jobs: JobService) -> None:
    no_mark = VideoOptions("x", duration=10, remove_watermark=True)
    assert await jobs.cost_in(G, no_mark) == 10 + jobs.settings.watermark_surcharge
    await admin.set_defaults(G, ADMIN, watermark_surcharge=0)
    assert await jobs.cost_in(G, no_mark) == 10
    job = await jobs.submit(ALICE, no_mark)
    assert job.cost == 10
    await admin.set_defaults(G, ADMIN, watermark_surcharge=7)
    assert (await jobs.submit(ALICE, no_mark)).cost == 17
    assert await jobs.cost_in("g2", no_mark) == 10 + jobs.settings.watermark_surcharge


async def test_blocked_member_is_refused_until_unblocked(
    policy: GuildPolicy, admin: GuildAdmin
) -> None:
    assert await admin.block(G, ADMIN, "alice", "spam")
    assert not await admin.block(G, ADMIN, "alice")  # already blocked
    with pytest.raises(PolicyRefused) as refused:
        await policy.check(ALICE, PROMPT)
    assert refused.value.reason == "blocked"
    await policy.check(Requester("g2", "c1", "alice"), PROMPT)  # other guilds unaffected
    assert await admin.unblock(G, ADMIN, "alice")
    assert not await admin.unblock(G, ADMIN, "alice")
    await policy.check(ALICE, PROMPT)


async def test_channel_allow_list(policy: GuildPolicy, admin: GuildAdmin) -> None:
    await policy.check(ALICE, PROMPT)  # empty list: everywhere
    await admin.allow_channel(G, ADMIN, "c2")
    with pytest.raises(PolicyRefused) as refused:
        await policy.check(ALICE, PROMPT)
    assert refused.value.reason == "channel" and "<#c2>" in str(refused.value)
    await policy.check(Requester(G, "c2", "alice"), PROMPT)
    assert await admin.remove_channel(G, ADMIN, "c2")
    assert not await admin.remove_channel(G, ADMIN, "c2")
    await policy.check(ALICE, PROMPT)
    await admin.allow_channel(G, ADMIN, "c3")
    await admin.clear_channels(G, ADMIN)
    await policy.check(ALICE, PROMPT)


async def test_blocked_term_names_only_the_matched_rule(
    policy: GuildPolicy, admin: GuildAdmin
) -> None:
    await admin.add_term(G, ADMIN, "secret other rule")
    term, new = await admin.add_term(G, ADMIN, "Harbour")
    assert new and term.term == "Harbour"
    _, again = await admin.add_term(G, ADMIN, "HARBOUR")  # same normalized form
    assert not again
    with pytest.raises(PolicyRefused) as refused:
        await policy.check(ALICE, VideoOptions("a quiet hárbour at dusk"))
    assert refused.value.reason == "term" and refused.value.term == "Harbour"
    assert "Harbour" in str(refused.value) and "secret" not in str(refused.value)
    assert await admin.remove_term(G, ADMIN, "harbour")
    await policy.check(ALICE, PROMPT)
    assert [t.term for t in await policy.terms(G)] == ["secret other rule"]


async def test_refused_submit_creates_no_job(
    admin: GuildAdmin, jobs: JobService, store: JobStore
) -> None:
    await admin.add_term(G, ADMIN, "harbour")
    with pytest.raises(PolicyRefused):
        await jobs.submit(ALICE, PROMPT)
    assert await store.recent_for_user(G, "alice") == []
    assert (await jobs.quota(ALICE)).used == 0


async def test_pause_uses_the_credits_flag(
    policy: GuildPolicy, admin: GuildAdmin, jobs: JobService
) -> None:
    await admin.set_paused(G, ADMIN, True)
    with pytest.raises(CreditRefused) as refused:
        await jobs.submit(ALICE, PROMPT)
    assert refused.value.reason == "paused"
    assert (await policy.overview(G)).paused
    await admin.set_paused(G, ADMIN, False)
    await jobs.submit(ALICE, PROMPT)


async def test_role_allowance_is_the_most_generous_role_and_user_override_wins(
    policy: GuildPolicy, admin: GuildAdmin, credits: Credits
) -> None:
    member = Requester(G, "c1", "bob", role_ids=("r-small", "r-big", "r-none"))
    assert (await credits.status(member)).allowance == 30  # the bot default
    await admin.set_daily_credits(G, ADMIN, 20)
    assert (await credits.status(member)).allowance == 20
    await admin.set_allowance(G, ADMIN, "role", "r-small", 25)
    await admin.set_allowance(G, ADMIN, "role", "r-big", 60)
    assert (await credits.status(member)).allowance == 60
    assert (await credits.status(Requester(G, "c1", "x", ("r-small",)))).allowance == 25
    await admin.set_allowance(G, ADMIN, "user", "bob", 5)
    assert (await credits.status(member)).allowance == 5
    await admin.set_allowance(G, ADMIN, "user", "bob", None)
    await admin.set_allowance(G, ADMIN, "role", "r-big", None)
    assert (await credits.status(member)).allowance == 25
    view = await policy.overview(G)
    assert view.daily_credits == 20 and view.daily_credits_custom
    assert view.role_allowances == {"r-small": 25} and view.user_allowances == {}


async def test_grant_and_reset_day(admin: GuildAdmin, jobs: JobService) -> None:
    ten = VideoOptions("x", duration=10, remove_watermark=False)
    for _ in range(3):
        await jobs.submit(ALICE, ten)
    assert (await jobs.quota(ALICE)).remaining == 0
    assert await admin.reset_day(G, ADMIN, "alice") == 30
    assert (await jobs.quota(ALICE)).remaining == 30
    await admin.grant(G, ADMIN, "alice", 10, "contest winner")
    assert (await jobs.quota(ALICE)).remaining == 40
    assert await admin.reset_day(G, ADMIN, "nobody") == 0


async def test_reset_gives_each_credit_back_once(
    admin: GuildAdmin, jobs: JobService, store: JobStore, clock: FakeClock
) -> None:
    """Allowance 30: credits in flight at the reset are not refunded again when the job ends."""
    fifteen = VideoOptions("x", duration=15, remove_watermark=False)
    first = await jobs.submit(ALICE, fifteen)
    second = await jobs.submit(ALICE, fifteen)
    assert (await jobs.quota(ALICE)).remaining == 0
    assert await admin.reset_day(G, ADMIN, "alice") == 30
    assert (await jobs.quota(ALICE)).remaining == 30
    for job in (first, second):
        assert await store.finish(
            job.id,
            from_states=[job.state],
            to=JobState.FAILED,
            credits=CreditState.REFUNDED,
            now=clock(),
        )
    assert (await jobs.quota(ALICE)).remaining == 30  # not 60
    # A failed job is refunded even after a reset: it no longer counts for the guild budget.
    assert (await store.require(first.id)).credit_state == "refunded"

    # Settled credits come back too, in-flight ones stay given back when the job succeeds,
    # and a second reset has nothing left to give.
    bob = Requester(G, "c1", "bob")
    done = await jobs.submit(bob, fifteen)
    await store.finish(
        done.id,
        from_states=[done.state],
        to=JobState.DELIVERED,
        credits=CreditState.SETTLED,
        now=clock(),
    )
    later = await jobs.submit(bob, fifteen)
    assert await admin.reset_day(G, ADMIN, "bob") == 30
    await store.finish(
        later.id,
        from_states=[later.state],
        to=JobState.DELIVERED,
        credits=CreditState.SETTLED,
        now=clock(),
    )
    assert (await jobs.quota(bob)).remaining == 30
    assert await admin.reset_day(G, ADMIN, "bob") == 0
    assert (await jobs.quota(bob)).remaining == 30


async def test_budget_none_zero_and_value(tmp_path: Path, db: Database, store: JobStore) -> None:
    clock = FakeClock()
    settings = make_settings(tmp_path, SORA_GUILD_DAILY_BUDGET="100")
    policy = GuildPolicy(db, settings)
    admin = GuildAdmin(db, Credits(db, store, settings, clock), policy, clock)
    assert (await policy.overview(G)).daily_budget == 100
    await admin.set_budget(G, ADMIN, 40)
    assert (await policy.overview(G)).daily_budget == 40
    await admin.set_budget(G, ADMIN, 0)
    assert (await policy.overview(G)).daily_budget is None
    await admin.set_budget(G, ADMIN, None)
    assert (await policy.overview(G)).daily_budget == 100


async def test_every_admin_action_is_audited(admin: GuildAdmin, db: Database) -> None:
    await admin.set_paused(G, "a1", True)
    await admin.set_paused(G, "a1", False)
    await admin.set_daily_credits(G, "a2", 50)
    await admin.set_allowance(G, "a2", "role", "r1", 80)
    await admin.set_allowance(G, "a2", "user", "u1", 5)
    await admin.grant(G, "a2", "u1", 10, "thanks")
    await admin.reset_day(G, "a2", "u1")
    await admin.set_budget(G, "a2", 300)
    await admin.block(G, "a3", "u2", "spam")
    await admin.unblock(G, "a3", "u2")
    await admin.allow_channel(G, "a3", "c9")
    await admin.remove_channel(G, "a3", "c9")
    await admin.clear_channels(G, "a3")
    await admin.add_term(G, "a3", "Dragon")
    await admin.remove_term(G, "a3", "dragon")
    await admin.set_defaults(G, "a3", duration=15)
    await admin.set_defaults(G, "a3")  # no option: only a look, nothing recorded
    rows = await audit_actions(db)
    assert [action for _, action, _ in rows] == [
        "pause",
        "resume",
        "allowance_default",
        "allowance_role",
        "allowance_user",
        "grant",
        "reset_user",
        "budget",
        "block",
        "unblock",
        "channel_allow",
        "channel_remove",
        "channels_clear",
        "term_add",
        "term_remove",
        "defaults",
    ]
    assert [actor for actor, _, _ in rows][:3] == ["a1", "a1", "a2"]
    assert rows[5][2] == {"target": "u1", "credits": 10, "reason": "thanks"}
    assert rows[6][2] == {"target": "u1", "credits": 0}
    assert rows[15][2] == {"default_duration": 15}


async def test_failed_action_leaves_no_audit_row(
    policy: GuildPolicy, admin: GuildAdmin, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin_module, "MAX_TERMS", 1)
    await admin.add_term(G, ADMIN, "one")
    with pytest.raises(InvalidInput):
        await admin.add_term(G, ADMIN, "two")
    assert [a for _, a, _ in await audit_actions(db)] == ["term_add"]
    assert [t.term for t in await policy.terms(G)] == ["one"]
