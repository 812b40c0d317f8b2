from __future__ import annotations

import asyncio

import pytest

from sora_bot.models import CreditState, JobState, Requester, VideoOptions
from sora_bot.rules.credits import CreditRefused, Credits, next_reset, utc_day
from sora_bot.storage.database import Database
from sora_bot.storage.jobs import JobStore
from tests.doubles import FakeClock, make_settings

ALICE = Requester("g1", "c1", "alice")
TEN = VideoOptions("a cat", duration=10, remove_watermark=False)  # costs 10


async def test_reserve_until_allowance_then_refuse(credits: Credits) -> None:
    for _ in range(3):
        await credits.reserve(ALICE, TEN, 10)
    with pytest.raises(CreditRefused) as refused:
        await credits.reserve(ALICE, TEN, 10)
    assert refused.value.reason == "allowance"
    assert refused.value.status.remaining == 0
    assert refused.value.status.resets_at == next_reset(credits.clock())


async def test_refund_and_settle_exactly_once(credits: Credits, store: JobStore) -> None:
    job = await credits.reserve(ALICE, TEN, 10)
    now = credits.clock()
    assert await store.finish(
        job.id,
        from_states=[JobState.QUEUED],
        to=JobState.FAILED,
        credits=CreditState.REFUNDED,
        now=now,
    )
    # A second path trying to end the same job changes nothing (no double refund).
    assert not await store.finish(
        job.id,
        from_states=[JobState.QUEUED],
        to=JobState.DELIVERED,
        credits=CreditState.SETTLED,
        now=now,
    )
    assert (await store.require(job.id)).credit_state == "refunded"
    assert (await credits.status(ALICE)).used == 0

    kept = await credits.reserve(ALICE, TEN, 10)
    assert await store.finish(
        kept.id,
        from_states=[JobState.QUEUED],
        to=JobState.DELIVERED,
        credits=CreditState.SETTLED,
        now=now,
    )
    assert (await credits.status(ALICE)).used == 10


async def test_concurrent_submits_never_overspend(credits: Credits) -> None:
    results = await asyncio.gather(
        *(credits.reserve(ALICE, TEN, 10) for _ in range(50)), return_exceptions=True
    )
    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, CreditRefused)]
    assert len(accepted) == 3 and len(refused) == 47
    assert (await credits.status(ALICE)).used == 30


async def test_concurrent_submits_respect_active_cap(
    db: Database, store: JobStore, clock: FakeClock, tmp_path
) -> None:
    capped = Credits(
        db,
        store,
        make_settings(tmp_path, SORA_DAILY_CREDITS="1000", SORA_MAX_ACTIVE_PER_USER="2"),
        clock,
    )
    results = await asyncio.gather(
        *(capped.reserve(ALICE, TEN, 10) for _ in range(20)), return_exceptions=True
    )
    refused = [r for r in results if isinstance(r, CreditRefused)]
    assert len(refused) == 18 and {r.reason for r in refused} == {"active_limit"}


async def test_overrides_roles_and_grants(credits: Credits, db: Database) -> None:
    member = Requester("g1", "c1", "bob", role_ids=("r-small", "r-big"))
    await credits.set_override("g1", "role", "r-small", 15)
    await credits.set_override("g1", "role", "r-big", 60)
    assert (await credits.status(member)).allowance == 60  # most generous role
    await credits.set_override("g1", "user", "bob", 5)
    assert (await credits.status(member)).allowance == 5  # per-user override wins
    await credits.grant("g1", "bob", 20, reason="contest winner", by="admin")
    assert (await credits.status(member)).allowance == 25
    await credits.set_override("g1", "user", "bob", None)
    assert (await credits.status(member)).allowance == 80
    await db.execute("INSERT INTO guild_settings (guild_id, daily_credits) VALUES ('g1', 7)")
    assert (await credits.status(Requester("g1", "c1", "carol"))).allowance == 7


async def test_guild_budget_and_pause(credits: Credits, db: Database) -> None:
    await db.execute("INSERT INTO guild_settings (guild_id, daily_budget) VALUES ('g1', 25)")
    await credits.reserve(Requester("g1", "c", "u1"), TEN, 10)
    await credits.reserve(Requester("g1", "c", "u2"), TEN, 10)
    with pytest.raises(CreditRefused) as refused:
        await credits.reserve(Requester("g1", "c", "u3"), TEN, 10)
    assert refused.value.reason == "budget"
    await credits.reserve(Requester("g2", "c", "u3"), TEN, 10)  # other guilds unaffected
    await db.execute("UPDATE guild_settings SET paused = 1 WHERE guild_id = 'g1'")
    with pytest.raises(CreditRefused) as paused:
        await credits.reserve(Requester("g1", "c", "u4"), TEN, 1)
    assert paused.value.reason == "paused"


async def test_allowance_resets_at_utc_midnight(credits: Credits, clock: FakeClock) -> None:
    for _ in range(3):
        await credits.reserve(ALICE, TEN, 10)
    today = utc_day(clock())
    clock.now = next_reset(clock())
    assert utc_day(clock()) != today
    assert (await credits.status(ALICE)).used == 0
    await credits.reserve(ALICE, TEN, 10)


async def test_uncharged_jobs_cost_nothing(credits: Credits) -> None:
    job = await credits.reserve(ALICE, TEN, 10, charge=False)
    assert job.cost == 0 and job.credit_state == "none"
