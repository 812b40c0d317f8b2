"""Simulation mode: lifecycle from the id and the clock, moderation, real mp4s, no key."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sora_bot.media import probe_video
from sora_bot.models import JobState, Requester, TaskStatus, VideoOptions
from sora_bot.provider.errors import NotFound
from sora_bot.provider.simulator import SimulatedProvider, SimulatedTask
from sora_bot.settings import DEFAULT_SIMULATE_MODERATION, load_settings
from tests.doubles import FakeClock, RecordingDelivery, running_core

ALICE = Requester("g1", "c1", "alice")


def simulator(clock: FakeClock, speed: float = 1.0) -> SimulatedProvider:
    return SimulatedProvider(speed=speed, moderation=DEFAULT_SIMULATE_MODERATION, clock=clock)


async def test_lifecycle_follows_the_clock_and_survives_a_restart() -> None:
    clock = FakeClock()
    task = await simulator(clock).create(VideoOptions("a fox", duration=15, aspect_ratio="9:16"))
    assert task.status is TaskStatus.PENDING and task.estimated_time == 210
    assert task.credits_reserved == 0
    sim = SimulatedTask.parse(task.id)
    assert sim is not None and sim.duration == 15 and sim.aspect_ratio == "9:16"
    assert 0.8 * 210 <= sim.run_seconds <= 1.2 * 210
    seen = []
    for _ in range(30):
        clock.advance(sim.run_seconds / 20)
        restarted = simulator(clock)  # a new process knows nothing but the id
        now = await restarted.get_task(task.id)
        seen.append((now.status, now.progress))
    statuses = [s for s, _ in seen]
    assert statuses[0] is TaskStatus.PENDING and statuses[-1] is TaskStatus.COMPLETED
    assert TaskStatus.PROCESSING in statuses
    progress = [p for s, p in seen if s is TaskStatus.PROCESSING]
    assert progress == sorted(progress) and 0 < progress[0] < progress[-1] < 100
    done = await simulator(clock).get_task(task.id)
    assert done.results == (f"simulated://{task.id}.mp4",)


async def test_speed_scales_the_timings() -> None:
    clock = FakeClock()
    task = await simulator(clock, speed=10).create(VideoOptions("a fox"))
    assert task.estimated_time == 15
    clock.advance(18.1)  # at most 1.2 × 150 s / 10
    assert (await simulator(clock, speed=10).get_task(task.id)).status is TaskStatus.COMPLETED


async def test_moderation_pattern_fails_fast_with_the_provider_code() -> None:
    clock = FakeClock()
    task = await simulator(clock).create(VideoOptions("a CELEBRITY dancing"))
    clock.advance(150 * 0.15)
    failed = await simulator(clock).get_task(task.id)
    assert failed.status is TaskStatus.FAILED
    assert failed.error_code == "content_policy_violation" and "simulated" in (
        failed.error_message or ""
    )


async def test_unknown_ids_are_not_found() -> None:
    with pytest.raises(NotFound):
        await simulator(FakeClock()).get_task("task-unified-1757169743-7cvnl5zw")


async def test_download_makes_a_real_mp4_of_the_asked_shape(tmp_path: Path) -> None:
    clock = FakeClock()
    sim = simulator(clock, speed=1000)
    task = await sim.create(VideoOptions("a fox in the snow", aspect_ratio="9:16"))
    clock.advance(1)
    done = await sim.get_task(task.id)
    size = await sim.download(done.results[0], tmp_path / "job-1.mp4", max_bytes=10**8)
    info = await probe_video(tmp_path / "job-1.mp4")
    assert size == info.size and 9.5 <= info.duration <= 10.5
    assert info.height > info.width
    assert not list(tmp_path.glob("*.part"))


def test_no_key_needed_and_bad_pattern_named() -> None:
    settings = load_settings({"SORA_SIMULATE": "1"})
    assert settings.simulate and not settings.needs_api_key
    from sora_bot.errors import ConfigError

    with pytest.raises(ConfigError, match="SORA_SIMULATE_MODERATION"):
        load_settings({"SORA_SIMULATE": "1", "SORA_SIMULATE_MODERATION": "(unclosed"})
    with pytest.raises(ConfigError, match="SORA_SIMULATE"):
        load_settings({"SORA_SIMULATE": "maybe"})


async def test_worker_runs_simulated_jobs_to_the_end(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with running_core(
        tmp_path,
        "http://127.0.0.1:9",
        delivery,
        SORA_SIMULATE="1",
        SORA_SIMULATE_SPEED="300",
        SORA_API_KEY="",
    ) as core:
        ok = await core.jobs.submit(ALICE, VideoOptions("a paper boat", remove_watermark=False))
        blocked = await core.jobs.submit(
            Requester("g1", "c1", "bob"), VideoOptions("gore everywhere", remove_watermark=False)
        )
        async with asyncio.timeout(20):
            while len(delivery.videos) + len(delivery.failures) < 2:
                await asyncio.sleep(0.05)
        done = await core.store.require(ok.id)
        refused = await core.store.require(blocked.id)
    assert done.state is JobState.DELIVERED and done.task_id and done.task_id.startswith("sim-")
    assert done.provider_credits == 0
    assert delivery.videos[0][1][4:8] == b"ftyp"  # a real mp4
    assert refused.state is JobState.FAILED
    assert refused.error_code == "content_policy_violation" and refused.credit_state == "refunded"
