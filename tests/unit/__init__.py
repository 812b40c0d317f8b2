"""Unit tests: pure functions and tmp files only (no core, no sockets)."""
