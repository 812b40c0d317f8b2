"""Property tests (hypothesis): bad input never crashes anything nor gets past the checks."""
