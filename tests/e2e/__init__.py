"""End-to-end tests: the real bot (in process or as a process) against the Discord double."""
