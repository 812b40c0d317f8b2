"""Backups, video retention and provider spend."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from sora_bot.models import CreditState, JobState, Requester, VideoOptions
from sora_bot.storage.backup import backup_database
from sora_bot.storage.database import Database
from sora_bot.storage.jobs import JobStore
from sora_bot.storage.retention import Retention
from tests.doubles import (
    FakeClock,
    RecordingDelivery,
    make_settings,
    run_cli,
    running_core,
    running_provider,
)

ALICE = Requester("g1", "c1", "alice")
DAY = 86400.0


async def test_backup_while_running_restores_and_reads_a_job(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.2, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery) as core,
    ):
        job = await core.jobs.submit(ALICE, VideoOptions("a quiet harbour"))
        async with asyncio.timeout(10):
            await delivery.finished.wait()
        await asyncio.sleep(0.1)
        # The bot keeps its connection open (WAL) while the copy is made.
        jobs = await asyncio.to_thread(
            backup_database, core.settings.database_path, tmp_path / "b" / "copy.db"
        )
    assert jobs == 1
    copy = await Database.open(tmp_path / "b" / "copy.db")
    try:
        restored = await JobStore(copy).require(job.id)
    finally:
        await copy.close()
    assert restored.prompt == "a quiet harbour" and restored.state is JobState.DELIVERED
    assert restored.provider_credits == 7  # usage.credits_reserved of the create answer
    assert not list((tmp_path / "b").glob("*.part"))


async def test_backup_command(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "bot.db")
    await db.close()
    code, text = await run_cli(tmp_path, "backup", str(tmp_path / "copy.db"))
    assert code == 0, text
    assert "0 jobs" in text and (tmp_path / "copy.db").is_file()
    code, text = await run_cli(
        tmp_path, "backup", str(tmp_path / "x.db"), DATABASE_PATH=str(tmp_path / "missing.db")
    )
    assert code == 1 and "no database" in text
    assert not (tmp_path / "missing.db").exists()


async def make_job(store: JobStore, db: Database, state: JobState, file: Path, now: float) -> int:
    async with db.transaction() as conn:
        job = await store.insert(
            conn,
            requester=ALICE,
            options=VideoOptions("x"),
            cost=10,
            credit_day="2026-01-01",
            credit_state=CreditState.SETTLED,
            state=state,
            now=now,
        )
    await store.transition(job.id, None, changes={"file_path": str(file)}, now=now)
    return job.id


def write(path: Path, size: int, mtime: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.truncate(size)  # sparse where the file system allows: only the size matters
    os.utime(path, (mtime, mtime))


async def test_retention_removes_old_and_excess_files_of_final_jobs_only(
    tmp_path: Path, db: Database, store: JobStore
) -> None:
    clock = FakeClock()
    now = clock()
    videos = tmp_path / "videos"
    settings = make_settings(tmp_path, SORA_VIDEO_RETENTION_DAYS="7", SORA_MAX_DISK_MB="5")
    mib = 1024 * 1024
    old_done = await make_job(store, db, JobState.DELIVERED, videos / "job-1.mp4", now)
    old_pending = await make_job(store, db, JobState.COMPLETED, videos / "job-2.mp4", now)
    mid_done = await make_job(store, db, JobState.UNDELIVERABLE, videos / "job-3.mp4", now)
    new_done = await make_job(store, db, JobState.DELIVERED, videos / "job-4.mp4", now)
    running = await make_job(store, db, JobState.RUNNING, videos / "job-5.mp4", now)
    write(videos / "job-1.mp4", mib, now - 30 * DAY)  # past retention
    write(videos / "job-1-9961472.mp4", mib // 2, now - 30 * DAY)  # its re-encoded copy
    write(videos / "job-2.mp4", mib, now - 30 * DAY)  # old, but not posted yet: kept
    write(videos / "job-3.mp4", mib, now - 3 * DAY)  # oldest final one within retention
    write(videos / "job-4.mp4", mib, now - 1 * DAY)
    write(videos / "job-5.mp4.part", 2 * mib, now - 40 * DAY)  # downloading: kept
    write(videos / "job-99.mp4", 10, now - 1)  # no such job: the newest, within bounds
    write(videos / "notes.txt", 10, now - 90 * DAY)  # not ours: never touched
    removed = await Retention(store, settings, clock).sweep()
    # Age removes job-1 and its copy (5 MiB + 10 bytes left); the 5 MiB bound then takes the
    # oldest removable file: not job-3, whose user was told the bot keeps it (undeliverable),
    # but job-4. Files of unfinished jobs count towards the bound all the same.
    assert sorted(p.name for p in removed) == ["job-1-9961472.mp4", "job-1.mp4", "job-4.mp4"]
    remaining = sorted(p.name for p in videos.iterdir())
    assert remaining == ["job-2.mp4", "job-3.mp4", "job-5.mp4.part", "job-99.mp4", "notes.txt"]
    assert (await store.require(old_done)).file_path is None
    assert (await store.require(mid_done)).file_path is not None
    assert (await store.require(old_pending)).file_path is not None
    assert (await store.require(new_done)).file_path is None
    assert (await store.require(running)).file_path is not None


async def test_retention_disk_bound_spares_copies_the_user_was_promised(
    tmp_path: Path, db: Database, store: JobStore
) -> None:
    """Undeliverable videos and videos perhaps posted as a link go by age only."""
    clock = FakeClock()
    now = clock()
    videos = tmp_path / "videos"
    settings = make_settings(tmp_path, SORA_VIDEO_RETENTION_DAYS="7", SORA_MAX_DISK_MB="1")
    mib = 1024 * 1024
    big = await make_job(store, db, JobState.DELIVERED, videos / "job-1.mp4", now)
    lost = await make_job(store, db, JobState.UNDELIVERABLE, videos / "job-2.mp4", now)
    small = await make_job(store, db, JobState.DELIVERED, videos / "job-3.mp4", now)
    await make_job(store, db, JobState.UNDELIVERABLE, videos / "job-4.mp4", now)
    await make_job(store, db, JobState.DELIVERED, videos / "job-5.mp4", now)
    write(videos / "job-1.mp4", 12 * mib, now - 2 * DAY)  # over 10 MiB: maybe a link post
    write(videos / "job-1-4980736.mp4", 4 * mib, now - 2 * DAY)  # its re-encoded copy
    write(videos / "job-2.mp4", mib, now - 3 * DAY)  # "a server admin can fetch it"
    write(videos / "job-3.mp4", mib, now - 1 * DAY)  # uploaded: nothing promised
    write(videos / "job-4.mp4", mib, now - 10 * DAY)  # promised, but past retention
    write(videos / "job-5.mp4", 12 * mib, now - 10 * DAY)  # promised, but past retention
    retention = Retention(store, settings, clock)
    removed = await retention.sweep()
    assert sorted(p.name for p in removed) == [
        "job-1-4980736.mp4",
        "job-3.mp4",
        "job-4.mp4",
        "job-5.mp4",
    ]
    assert sorted(p.name for p in videos.iterdir()) == ["job-1.mp4", "job-2.mp4"]
    assert (await store.require(big)).file_path is not None
    assert (await store.require(lost)).file_path is not None
    assert (await store.require(small)).file_path is None
    assert await retention.sweep() == []  # still over the bound: nothing more may go
    clock.advance(6 * DAY)  # now past retention: age removes them
    assert sorted(p.name for p in await retention.sweep()) == ["job-1.mp4", "job-2.mp4"]


async def test_provider_spend_per_day(tmp_path: Path) -> None:
    delivery = RecordingDelivery()
    async with (
        running_provider(task_seconds=0.1, estimated_time=1) as double,
        running_core(tmp_path, double.base_url, delivery) as core,
    ):
        await core.jobs.submit(ALICE, VideoOptions("one", duration=15))
        await core.jobs.submit(Requester("g2", "c1", "bob"), VideoOptions("two"))
        async with asyncio.timeout(10):
            while len(delivery.videos) < 2:
                await asyncio.sleep(0.02)
        everywhere = await core.store.provider_spend()
        g1 = await core.store.provider_spend(guild_id="g1")
    assert len(everywhere) == 1 and everywhere[0].jobs == 2
    assert everywhere[0].provider_credits == 10 + 7  # 15 s + no watermark, 10 s + no watermark
    assert g1[0].provider_credits == 10 and g1[0].user_credits == 20
