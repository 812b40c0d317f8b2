"""Command line: ``generate`` runs one job through the core, ``doctor`` checks the set-up."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

import aiohttp

from sora_bot import outcome_texts
from sora_bot.core import open_core
from sora_bot.engine.delivery import DeliveryError
from sora_bot.errors import ConfigError, InvalidInput
from sora_bot.infra.logs import configure_logging
from sora_bot.models import ASPECT_RATIOS, DURATIONS, Job, JobState, Requester, VideoOptions
from sora_bot.provider.errors import AuthenticationFailed, ProviderError
from sora_bot.provider.protocol import build_provider
from sora_bot.rules.validation import build_options, clean_prompt
from sora_bot.settings import Settings, load_settings
from sora_bot.storage.backup import BackupError, backup_database
from sora_bot.storage.database import Database
from sora_bot.storage.meta import MetaStore

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CONFIG = 0, 1, 2, 3
CLI_REQUESTER = Requester(guild_id="cli", channel_id="cli", user_id="cli")


class CliDelivery:
    """Delivery for the terminal: progress on stderr, the video copied to ``--out``."""

    def __init__(self, out: Path, stream: TextIO) -> None:
        self.out = out
        self.stream = stream
        self.failure: str | None = None
        self.done = asyncio.Event()

    async def job_updated(self, job: Job, *, queue_position: int | None = None) -> None:
        """Draw a progress bar on a terminal, or a plain line otherwise."""
        bar = "#" * (job.progress // 5) + "-" * (20 - job.progress // 5)
        line = f"[{bar}] {job.progress:3d}%  {job.state.value}"
        if queue_position is not None:
            line += f" (position {queue_position})"
        if self.stream.isatty():
            self.stream.write("\r" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    async def deliver_video(self, job: Job, path: Path) -> str:
        """Copy the downloaded video to the requested file."""
        try:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            await asyncio.to_thread(shutil.copyfile, path, self.out)
        except OSError as exc:
            raise DeliveryError(
                f"cannot write {self.out}: {exc.strerror}", retryable=False
            ) from exc
        self.done.set()
        return str(self.out)

    async def deliver_failure(self, job: Job, text: str) -> str:
        """Remember the message; ``generate`` prints it and exits 1."""
        self.failure = text
        self.done.set()
        return "stderr"

    async def find_posted(self, job: Job) -> str | None:
        """Nothing to recover: a command-line job lives as long as the command."""
        return None

    async def show_final_status(self, job: Job) -> bool:
        """The outcome is the final word on a terminal: no status display to change."""
        return True


def _check_writable(out: Path) -> None:
    """Refuse an --out that can never be written, before anything is spent."""
    folder = out.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if out.is_dir() or not folder.is_dir() or not os.access(folder, os.W_OK):
        raise InvalidInput(f"cannot write the video to {out}: choose a file in a writable folder")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sora_bot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="make one video and save it")
    gen.add_argument("prompt")
    gen.add_argument("--out", required=True, type=Path, help="where to save the mp4")
    gen.add_argument("--image-url", help="image-to-video: a directly downloadable jpg/png/webp")
    gen.add_argument("--aspect-ratio", default="16:9", choices=ASPECT_RATIOS)
    gen.add_argument("--duration", default=10, type=int, choices=DURATIONS)
    gen.add_argument(
        "--keep-watermark", action="store_true", help="keep the provider's watermark (cheaper)"
    )
    sub.add_parser("doctor", help="check settings, database and the provider key")
    backup = sub.add_parser("backup", help="copy the database safely while the bot runs")
    backup.add_argument(
        "dest", type=Path, help="the file (or folder) to write; an old backup there is replaced"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad options, which is our bad-input code
        return int(exc.code or 0)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    # Progress goes to stderr too: below DEBUG, only warnings and errors are logged.
    level = logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING
    configure_logging(level, settings.secrets(), log_prompts=settings.log_prompts)
    if args.command == "doctor":
        return asyncio.run(doctor(settings, sys.stdout))
    if args.command == "backup":
        return backup(settings, args.dest, sys.stdout)
    try:
        options = build_options(
            clean_prompt(args.prompt),
            aspect_ratio=args.aspect_ratio,
            duration=args.duration,
            remove_watermark=not args.keep_watermark,
            image_url=args.image_url,
        )
        _check_writable(args.out)
    except InvalidInput as exc:
        print(f"bad input: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        if settings.needs_api_key:
            settings.require_api_key()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return asyncio.run(generate(settings, options, args.out, sys.stderr))


async def generate(settings: Settings, options: VideoOptions, out: Path, stream: TextIO) -> int:
    """Run one job to its end with a throw-away database; returns the exit code."""
    delivery = CliDelivery(out, stream)
    with tempfile.TemporaryDirectory(prefix="sora-cli-") as tmp:
        # Credits aside: the command line keeps its own database and download folder, and
        # polls (nothing here serves callbacks).
        local = replace(
            settings,
            database_path=Path(tmp) / "cli.db",
            download_dir=Path(tmp) / "videos",
            callback_url=None,
        )
        async with aiohttp.ClientSession() as session, open_core(local, session, delivery) as core:
            job = await core.jobs.submit(CLI_REQUESTER, options, charge=False)
            core.worker.start()
            await delivery.done.wait()
            final = await core.store.require(job.id)
    if stream.isatty():
        stream.write("\n")
    if final.state is JobState.DELIVERED:
        note = " (simulation: a test pattern, no provider was called)" if settings.simulate else ""
        print(f"saved {out}{note}", file=stream)
        return EXIT_OK
    print(delivery.failure or outcome_texts.job_outcome(final), file=stream)
    return EXIT_FAILED


async def doctor(settings: Settings, out: TextIO) -> int:
    """Check settings, the database and the provider key; say precisely what to fix."""
    problems = 0

    def report(ok: bool, what: str, fix: str = "") -> None:
        nonlocal problems
        problems += not ok
        print(f"[{'ok' if ok else 'FAIL'}] {what}" + ("" if ok else f" — {fix}"), file=out)

    where = "built-in simulator, SORA_SIMULATE=1" if settings.simulate else settings.api_base
    report(True, f"settings loaded (provider {where})")
    try:
        db = await Database.open(settings.database_path)
        version = await db.schema_version()
        await MetaStore(db).set("doctor_checked_at", str(time.time()))
        await db.close()
        report(True, f"database {settings.database_path} writable, schema version {version}")
    except Exception as exc:
        report(
            False,
            f"database {settings.database_path}",
            f"cannot open or write it ({type(exc).__name__}: {exc}); check DATABASE_PATH "
            "and the folder's permissions",
        )
    if settings.simulate:
        report(True, "simulation mode: no provider key needed, no credits spent")
    elif not settings.api_key:
        report(False, "provider key", "SORA_API_KEY is not set: put your provider key in .env")
    else:
        async with aiohttp.ClientSession() as session:
            client = build_provider(settings, session, max_retries=1)
            try:
                await client.check_key()
                report(True, "provider key accepted")
            except AuthenticationFailed:
                report(
                    False,
                    "provider key",
                    "the provider refused SORA_API_KEY (401): "
                    "create a new key in the provider's dashboard",
                )
            except ProviderError as exc:
                report(
                    False,
                    "provider reachable",
                    f"{outcome_texts.api_error(exc)} Check SORA_API_BASE and the network.",
                )
    if settings.discord_token is None:
        print(
            "[note] DISCORD_TOKEN is not set: needed by bot.py, not by this command line", file=out
        )
    else:
        report(True, "Discord token set")
    print("all good" if not problems else f"{problems} problem(s) found", file=out)
    return EXIT_OK if not problems else EXIT_CONFIG


def backup(settings: Settings, dest: Path, out: TextIO) -> int:
    """Copy the database to ``dest`` (safe while the bot runs); returns the exit code."""
    try:
        jobs = backup_database(settings.database_path, dest)
    except (BackupError, OSError) as exc:
        print(f"backup failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"backed up {settings.database_path} to {dest} ({jobs} jobs)", file=out)
    return EXIT_OK
