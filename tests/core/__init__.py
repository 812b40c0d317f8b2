"""Core tests: the real core over a temp SQLite database and the provider double."""
