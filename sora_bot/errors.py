"""Errors every layer shares: the base of the family, bad input, configuration.

The provider's own errors (API statuses, downloads) are in ``sora_bot.provider.errors``.
"""

from __future__ import annotations


class SoraBotError(Exception):
    """Base of every error the core raises on purpose."""


class ConfigError(SoraBotError):
    """A setting is missing or invalid; the text names the setting."""


class InvalidInput(SoraBotError):
    """User input refused before anything is spent; the text is shown to the user as is."""
