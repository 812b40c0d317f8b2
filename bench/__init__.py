"""Measurements of the bot (scripts that print numbers; not part of the test suite)."""
