"""Fault-injection suites: the doubles misbehave, every job still ends with a clear account."""
