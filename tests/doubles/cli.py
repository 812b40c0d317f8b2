"""Runs ``python -m sora_bot`` as a user runs it: a real process, in a temp folder."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from .settings import ROOT


async def run_cli(tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    """Run the command line in tmp_path (so no .env is read); returns (exit code, stderr+out)."""
    full_env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "SORA_POLL_INTERVAL": "0.05",
        "SORA_MAX_POLL_INTERVAL": "0.2",
        "SORA_RETRY_BACKOFF": "0.01",
        "DATABASE_PATH": str(tmp_path / "bot.db"),
        **env,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sora_bot",
        *args,
        cwd=tmp_path,
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()
