"""Settings from the environment (a ``.env`` file fills in what the environment lacks)."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from dotenv import dotenv_values

from sora_bot.errors import ConfigError

DEFAULT_API_BASE = "https://ai.odkkk.com/apiv1"
DEFAULT_CALLBACK_LISTEN = ("127.0.0.1", 8085)
# Prompts the simulator refuses like the provider's content filter (case-insensitive).
DEFAULT_SIMULATE_MODERATION = r"\b(blocked|celebrity|gore|violence|nsfw)\b"
T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """Validated configuration; secrets are kept out of ``repr``."""

    api_key: str | None = field(default=None, repr=False)
    api_base: str = DEFAULT_API_BASE
    poll_interval: float = 5.0
    max_poll_interval: float = 60.0
    job_timeout: float = 3600.0
    database_path: Path = Path("data/sora_bot.db")
    download_dir: Path = Path("data/videos")
    max_download_mb: int = 500
    daily_credits: int = 30
    max_active_per_user: int = 2
    watermark_surcharge: int = 5
    guild_daily_budget: int = 0  # 0: no guild budget
    max_concurrent_requests: int = 4
    retry_backoff: float = 1.0
    max_inflight_jobs: int = 10
    log_level: str = "INFO"
    discord_token: str | None = field(default=None, repr=False)
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    discord_dev_guild_id: int | None = None
    status_edit_interval: float = 6.0
    simulate: bool = False
    simulate_speed: float = 1.0
    simulate_moderation: str = DEFAULT_SIMULATE_MODERATION
    callback_url: str | None = None
    callback_listen: tuple[str, int] = DEFAULT_CALLBACK_LISTEN
    callback_poll_interval: float = 120.0
    health_listen: tuple[str, int] | None = None
    video_retention_days: float = 30.0
    max_disk_mb: int = 0  # 0: no bound
    log_prompts: bool = False

    def require_api_key(self) -> str:
        """The provider key, or a ConfigError naming the missing setting."""
        if not self.api_key:
            raise ConfigError("SORA_API_KEY is not set: put your provider key in .env")
        return self.api_key

    def require_discord_token(self) -> str:
        """The bot token, or a ConfigError naming the missing setting."""
        if not self.discord_token:
            raise ConfigError("DISCORD_TOKEN is not set: put your bot token in .env")
        return self.discord_token

    @property
    def max_download_bytes(self) -> int:
        return self.max_download_mb * 1024 * 1024

    @property
    def needs_api_key(self) -> bool:
        """False in simulation mode, where no provider is called."""
        return not self.simulate

    def secrets(self) -> tuple[str, ...]:
        """The configured secrets, for log redaction."""
        return tuple(s for s in (self.api_key, self.discord_token) if s)


def _parse(
    env: Mapping[str, str],
    name: str,
    convert: Callable[[str], T],
    default: T,
    check: Callable[[T], bool] = lambda _v: True,
    rule: str = "",
) -> T:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = convert(raw)
    except ValueError:
        raise ConfigError(f"{name} is invalid: expected {rule or convert.__name__}") from None
    if not check(value):
        raise ConfigError(f"{name} is invalid: expected {rule}")
    return value


def _optional(env: Mapping[str, str], name: str) -> str | None:
    return env.get(name, "").strip() or None


def _url(
    env: Mapping[str, str], name: str, default: str | None, schemes: tuple[str, ...]
) -> str | None:
    value = _optional(env, name) or default
    if value is not None and not value.startswith(schemes):
        raise ConfigError(f"{name} is invalid: expected a URL starting with {' or '.join(schemes)}")
    return value.rstrip("/") if value else None


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} is invalid: expected 1 or 0")


def _address(env: Mapping[str, str], name: str) -> tuple[str, int] | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(f"{name} is invalid: expected host:port, e.g. 127.0.0.1:8085")
    return host.strip("[]"), int(port)


def _regex(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name, "").strip() or default
    try:
        re.compile(raw)
    except re.error as exc:
        raise ConfigError(f"{name} is invalid: not a regular expression ({exc})") from None
    return raw


def load_environment(env_file: str | os.PathLike[str] | None = ".env") -> dict[str, str]:
    """The process environment over the values of ``env_file`` (the environment wins)."""
    merged: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ)
    return merged


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings, failing with a ConfigError that names the first invalid setting."""
    env = load_environment() if env is None else env
    positive = "a number greater than 0"
    count = "a whole number of at least 1"
    api_base = _url(env, "SORA_API_BASE", DEFAULT_API_BASE, ("https://", "http://"))
    assert api_base is not None
    poll = _parse(env, "SORA_POLL_INTERVAL", float, 5.0, lambda v: v > 0, positive)
    level = _parse(
        env,
        "LOG_LEVEL",
        str.upper,
        "INFO",
        lambda v: v in {"DEBUG", "INFO", "WARNING", "ERROR"},
        "one of DEBUG, INFO, WARNING, ERROR",
    )
    return Settings(
        api_key=_optional(env, "SORA_API_KEY"),
        api_base=api_base,
        poll_interval=poll,
        max_poll_interval=_parse(
            env,
            "SORA_MAX_POLL_INTERVAL",
            float,
            max(60.0, poll),
            lambda v: v >= poll,
            "a number at least SORA_POLL_INTERVAL",
        ),
        job_timeout=_parse(env, "SORA_JOB_TIMEOUT", float, 3600.0, lambda v: v > 0, positive),
        database_path=Path(env.get("DATABASE_PATH", "").strip() or "data/sora_bot.db"),
        download_dir=Path(env.get("SORA_DOWNLOAD_DIR", "").strip() or "data/videos"),
        max_download_mb=_parse(env, "SORA_MAX_DOWNLOAD_MB", int, 500, lambda v: v >= 1, count),
        daily_credits=_parse(
            env, "SORA_DAILY_CREDITS", int, 30, lambda v: v >= 0, "a whole number of at least 0"
        ),
        max_active_per_user=_parse(
            env, "SORA_MAX_ACTIVE_PER_USER", int, 2, lambda v: v >= 1, count
        ),
        watermark_surcharge=_parse(
            env,
            "SORA_WATERMARK_SURCHARGE",
            int,
            5,
            lambda v: v >= 0,
            "a whole number of at least 0",
        ),
        guild_daily_budget=_parse(
            env,
            "SORA_GUILD_DAILY_BUDGET",
            int,
            0,
            lambda v: v >= 0,
            "a whole number of at least 0 (0 means no budget)",
        ),
        max_concurrent_requests=_parse(
            env, "SORA_MAX_CONCURRENT_REQUESTS", int, 4, lambda v: v >= 1, count
        ),
        retry_backoff=_parse(env, "SORA_RETRY_BACKOFF", float, 1.0, lambda v: v > 0, positive),
        max_inflight_jobs=_parse(env, "SORA_MAX_INFLIGHT_JOBS", int, 10, lambda v: v >= 1, count),
        log_level=level,
        discord_token=_optional(env, "DISCORD_TOKEN"),
        discord_api_base=_url(env, "DISCORD_API_BASE", None, ("https://", "http://")),
        discord_gateway_url=_url(env, "DISCORD_GATEWAY_URL", None, ("wss://", "ws://")),
        status_edit_interval=_parse(
            env, "DISCORD_STATUS_EDIT_INTERVAL", float, 6.0, lambda v: v > 0, positive
        ),
        discord_dev_guild_id=_parse(
            env,
            "DISCORD_DEV_GUILD_ID",
            int,
            None,
            lambda v: v is not None and v > 0,
            "a guild id (a positive whole number)",
        ),
        simulate=_flag(env, "SORA_SIMULATE"),
        simulate_speed=_parse(env, "SORA_SIMULATE_SPEED", float, 1.0, lambda v: v > 0, positive),
        simulate_moderation=_regex(env, "SORA_SIMULATE_MODERATION", DEFAULT_SIMULATE_MODERATION),
        callback_url=_url(env, "SORA_CALLBACK_URL", None, ("https://",)),
        callback_listen=_address(env, "SORA_CALLBACK_LISTEN") or DEFAULT_CALLBACK_LISTEN,
        callback_poll_interval=_parse(
            env, "SORA_CALLBACK_POLL_INTERVAL", float, 120.0, lambda v: v > 0, positive
        ),
        health_listen=_address(env, "SORA_HEALTH_LISTEN"),
        video_retention_days=_parse(
            env,
            "SORA_VIDEO_RETENTION_DAYS",
            float,
            30.0,
            lambda v: v >= 0,
            "days (0: keep forever)",
        ),
        max_disk_mb=_parse(
            env, "SORA_MAX_DISK_MB", int, 0, lambda v: v >= 0, "a whole number of MiB (0: no bound)"
        ),
        log_prompts=_flag(env, "SORA_LOG_PROMPTS"),
    )
