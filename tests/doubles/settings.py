"""Settings for tests (files under a temp folder, fast polling) and where the repository is."""

from __future__ import annotations

from pathlib import Path

from sora_bot.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def make_settings(tmp_path: Path, **env: str) -> Settings:
    """Settings for a test: files under tmp_path, fast polling."""
    base = {
        "SORA_API_KEY": "test-key",
        "DATABASE_PATH": str(tmp_path / "bot.db"),
        "SORA_DOWNLOAD_DIR": str(tmp_path / "videos"),
        "SORA_POLL_INTERVAL": "0.05",
        "SORA_MAX_POLL_INTERVAL": "0.2",
        "SORA_RETRY_BACKOFF": "0.01",
    }
    base.update(env)
    return load_settings(base)
