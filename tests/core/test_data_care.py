"""Backups, video retention and provider spend."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from sora_bot.errors import ConfigError
from sora_bot.infra.instance_lock import exclusive_instance
from sora_bot.models import CreditState, JobState, Requester, VideoOptions
from sora_bot.storage.backup import BackupError, backup_database
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


async def live_database(folder: Path) -> Path:
    """A database with one job, left as the bot leaves it (-wal and -shm beside it)."""
    path = folder / "bot.db"
    db = await Database.open(path)
    await make_job(JobStore(db), db, JobState.DELIVERED, folder / "v.mp4", 0.0)
    await db.close()
    with exclusive_instance(path):
        pass  # leaves the .lock file
    # Closing the last connection folds the -wal into the file and removes it: stand-ins.
    for name in ("bot.db-wal", "bot.db-shm"):
        (folder / name).write_bytes(b"companion")
    return path


def fingerprint(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


# Each returns (DATABASE_PATH, destination) for the live database at ``db``.
def _same_path(db: Path) -> tuple[Path, Path]:
    return db, db


def _dotted_path(db: Path) -> tuple[Path, Path]:
    return db, db.parent / "sub" / ".." / db.name


def _wal(db: Path) -> tuple[Path, Path]:
    return db, Path(f"{db}-wal")


def _shm(db: Path) -> tuple[Path, Path]:
    return db, Path(f"{db}-shm")


def _lock(db: Path) -> tuple[Path, Path]:
    return db, Path(f"{db}.lock")


def _symlinked_database(db: Path) -> tuple[Path, Path]:
    link = db.parent.parent / "link.db"
    link.symlink_to(db)
    return link, db


def _symlinked_database_wal(db: Path) -> tuple[Path, Path]:
    link = db.parent.parent / "link.db"
    link.symlink_to(db)
    return link, Path(f"{db}-wal")


def _symlinked_destination(db: Path) -> tuple[Path, Path]:
    link = db.parent.parent / "innocent.db"
    link.symlink_to(db)
    return db, link


def _symlinked_folder(db: Path) -> tuple[Path, Path]:
    folder = db.parent.parent / "elsewhere"
    folder.symlink_to(db.parent)
    return db, folder / db.name


def _hard_link(db: Path) -> tuple[Path, Path]:
    other = db.parent.parent / "hard.db"
    os.link(db, other)
    return db, other


def _its_folder(db: Path) -> tuple[Path, Path]:
    return db, db.parent  # the copy would be written as the database's own name


LIVE_TARGETS: dict[str, Callable[[Path], tuple[Path, Path]]] = {
    "same path": _same_path,
    "same path through ..": _dotted_path,
    "-wal": _wal,
    "-shm": _shm,
    ".lock": _lock,
    "symlinked DATABASE_PATH": _symlinked_database,
    "symlinked DATABASE_PATH, its -wal": _symlinked_database_wal,
    "symlinked destination": _symlinked_destination,
    "destination in a symlinked folder": _symlinked_folder,
    "hard link": _hard_link,
    "the database's folder": _its_folder,
}


@pytest.mark.parametrize("case", list(LIVE_TARGETS))
async def test_backup_never_targets_the_live_database(tmp_path: Path, case: str) -> None:
    live = tmp_path / "data"
    live.mkdir()
    db = await live_database(live)
    before = fingerprint(live)
    database_path, dest = LIVE_TARGETS[case](db)
    with pytest.raises(BackupError, match="refused"):
        backup_database(database_path, dest)
    assert fingerprint(live) == before


async def test_backup_refuses_a_copy_written_over_the_live_database(tmp_path: Path) -> None:
    """The copy is first written as DEST.part: that must not be the live file either."""
    db = await live_database(tmp_path)
    part_db = tmp_path / "copy.db.part"
    db.rename(part_db)
    before = hashlib.sha256(part_db.read_bytes()).hexdigest()
    with pytest.raises(BackupError, match="refused"):
        backup_database(part_db, tmp_path / "copy.db")
    assert hashlib.sha256(part_db.read_bytes()).hexdigest() == before


async def test_backup_into_another_folder_or_beside_the_database(tmp_path: Path) -> None:
    live = tmp_path / "data"
    live.mkdir()
    db = await live_database(live)
    (tmp_path / "backups").mkdir()
    assert backup_database(db, tmp_path / "backups") == 1  # a folder: the database's name
    assert backup_database(db, live / "copy.db") == 1  # the same folder, another name
    assert (tmp_path / "backups" / "bot.db").is_file() and (live / "copy.db").is_file()


async def test_backup_command_refuses_live_files_in_one_line(tmp_path: Path) -> None:
    live = tmp_path / "data"
    live.mkdir()
    db = await live_database(live)
    (tmp_path / "link.db").symlink_to(db)
    os.link(db, tmp_path / "hard.db")
    before = fingerprint(live)
    for database_path, dest in [
        (db, db),
        (tmp_path / "link.db", db),  # DATABASE_PATH through a symlink
        (db, tmp_path / "link.db"),  # the destination a symlink
        (db, tmp_path / "hard.db"),
        (db, Path(f"{db}-wal")),
    ]:
        code, text = await run_cli(tmp_path, "backup", str(dest), DATABASE_PATH=str(database_path))
        assert code == 1 and len(text.splitlines()) == 1 and "refused" in text, text
    assert fingerprint(live) == before


def test_instance_lock_follows_symlinks(tmp_path: Path) -> None:
    """Two processes reaching one database through different names must conflict."""
    db = tmp_path / "data" / "bot.db"
    db.parent.mkdir()
    db.touch()
    (tmp_path / "link.db").symlink_to(db)
    with (
        exclusive_instance(db),
        pytest.raises(ConfigError, match="already in use"),
        exclusive_instance(tmp_path / "link.db"),
    ):
        pass
    with exclusive_instance(tmp_path / "link.db"):  # released with the first holder
        pass
    assert not (tmp_path / "link.db.lock").exists()


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
