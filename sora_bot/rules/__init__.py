"""Rules: credits and their reservation, guild policy, blocked terms, validation, usage reports."""
