"""JobService.precheck: the cheap refusals a front end asks for first, reading only."""

from __future__ import annotations

import pytest

from sora_bot.engine.service import JobService
from sora_bot.models import Requester, VideoOptions
from sora_bot.rules.credits import CreditRefused, Credits
from sora_bot.rules.guild_admin import GuildAdmin
from sora_bot.rules.policy import GuildPolicy, PolicyRefused
from sora_bot.storage.database import Database
from sora_bot.storage.jobs import JobStore
from tests.doubles import FakeClock

ALICE = Requester("g1", "c1", "alice")


@pytest.fixture
def service(db: Database, store: JobStore, credits: Credits, clock: FakeClock) -> JobService:
    policy = GuildPolicy(db, credits.settings)
    return JobService(
        store=store, credits=credits, settings=credits.settings, clock=clock, policy=policy
    )


def admin_of(service: JobService, clock: FakeClock) -> GuildAdmin:
    assert service.policy is not None
    return GuildAdmin(service.policy.db, service.credits, service.policy, clock)


async def jobs_in(db: Database) -> int:
    row = await db.fetchone("SELECT COUNT(*) FROM jobs")
    assert row is not None
    return int(row[0])


async def test_rules_and_credits_refuse_without_writing(
    db: Database, service: JobService, clock: FakeClock
) -> None:
    admin = admin_of(service, clock)
    await service.precheck(ALICE, VideoOptions("a fox"))  # allowed: nothing raised
    await admin.block("g1", "admin", "alice")
    with pytest.raises(PolicyRefused):
        await service.precheck(ALICE, VideoOptions("a fox"))
    await admin.unblock("g1", "admin", "alice")
    await admin.set_paused("g1", "admin", True)
    with pytest.raises(CreditRefused) as paused:
        await service.precheck(ALICE, VideoOptions("a fox"))
    assert paused.value.reason == "paused"
    assert await jobs_in(db) == 0


async def test_submit_still_decides_after_a_passed_precheck(
    db: Database, service: JobService
) -> None:
    # Allowance 30, a 15 s job costs at least 15: two prechecks pass, only one more submit fits.
    options = VideoOptions("a fox", duration=15, remove_watermark=False)
    await service.submit(ALICE, options)
    await service.precheck(ALICE, options)
    await service.precheck(ALICE, options)
    await service.submit(ALICE, options)
    with pytest.raises(CreditRefused):
        await service.submit(ALICE, options)
    assert await jobs_in(db) == 2
