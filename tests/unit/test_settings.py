from __future__ import annotations

from pathlib import Path

import pytest

from sora_bot.errors import ConfigError
from sora_bot.settings import DEFAULT_API_BASE, load_environment, load_settings
from tests.doubles import ROOT


def test_defaults() -> None:
    s = load_settings({})
    assert s.api_base == DEFAULT_API_BASE
    assert s.database_path == Path("data/sora_bot.db")
    assert s.poll_interval > 0 and s.job_timeout > s.poll_interval
    assert s.api_key is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SORA_POLL_INTERVAL", "0"),
        ("SORA_POLL_INTERVAL", "often"),
        ("SORA_JOB_TIMEOUT", "-5"),
        ("SORA_DAILY_CREDITS", "1.5"),
        ("SORA_MAX_ACTIVE_PER_USER", "0"),
        ("SORA_API_BASE", "ftp://example"),
        ("DISCORD_GATEWAY_URL", "http://example"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_invalid_values_name_the_setting(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


def test_missing_key_is_named() -> None:
    with pytest.raises(ConfigError, match="SORA_API_KEY"):
        load_settings({}).require_api_key()
    with pytest.raises(ConfigError, match="DISCORD_TOKEN"):
        load_settings({}).require_discord_token()


def test_secrets_not_in_repr() -> None:
    s = load_settings({"SORA_API_KEY": "sk-very-secret", "DISCORD_TOKEN": "tok-secret"})
    assert "sk-very-secret" not in repr(s) and "tok-secret" not in repr(s)


def test_environment_wins_over_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SORA_DAILY_CREDITS=99\nSORA_JOB_TIMEOUT=77\n")
    monkeypatch.setenv("SORA_DAILY_CREDITS", "12")
    s = load_settings(load_environment(env_file))
    assert s.daily_credits == 12
    assert s.job_timeout == 77


def test_env_example_documents_every_setting_and_loads() -> None:
    import re

    from dotenv import dotenv_values

    example = ROOT / ".env.example"
    values = {k: v or "" for k, v in dotenv_values(example).items()}
    load_settings(values)  # the example itself is a valid configuration
    source = (ROOT / "sora_bot" / "settings.py").read_text()
    used = set(re.findall(r'"((?:SORA|DISCORD|DATABASE|LOG)_[A-Z_]+)"', source))
    assert used and used <= set(values), used - set(values)
