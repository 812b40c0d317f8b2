"""Settings from the environment (a ``.env`` file fills in what the environment lacks).

Each setting is declared once, as a field of ``Settings``: its environment variable, its
default and its kind (how the text is read, what is valid, and the rule an error message
states). ``load_settings`` only walks those declarations.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any, Generic, TypeVar

from dotenv import dotenv_values

from sora_bot.errors import ConfigError

DEFAULT_API_BASE = "https://ai.odkkk.com/apiv1"
DEFAULT_CALLBACK_LISTEN = ("127.0.0.1", 8085)
# Prompts the simulator refuses like the provider's content filter (case-insensitive).
DEFAULT_SIMULATE_MODERATION = r"\b(blocked|celebrity|gore|violence|nsfw)\b"
T = TypeVar("T")
_DECLARATION = "sora_bot.setting"  # the key of a field's metadata that holds its Declaration


def _anything(_value: object) -> bool:
    return True


@dataclass(frozen=True)
class Kind(Generic[T]):
    """How a setting's text becomes a value.

    ``parse`` gets the stripped, non-empty text and raises ValueError when it cannot read
    it; ``check`` then vets the value. Either failure is reported as "expected ``rule``",
    or, when ``rule`` is empty, with the parser's own ValueError text.
    """

    parse: Callable[[str], T]
    rule: str
    check: Callable[[T], bool] = _anything

    def explain(self, exc: ValueError) -> str:
        return f"expected {self.rule}" if self.rule else str(exc)


@dataclass(frozen=True)
class Declaration:
    """Where a Settings field comes from; its default is the field's own default."""

    env: str
    kind: Kind[Any]
    secret: bool = False  # kept out of repr, and redacted from logs by Settings.secrets()
    # Name of an earlier field this one may not be below; its default is raised to it too.
    at_least: str | None = None


def _setting(env: str, default: T, kind: Kind[T], *, at_least: str | None = None) -> T:
    declared = Declaration(env, kind, at_least=at_least)
    return field(default=default, metadata={_DECLARATION: declared})


def _optional(env: str, kind: Kind[T], *, secret: bool = False) -> T | None:
    """A setting that is None unless its variable is set."""
    declared = Declaration(env, kind, secret=secret)
    return field(default=None, repr=not secret, metadata={_DECLARATION: declared})


def _url(*schemes: str) -> Kind[str]:
    def parse(raw: str) -> str:
        if not raw.startswith(schemes):
            raise ValueError(raw)
        return raw.rstrip("/")

    return Kind(parse, f"a URL starting with {' or '.join(schemes)}")


def _flag(raw: str) -> bool:
    value = raw.lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(raw)


def _address(raw: str) -> tuple[str, int]:
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(raw)
    return host.strip("[]"), int(port)


def _regex(raw: str) -> str:
    try:
        re.compile(raw)
    except re.error as exc:
        raise ValueError(f"not a regular expression ({exc})") from None
    return raw


_TEXT = Kind(str, "text")
_PATH = Kind(Path, "a path")
_FLAG = Kind(_flag, "1 or 0")
_ADDRESS = Kind(_address, "host:port, e.g. 127.0.0.1:8085")
_REGEX = Kind(_regex, "")  # the parser names what is wrong with the pattern
_POSITIVE = Kind(float, "a number greater than 0", lambda v: v > 0)
_COUNT = Kind(int, "a whole number of at least 1", lambda v: v >= 1)
_WHOLE = Kind(int, "a whole number of at least 0", lambda v: v >= 0)
_HTTP_URL = _url("https://", "http://")


@dataclass(frozen=True)
class Settings:
    """Validated configuration; secrets are kept out of ``repr``."""

    api_key: str | None = _optional("SORA_API_KEY", _TEXT, secret=True)
    api_base: str = _setting("SORA_API_BASE", DEFAULT_API_BASE, _HTTP_URL)
    poll_interval: float = _setting("SORA_POLL_INTERVAL", 5.0, _POSITIVE)
    # Defaults to max(60, SORA_POLL_INTERVAL).
    max_poll_interval: float = _setting(
        "SORA_MAX_POLL_INTERVAL",
        60.0,
        Kind(float, "a number at least SORA_POLL_INTERVAL"),
        at_least="poll_interval",
    )
    job_timeout: float = _setting("SORA_JOB_TIMEOUT", 3600.0, _POSITIVE)
    # RUF009 cannot tell that _setting returns a dataclasses.Field (and Path is immutable).
    database_path: Path = _setting("DATABASE_PATH", Path("data/sora_bot.db"), _PATH)  # noqa: RUF009
    download_dir: Path = _setting("SORA_DOWNLOAD_DIR", Path("data/videos"), _PATH)  # noqa: RUF009
    max_download_mb: int = _setting("SORA_MAX_DOWNLOAD_MB", 500, _COUNT)
    daily_credits: int = _setting("SORA_DAILY_CREDITS", 30, _WHOLE)
    max_active_per_user: int = _setting("SORA_MAX_ACTIVE_PER_USER", 2, _COUNT)
    watermark_surcharge: int = _setting("SORA_WATERMARK_SURCHARGE", 5, _WHOLE)
    guild_daily_budget: int = _setting(
        "SORA_GUILD_DAILY_BUDGET",
        0,
        Kind(int, "a whole number of at least 0 (0 means no budget)", lambda v: v >= 0),
    )
    max_concurrent_requests: int = _setting("SORA_MAX_CONCURRENT_REQUESTS", 4, _COUNT)
    retry_backoff: float = _setting("SORA_RETRY_BACKOFF", 1.0, _POSITIVE)
    max_inflight_jobs: int = _setting("SORA_MAX_INFLIGHT_JOBS", 10, _COUNT)
    log_level: str = _setting(
        "LOG_LEVEL",
        "INFO",
        Kind(
            str.upper,
            "one of DEBUG, INFO, WARNING, ERROR",
            lambda v: v in {"DEBUG", "INFO", "WARNING", "ERROR"},
        ),
    )
    discord_token: str | None = _optional("DISCORD_TOKEN", _TEXT, secret=True)
    discord_api_base: str | None = _optional("DISCORD_API_BASE", _HTTP_URL)
    discord_gateway_url: str | None = _optional("DISCORD_GATEWAY_URL", _url("wss://", "ws://"))
    discord_dev_guild_id: int | None = _optional(
        "DISCORD_DEV_GUILD_ID", Kind(int, "a guild id (a positive whole number)", lambda v: v > 0)
    )
    status_edit_interval: float = _setting("DISCORD_STATUS_EDIT_INTERVAL", 6.0, _POSITIVE)
    simulate: bool = _setting("SORA_SIMULATE", False, _FLAG)
    simulate_speed: float = _setting("SORA_SIMULATE_SPEED", 1.0, _POSITIVE)
    simulate_moderation: str = _setting(
        "SORA_SIMULATE_MODERATION", DEFAULT_SIMULATE_MODERATION, _REGEX
    )
    callback_url: str | None = _optional("SORA_CALLBACK_URL", _url("https://"))
    callback_listen: tuple[str, int] = _setting(
        "SORA_CALLBACK_LISTEN", DEFAULT_CALLBACK_LISTEN, _ADDRESS
    )
    callback_poll_interval: float = _setting("SORA_CALLBACK_POLL_INTERVAL", 120.0, _POSITIVE)
    health_listen: tuple[str, int] | None = _optional("SORA_HEALTH_LISTEN", _ADDRESS)
    video_retention_days: float = _setting(
        "SORA_VIDEO_RETENTION_DAYS", 30.0, Kind(float, "days (0: keep forever)", lambda v: v >= 0)
    )
    max_disk_mb: int = _setting(
        "SORA_MAX_DISK_MB", 0, Kind(int, "a whole number of MiB (0: no bound)", lambda v: v >= 0)
    )
    log_prompts: bool = _setting("SORA_LOG_PROMPTS", False, _FLAG)

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
        values = (getattr(self, f.name) for f, declared in declarations() if declared.secret)
        return tuple(s for s in values if s)


def declarations() -> Iterator[tuple[Field[Any], Declaration]]:
    """Each Settings field with its declaration, in the order the fields are declared."""
    for f in fields(Settings):
        yield f, f.metadata[_DECLARATION]


def load_environment(env_file: str | os.PathLike[str] | None = ".env") -> dict[str, str]:
    """The process environment over the values of ``env_file`` (the environment wins)."""
    merged: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ)
    return merged


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build Settings, failing with a ConfigError that names the first invalid setting.

    Settings are read in declaration order, so one declared ``at_least`` another sees the
    value already read for it.
    """
    env = load_environment() if env is None else env
    values: dict[str, Any] = {}
    for f, declared in declarations():
        values[f.name] = _read(env, declared, f.default, values)
    return Settings(**values)


def _read(env: Mapping[str, str], declared: Declaration, default: Any, read: dict[str, Any]) -> Any:
    """One setting's value: its default when the variable is empty or unset."""
    floor = read[declared.at_least] if declared.at_least else None
    if floor is not None:
        default = max(default, floor)
    raw = env.get(declared.env, "").strip()
    if not raw:
        return default
    kind = declared.kind
    try:
        value = kind.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{declared.env} is invalid: {kind.explain(exc)}") from None
    if not kind.check(value) or (floor is not None and not value >= floor):
        raise ConfigError(f"{declared.env} is invalid: expected {kind.rule}")
    return value
