"""The settings declaration: complete, loaded as declared, and documented by ``.env.example``."""

from __future__ import annotations

import re
from dataclasses import MISSING
from pathlib import Path

import pytest
from dotenv import dotenv_values

from sora_bot.errors import ConfigError
from sora_bot.settings import Settings, declarations, load_settings
from tests.doubles import ROOT

EXAMPLE = ROOT / ".env.example"
# `NAME=value` or a commented-out `# NAME=value`; prose comments never start with `NAME=`.
ASSIGNMENT = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def example_names() -> tuple[dict[str, str], set[str]]:
    """The active assignments of .env.example (read as the bot reads a .env), and the
    names only shown commented out."""
    active: set[str] = set()
    commented: set[str] = set()
    for line in EXAMPLE.read_text().splitlines():
        if match := ASSIGNMENT.match(line.strip()):
            (commented if match[1] else active).add(match[2])
    values = {k: v or "" for k, v in dotenv_values(EXAMPLE).items()}
    assert set(values) == active  # the pattern above finds what python-dotenv reads
    return values, commented - active


def declared_env() -> dict[str, str]:
    """Environment variable → Settings attribute, for every declared setting."""
    return {declared.env: f.name for f, declared in declarations()}


def test_every_field_is_declared_once_with_a_default() -> None:
    pairs = list(declarations())
    assert len(pairs) == len(Settings.__dataclass_fields__)
    names = [declared.env for _f, declared in pairs]
    assert len(names) == len(set(names)), "one variable declared for two settings"
    assert all(f.default is not MISSING for f, _d in pairs)
    # The declared defaults are what an empty environment loads.
    assert load_settings({}) == Settings()


def test_env_example_names_exactly_the_declared_settings() -> None:
    values, commented = example_names()
    shown = set(values) | commented
    declared = set(declared_env())
    # No exceptions are needed: the variables only test harnesses read (CRASH_TRIALS, ...)
    # are not in .env.example, so every name it shows must be a setting.
    assert not declared - shown, f"declared but missing from .env.example: {declared - shown}"
    assert not shown - declared, f"in .env.example but not a setting: {shown - declared}"


def test_env_example_shows_the_declared_defaults() -> None:
    """Each value .env.example gives is the default (its convention: copying it changes
    nothing, and empty means unset), so the file cannot drift from the declaration."""
    values, _commented = example_names()
    defaults = load_settings({})
    attribute = declared_env()
    wrong: dict[str, tuple[str, object]] = {}
    for name, raw in values.items():
        if name not in attribute:
            continue  # an undeclared name fails the test above
        default = getattr(defaults, attribute[name])
        if getattr(load_settings({name: raw}), attribute[name]) != default:
            wrong[name] = (raw, default)
    assert not wrong, f".env.example shows (value, declared default): {wrong}"
    assert load_settings(values) == defaults


def test_commented_example_values_are_valid() -> None:
    # A commented-out line may show an example rather than the default, but a valid one.
    _values, commented = example_names()
    for line in EXAMPLE.read_text().splitlines():
        match = ASSIGNMENT.match(line.strip())
        if match and match[2] in commented:
            load_settings({match[2]: match[3].strip()})


def test_dependent_default_and_check() -> None:
    assert load_settings({"SORA_POLL_INTERVAL": "90"}).max_poll_interval == 90.0
    assert load_settings({"SORA_POLL_INTERVAL": "2"}).max_poll_interval == 60.0
    assert (
        load_settings({"SORA_POLL_INTERVAL": "2", "SORA_MAX_POLL_INTERVAL": "2"}).max_poll_interval
        == 2.0
    )
    with pytest.raises(ConfigError, match="SORA_MAX_POLL_INTERVAL"):
        load_settings({"SORA_POLL_INTERVAL": "10", "SORA_MAX_POLL_INTERVAL": "9"})


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SORA_POLL_INTERVAL", "often", "expected a number greater than 0"),
        ("SORA_MAX_POLL_INTERVAL", "1", "expected a number at least SORA_POLL_INTERVAL"),
        ("SORA_MAX_DOWNLOAD_MB", "0", "expected a whole number of at least 1"),
        ("SORA_DAILY_CREDITS", "1.5", "expected a whole number of at least 0"),
        (
            "SORA_GUILD_DAILY_BUDGET",
            "-1",
            "expected a whole number of at least 0 (0 means no budget)",
        ),
        ("SORA_MAX_DISK_MB", "-1", "expected a whole number of MiB (0: no bound)"),
        ("SORA_VIDEO_RETENTION_DAYS", "-1", "expected days (0: keep forever)"),
        ("LOG_LEVEL", "LOUD", "expected one of DEBUG, INFO, WARNING, ERROR"),
        ("DISCORD_DEV_GUILD_ID", "0", "expected a guild id (a positive whole number)"),
        ("SORA_API_BASE", "ftp://x", "expected a URL starting with https:// or http://"),
        ("DISCORD_GATEWAY_URL", "http://x", "expected a URL starting with wss:// or ws://"),
        ("SORA_CALLBACK_URL", "http://x", "expected a URL starting with https://"),
        ("SORA_SIMULATE", "maybe", "expected 1 or 0"),
        ("SORA_HEALTH_LISTEN", "8085", "expected host:port, e.g. 127.0.0.1:8085"),
        (
            "SORA_SIMULATE_MODERATION",
            "(",
            "not a regular expression (missing ), unterminated subpattern at position 0)",
        ),
    ],
)
def test_error_messages(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({name: value})
    assert str(caught.value) == f"{name} is invalid: {message}"


def test_values_are_read_per_kind() -> None:
    s = load_settings(
        {
            "SORA_API_KEY": " sk-one ",
            "DISCORD_TOKEN": "tok-two",
            "SORA_API_BASE": "http://local//",
            "LOG_LEVEL": "debug",
            "SORA_SIMULATE": "Yes",
            "SORA_HEALTH_LISTEN": "[::1]:9108",
            "DISCORD_DEV_GUILD_ID": "42",
            "DATABASE_PATH": "x/y.db",
        }
    )
    assert (s.api_key, s.api_base, s.log_level, s.simulate) == (
        "sk-one",
        "http://local",
        "DEBUG",
        True,
    )
    assert (s.health_listen, s.discord_dev_guild_id) == (("::1", 9108), 42)
    assert s.database_path == Path("x/y.db") and s.secrets() == ("sk-one", "tok-two")
    assert "sk-one" not in repr(s) and "tok-two" not in repr(s)
